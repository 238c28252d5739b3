"""The page figures: queries per page, throughput and latency under load, and re-evaluation latency.

- queries: each dashboard page fetched in this process with Django's test
  client, signed in as an employee of a 10-employee and of a 2,000-employee
  organization (`generate`: organizations 1 and 0); the count must be the
  same for both, and at most 15.
- load: gunicorn (`benchmarks.settings`: production's settings) serves the
  pages; wrk, a second process on loopback, requests each for a few seconds
  with a signed-in session; requests per second, p50 and p95 latency,
  beside `/bench/trivial/` in the same server.
- phases: the same pages in this process, each request split into the time
  PostgreSQL answered its queries, the time its templates rendered (the
  queries they make excluded) and the rest (middleware, session, the view's
  Python: the evaluation where the page evaluates live), beside the trivial
  view in the same process: what a page may cost at the target's ratio,
  and which phase alone already costs more.
- re-association: an employee whose departure lowers a level moves to an
  organization where their credentials raise one (`association_start`,
  as the associate page does); timed until both organizations' competency
  pages, fetched from gunicorn, show the change in their history, written
  by a real Celery worker through the broker (the on-commit task path).
  The moves are undone afterwards.
"""

from __future__ import annotations

import datetime
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from competencies.associations import association_start
from competencies.engine import evaluate
from competencies.models import Association, Competency, Employee, Level, Organization, StatusChange
from competencies.statuses import statuses_refresh

from . import generate, processes

QUERY_BUDGET = 15
THROUGHPUT_TARGET = 0.2  # a page's throughput at least this share of the trivial view's (issue 17)
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, '
    .. '"errors": %d, "non_2xx": %d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass
class Viewer:
    """A signed-in employee of one organization, in this process and as a cookie for the server."""

    label: str
    organization: Organization
    employee: Employee
    client: Client

    @property
    def cookie(self) -> str:
        return f"sessionid={self.client.cookies['sessionid'].value}"


def member_of(organization: Organization, *, day: datetime.date, exclude: set[int] = frozenset()) -> Employee:
    """An employee whose open association with the organization covers `day`."""
    association = (
        Association.objects.filter(organization=organization, ends_on__isnull=True, starts_on__lte=day)
        .exclude(employee_id__in=exclude)
        .select_related("employee")
        .order_by("pk")
        .first()
    )
    if association is None:
        raise RuntimeError(f"{organization} has no current member to sign in as")
    return association.employee


def viewer(label: str, organization: Organization, *, day: datetime.date, exclude=frozenset()) -> Viewer:
    employee = member_of(organization, day=day, exclude=exclude)
    client = Client(HTTP_HOST=processes.HOST)
    client.force_login(employee)
    return Viewer(label, organization, employee, client)


def pages(slug: str) -> dict[str, str]:
    return {
        "dashboard": reverse("dashboard:home"),
        "competencies": reverse("dashboard:competencies"),
        "competency": reverse("dashboard:competency", args=[slug]),
    }


def count_queries(v: Viewer, url: str) -> int:
    v.client.get(url)  # once to warm what a first request loads (translations, templates)
    with CaptureQueriesContext(connection) as queries:
        response = v.client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} as {v.employee.email}: HTTP {response.status_code}")
    return len(queries)


def wrk(url: str, *, cookie: str | None, seconds: int, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script.name]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    completed = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60)
    Path(script.name).unlink()
    for line in completed.stdout.splitlines():
        if line.startswith("WRK-RESULT "):
            figures = json.loads(line.split(" ", 1)[1])
            figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
            return figures
    raise RuntimeError(f"wrk failed: {completed.stdout}{completed.stderr}")


def fetch(url: str, cookie: str) -> str:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200 or response.url != url:
            raise RuntimeError(f"{url}: HTTP {response.status} ({response.url})")
        return response.read().decode()


# ---------------------------------------------------------------------------


def _showcase_competency(organization: Organization, day: datetime.date) -> Competency:
    """The competency the large organization holds at the highest level: its page has the most to show."""
    results = evaluate(organization_ids=[organization.pk], day=day)
    best = max(results.values(), key=lambda r: ({"gold": 2, "silver": 1}.get(r.effective_level, 0), -r.competency_id))
    return Competency.objects.get(pk=best.competency_id)


def query_counts(viewers: list[Viewer], urls: dict[str, str], out=print) -> dict:
    counts = {name: [count_queries(v, url) for v in viewers] for name, url in urls.items()}
    out(f"  queries per page ({', '.join(v.label for v in viewers)}), budget {QUERY_BUDGET}:")
    for name, row in counts.items():
        verdict = "same" if len(set(row)) == 1 else "DIFFERENT"
        over = "" if max(row) <= QUERY_BUDGET else f", {max(row) - QUERY_BUDGET} over budget"
        out(f"    {name:<14} {' / '.join(map(str, row))}  ({verdict}{over})")
    return counts


def load(base: str, viewers: list[Viewer], urls: dict[str, str], *, seconds: int, connections: int, out=print):
    out(f"  under load: wrk, 1 thread, {connections} connections, {seconds} s per page, against gunicorn")
    floor = wrk(f"{base}/bench/trivial/", cookie=viewers[0].cookie, seconds=seconds, connections=connections)

    def line(label, figures, ratio=True):
        r = f"  {figures["rps"] / floor["rps"]:6.3f}× trivial" if ratio else " " * 15
        errors = figures["errors"] + figures["non_2xx"]
        out(f"    {label:<36} {figures['rps']:8,.0f} req/s  p50 {figures['p50_us'] / 1000:7.1f} ms"
            f"  p95 {figures['p95_us'] / 1000:7.1f} ms{r}" + (f"  ({errors} errors)" if errors else ""))

    line("trivial view (/bench/trivial/)", floor, ratio=False)
    results = {"trivial": floor}
    for v in viewers:
        for name, url in urls.items():
            fetch(base + url, v.cookie)  # signed in and served: not a redirect to the sign-in page
            figures = wrk(base + url, cookie=v.cookie, seconds=seconds, connections=connections)
            results[(v.label, name)] = figures
            line(f"{name}, {v.label}", figures)
    worst = min(f["rps"] for k, f in results.items() if k != "trivial")
    out(f"  slowest page: {worst / floor["rps"]:.3f}× the trivial view's throughput (target: at least {THROUGHPUT_TARGET}×)")
    return results


# ---------------------------------------------------------------------------
# Phases of a request


class _PhaseTimer:
    """Seconds in SQL (every statement, round trip included) and in template rendering (the top template
    of each response, its includes inside it), the SQL run while rendering counted once, as SQL."""

    def __init__(self):
        self.sql = self.rendering = self.sql_in_rendering = 0.0
        self._rendering = False

    def execute(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - started
            self.sql += spent
            if self._rendering:
                self.sql_in_rendering += spent

    def wrap_render(self, render):
        def timed(template, *args, **kwargs):
            started, self._rendering = time.perf_counter(), True
            try:
                return render(template, *args, **kwargs)
            finally:
                self._rendering = False
                self.rendering += time.perf_counter() - started
        return timed


def page_phases(v: Viewer, urls: dict[str, str], *, requests: int = 30, out=print) -> dict:
    """Each page's milliseconds a request in this process, split into SQL, rendering and the rest."""
    from unittest import mock

    from django.template.backends.django import Template
    from django.test import override_settings

    out(f"  phases of a request in this process ({v.label}; ms a request, best of 3 runs of {requests}):")
    figures = {}
    for name, url in {"trivial": "/bench/trivial/", **urls}.items():
        runs = []
        for _ in range(3):
            timer = _PhaseTimer()
            with (override_settings(ROOT_URLCONF="benchmarks.urls"), connection.execute_wrapper(timer.execute),
                  mock.patch.object(Template, "render", timer.wrap_render(Template.render))):
                v.client.get(url)  # warm: the URL map, templates and translations loaded once
                timer.__init__()
                started = time.perf_counter()
                for _ in range(requests):
                    v.client.get(url)
                total = time.perf_counter() - started
            rendering = timer.rendering - timer.sql_in_rendering
            runs.append({"total": total, "sql": timer.sql, "rendering": rendering,
                         "rest": total - timer.sql - rendering})
        best = {k: 1000 * value / requests for k, value in min(runs, key=lambda r: r["total"]).items()}
        figures[name] = best
    budget = figures["trivial"]["total"] / THROUGHPUT_TARGET
    out(f"    at {THROUGHPUT_TARGET}× the trivial view ({figures['trivial']['total']:.2f} ms), a page may cost "
        f"{budget:.1f} ms here")
    for name, f in figures.items():
        over = ", ".join(p for p in ("sql", "rendering", "rest") if f[p] > budget)
        out(f"    {name:<14} {f['total']:7.2f} ms: SQL {f['sql']:6.2f}, rendering {f['rendering']:6.2f}, "
            f"rest {f['rest']:6.2f}" + (f"  (alone over the budget: {over})" if over else ""))
    return {"budget_ms": budget, "pages": figures}


# ---------------------------------------------------------------------------
# Re-association


class _Rollback(Exception):
    pass


def _level_rank(level: str) -> int:
    return {Level.GOLD: 2, Level.SILVER: 1}.get(level, 0)


def _find_move(day: datetime.date, *, skip: set[int], tries: int = 3000):
    """(employee, source, source competency, target, target competency): a key person of the source whose
    move raises a level of the target. Tried inside transactions that roll back (no task is queued)."""
    for source_id in Organization.objects.exclude(pk__in=skip).order_by("pk").values_list("pk", flat=True)[:400]:
        results = evaluate(organization_ids=[source_id], day=day, details=True)
        for result in results.values():
            if result.effective_level != result.evaluated_level or not result.key_people:
                continue
            for person in result.key_people:
                employee = Employee.objects.get(pk=person.employee_id)
                current = Association.objects.filter(employee=employee, ends_on__isnull=True).first()
                if current is None or current.organization_id != source_id or current.starts_on > day:
                    continue
                before = {}
                targets = (
                    Organization.objects.exclude(pk__in={*skip, source_id}).order_by("pk")
                    .values_list("pk", flat=True)[: max(1, tries)]
                )
                for target_id in targets:
                    tries -= 1
                    if tries <= 0:
                        return None
                    before = evaluate(organization_ids=[target_id], day=day)
                    try:
                        with transaction.atomic():
                            association_start(employee=employee, organization=Organization.objects.get(pk=target_id),
                                              on=day)
                            after = evaluate(organization_ids=[target_id], day=day)
                            raise _Rollback(after)
                    except _Rollback as rolled_back:
                        after = rolled_back.args[0]
                    raised = [k for k, r in after.items() if _level_rank(r.effective_level)
                              > _level_rank(before[k].effective_level)]
                    if raised:
                        return (employee, Organization.objects.get(pk=source_id), result.competency_id,
                                Organization.objects.get(pk=target_id), raised[0][1])
    return None


def reassociation(base: str, *, day: datetime.date, skip: set[int], moves: int = 4, out=print) -> dict | None:
    from partnercenter.tasks import reevaluate_organizations

    found = _find_move(day, skip=skip)
    if found is None:
        out("  re-association: no employee found whose move changes two organizations' levels")
        return None
    employee, source, source_competency, target, target_competency = found
    first_association = Association.objects.get(employee=employee, ends_on__isnull=True)
    viewers = {
        "source": viewer("source", source, day=day, exclude={employee.pk}),
        "target": viewer("target", target, day=day),
    }
    urls = {
        "source": base + reverse("dashboard:competency", args=[Competency.objects.get(pk=source_competency).slug]),
        "target": base + reverse("dashboard:competency", args=[Competency.objects.get(pk=target_competency).slug]),
    }
    marker = f"{employee.display_name} associated"
    # Statuses as of today first, so the move's re-evaluation records the move and nothing older; the
    # worker's first task also pays its own warm-up (imports, connection) here, not in the figure.
    statuses_refresh(organization_ids=[source.pk, target.pk], day=day)
    reevaluate_organizations.delay([source.pk, target.pk], day.isoformat())
    _wait_idle()
    out(f"  re-association: {employee.display_name} moves between {source.name} and {target.name} "
        f"and back ({moves} moves), each timed until both competency pages show it")
    timings = []
    try:
        for move in range(moves):
            counts = {k: fetch(urls[k], viewers[k].cookie).count(marker) for k in urls}
            to = target if move % 2 == 0 else source
            started = time.perf_counter()
            with transaction.atomic():
                association_start(employee=Employee.objects.get(pk=employee.pk), organization=to, on=day)
            committed = time.perf_counter()
            seen = {}
            while len(seen) < 2:
                for k in urls:
                    if k not in seen and fetch(urls[k], viewers[k].cookie).count(marker) > counts[k]:
                        seen[k] = time.perf_counter()
                if time.perf_counter() - started > 60:
                    raise RuntimeError("the move did not show within 60 s: is the worker running?")
            timings.append({"commit": committed - started, "source": seen["source"] - started,
                            "target": seen["target"] - started, "both": max(seen.values()) - started})
    finally:
        # Undo: the benchmark's data set stays as it was loaded.
        Association.objects.filter(employee=employee, starts_on=day).exclude(pk=first_association.pk).delete()
        Association.objects.filter(pk=first_association.pk).update(ends_on=None)
        StatusChange.objects.filter(organization__in=[source, target], day=day).delete()
    for i, t in enumerate(timings, 1):
        out(f"    move {i}: committed in {t['commit'] * 1000:6.1f} ms; pages show it: {source.name} "
            f"{t['source'] * 1000:6.1f} ms, {target.name} {t['target'] * 1000:6.1f} ms")
    both = [t["both"] for t in timings]
    out(f"  until both pages show the move: median {statistics.median(both) * 1000:.0f} ms, "
        f"worst {max(both) * 1000:.0f} ms (target: under 1 s)")
    return {"timings": timings}


def _wait_idle(timeout: float = 60) -> None:
    from partnercenter.celery import app

    deadline = time.monotonic() + timeout
    while not processes.broker_idle(app, workers=1):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker is still busy after a minute")
        time.sleep(0.1)


def run(*, log_dir: Path, seconds: int = 8, connections: int = 4, out=print) -> dict:
    today = timezone.localdate()
    large = Organization.objects.get(mpn_id=generate.mpn_id(0))
    small = Organization.objects.get(mpn_id=generate.mpn_id(1))
    viewers = [
        viewer(f"{members_on(small, today)} employees", small, day=today),
        viewer(f"{members_on(large, today)} employees", large, day=today),
    ]
    competency = _showcase_competency(large, today)
    urls = pages(competency.slug)
    # As after the night: the two organizations' statuses stored as of today, so the pages that can read
    # them do (`selectors.current_levels`); the others evaluate live whatever is stored.
    # A part run before may have stored them as of a later day (the nights take the days after the latest
    # evaluation): those would be kept, and the pages would evaluate live.
    Organization.objects.filter(pk__in=[small.pk, large.pk], statuses_as_of__gt=today).update(statuses_as_of=None)
    statuses_refresh(organization_ids=[small.pk, large.pk], day=today)
    out(f"pages as of {today}, statuses stored as of that day, as after the night (competency page: {competency.name})")
    figures = {"queries": query_counts(viewers, urls, out=out), "phases": page_phases(viewers[-1], urls, out=out)}
    if shutil.which("wrk") is None:
        out("  under load: skipped, wrk is not installed (apt-get install wrk)")
        return figures
    workers = 2
    with processes.gunicorn(workers=workers, log=log_dir / "gunicorn.log") as base:
        out(f"  gunicorn: {workers} sync workers on {base}")
        figures["load"] = load(base, viewers, urls, seconds=seconds, connections=connections, out=out)
        with processes.celery_workers(1, log_dir=log_dir):
            figures["reassociation"] = reassociation(base, day=today, skip={large.pk, small.pk}, out=out)
    return figures


def members_on(organization: Organization, day: datetime.date) -> int:
    """Employees who count for the organization on `day`."""
    return (
        Association.objects.filter(organization=organization, starts_on__lte=day)
        .exclude(ends_on__lte=day)
        .values("employee_id")
        .distinct()
        .count()
    )
