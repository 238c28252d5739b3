"""The what-if figure: the planner with 20 hypothetical changes against the competency page, for the
organization of about 2,000 employees.

Both pages fetched in this process with Django's test client, signed in as the same employee, alternately
(15 runs each, best and median kept): the planner with a plan of 20 changes (10 people leave, 3 people
join by email, 5 credentials earned, 2 metric gains, 30 days ahead), whose page evaluates today, the plan's
day and the forecast of the coming year under the plan; the competency page of the competency the
organization holds highest (the pages figure's slowest page). Target: the planner within 2x the competency
page's time, at the same query count (counted for 1 change and for 20: the same).
"""

from __future__ import annotations

import datetime
import statistics
import time
from urllib.parse import urlencode

from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from competencies.models import Association, Organization
from competencies.snapshot import catalog_snapshot
from competencies.what_if import Plan, plan_parse

from . import generate
from .pages_bench import _showcase_competency, count_queries, members_on, viewer

CHANGES = 20


def plan_of(organization: Organization, today: datetime.date, *, size: int = CHANGES) -> Plan:
    """A plan of `size` changes (at most 20) of the organization's own people, codes and metrics."""
    snapshot = catalog_snapshot()
    day = today + datetime.timedelta(days=30)
    members = list(
        Association.objects.filter(organization=organization, starts_on__lte=today, ends_on__isnull=True)
        .order_by("employee_id").values_list("employee_id", flat=True)[:12]
    )
    codes = [code for pk, code in sorted(snapshot.credential_codes.items()) if pk not in snapshot.accepted_until][:5]
    hires = [f"planned.hire.{n}@bench.example" for n in range(3)]
    whos = [*hires, str(members[10]), str(members[11])]
    query = [("day", day.isoformat()), *[("leave", str(pk)) for pk in members[:10]], *[("hire", h) for h in hires]]
    for who, code in zip(whos, codes, strict=True):
        query += [("earn_who", who), ("earn_code", code), ("earn_on", today.isoformat())]
    for metric in sorted(snapshot.metrics)[:2]:
        query += [("metric", metric), ("gain", "2500")]
    if size == 1:
        query = query[:2]
    plan = plan_parse(QueryDict(urlencode(query)), today=today)
    assert plan.size == size, f"the plan holds {plan.size} changes, not {size}"
    return plan


def _best_of(v, urls: dict[str, str], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(runs):
        for name, url in urls.items():
            started = time.perf_counter()
            response = v.client.get(url)
            times[name].append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return times


def run(*, runs: int = 15, out=print) -> dict:
    today = timezone.localdate()
    large = Organization.objects.get(mpn_id=generate.mpn_id(0))
    v = viewer(f"{members_on(large, today)} employees", large, day=today)
    competency = _showcase_competency(large, today)
    planner = reverse("dashboard:what-if")
    urls = {
        "competency page": reverse("dashboard:competency", args=[competency.slug]),
        f"what-if, {CHANGES} changes": f"{planner}?{urlencode(plan_of(large, today).query(today=today))}",
    }
    one = f"{planner}?{urlencode(plan_of(large, today, size=1).query(today=today))}"
    out(f"what-if planner ({v.label}, as of {today}; competency page: {competency.name}), "
        f"in this process, best of {runs} alternating runs")
    queries = {name: count_queries(v, url) for name, url in urls.items()}
    queries["what-if, 1 change"] = count_queries(v, one)
    times = _best_of(v, urls, runs)
    figures = {"queries": queries, "best": {}, "median": {}}
    for name, row in times.items():
        figures["best"][name], figures["median"][name] = min(row), statistics.median(row)
        out(f"  {name:<22} best {min(row) * 1000:7.1f} ms  median {statistics.median(row) * 1000:7.1f} ms  "
            f"{queries[name]} queries")
    base, planned = (figures["best"][name] for name in urls)
    figures["ratio"] = planned / base
    same = queries[f"what-if, {CHANGES} changes"] == queries["what-if, 1 change"]
    out(f"  what-if / competency page: {figures['ratio']:.2f}x (target: within 2x); queries "
        f"{queries[f'what-if, {CHANGES} changes']} for {CHANGES} changes, {queries['what-if, 1 change']} for 1 "
        f"({'same' if same else 'DIFFERENT'}), {queries['competency page']} for the competency page")
    return figures
