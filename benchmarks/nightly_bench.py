"""The nightly figures: its peak memory at two sizes, and the run shared by one and by two Celery workers.

- memory: the nightly steps (`partnercenter.night`: evaluate, notify,
  remind, range by range) for the first N/10 and then all N organizations,
  each in a fresh process, whose peak resident memory is read at the end.
  Batching should keep it flat: the second size holds no more than the first.
- workers: `partnercenter.tasks.run_nightly` queued on the broker, with one
  and then two worker processes taking the ranges' chains; timed from the
  queueing until every organization's statuses are as of the day and the
  broker is idle.

- night: the whole night in one process (`partnercenter.night.run_nightly`:
  expire, then every range through evaluate, forecast, notify, remind, then
  send), first on empty status and forecast tables (the first night), then
  the next day (the steady night), each beside the SQL floor of the same
  day, with the status rows each wrote; the stored levels are compared with
  the floor's pair by pair.

Each run is a later day than the one before, so each is the nightly steady
state (statuses stored the day before).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from django.conf import settings

from competencies.models import (
    CompetencyStatus,
    ForecastChange,
    Organization,
    Override,
    OverrideAudit,
    StatusChange,
)

from . import processes
from .evaluation_bench import empty_statuses, run_sql_floor, stored_levels, vacuum_statuses
from .forecast_bench import forget_forecasts
from .import_bench import write_floor

RESULT = "NIGHTLY-RESULT "
ONE_DAY = datetime.timedelta(days=1)


def run_subset(*, limit: int | None, day: datetime.date) -> dict:
    """In this process: the nightly steps for the first `limit` organizations (all when None), range by range,
    as `nightly.run_nightly` runs them, but every organization evaluated (the night would carry most of them
    unevaluated: a batch's peak memory is what this figure measures); returns the figures."""
    from competencies.statuses import statuses_refresh
    from partnercenter import night as nightly

    # VmHWM, not ru_maxrss: Linux carries a parent's ru_maxrss over fork and exec into the child.
    baseline = processes.peak_rss(os.getpid())
    ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True)[:limit])
    size = settings.EVALUATION_BATCH_SIZE
    ranges = [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]
    started = time.perf_counter()
    nightly.expire_overrides(day=day)
    for first_id, last_id in ranges:
        statuses_refresh(organization_ids=nightly.range_ids(first_id=first_id, last_id=last_id), day=day)
        nightly.notify_range(first_id=first_id, last_id=last_id, day=day)
        nightly.remind_range(first_id=first_id, last_id=last_id, day=day)
    seconds = time.perf_counter() - started
    return {
        "organizations": len(ids),
        "ranges": len(ranges),
        "seconds": seconds,
        "baseline_rss": baseline,
        "peak_rss": processes.peak_rss(os.getpid()),
    }


def _memory_run(*, limit: int, day: datetime.date) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "nightly-run", "--limit", str(limit), "--day", day.isoformat()],
        cwd=processes.ROOT, env=processes.environment(), capture_output=True, text=True,
    )
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise RuntimeError(f"the nightly run failed:\n{completed.stdout}\n{completed.stderr}")


def _evaluated_as_of(day: datetime.date) -> int:
    """Organizations whose marker says they are evaluated as of `day`."""
    return Organization.objects.filter(statuses_as_of__gte=day).count()


def _sharded_run(*, workers: int, day: datetime.date, organizations: int, log_dir: Path) -> dict:
    from partnercenter.celery import app
    from partnercenter.tasks import run_nightly

    with processes.celery_workers(workers, log_dir=log_dir) as procs:
        started = time.perf_counter()
        run_nightly.delay(day.isoformat())
        # The broker first, the count only once it is idle: counting ten times a second would take a core
        # from the database the workers use.
        idle_since = None
        while True:
            time.sleep(0.1)
            if not processes.broker_idle(app, workers=workers):
                idle_since = None
                continue
            idle_since = idle_since or time.perf_counter()
            if time.perf_counter() - idle_since > 0.5 and _evaluated_as_of(day) >= organizations:
                break  # idle twice, half a second apart: no chain was between two of its steps
            if time.perf_counter() - started > 3 * 3600:
                raise RuntimeError("the nightly run did not finish in 3 hours")
        seconds = idle_since - started
        peaks = [processes.peak_rss(child) for p in procs for child in processes.worker_children(p.pid)]
    return {"workers": workers, "seconds": seconds, "peak_rss": max(peaks, default=0)}


def run(*, day: datetime.date, log_dir: Path, memory: bool = True, workers: bool = True, out=print) -> dict:
    """The nightly figures (`memory`, `workers`); `day` is the first day to run (each run takes the next one)."""
    organizations = Organization.objects.count()
    small = max(settings.EVALUATION_BATCH_SIZE, organizations // 10)
    out(f"nightly run (evaluate, notify, remind by ranges of {settings.EVALUATION_BATCH_SIZE:,} organizations)")
    figures = {"memory": [], "sharded": []}
    active = list(Override.objects.filter(state=Override.State.ACTIVE).values_list("pk", flat=True))
    try:
        if memory:
            day = _memory(small, organizations, day=day, results=figures["memory"], out=out)
        if workers:
            day = _workers(organizations, day=day, log_dir=log_dir, results=figures["sharded"], out=out)
    finally:
        # The nights expire overrides as they go: put them back, so the data set stays as it was loaded.
        OverrideAudit.objects.filter(override_id__in=active, action=OverrideAudit.Action.EXPIRE).delete()
        Override.objects.filter(pk__in=active).update(state=Override.State.ACTIVE)
    figures["next_day"] = day
    return figures


def _memory(small: int, organizations: int, *, day: datetime.date, results: list, out) -> datetime.date:
    memory = results
    for limit in (small, organizations):
        vacuum_statuses()  # each run is a night after the last one, when autovacuum has been by
        figures = _memory_run(limit=limit, day=day)
        memory.append(figures)
        out(f"  one process, {figures['organizations']:>9,} organizations  {figures['seconds']:8.2f} s"
            f"  peak RSS {figures['peak_rss'] / 2**20:6,.0f} MiB (after Django's setup: "
            f"{figures['baseline_rss'] / 2**20:,.0f} MiB)")
        day += datetime.timedelta(days=1)
    grew = memory[1]["peak_rss"] - memory[0]["peak_rss"]
    factor = memory[1]["organizations"] / memory[0]["organizations"]
    out(f"  peak memory for {factor:.0f}× the organizations: {grew / 2**20:+,.0f} MiB (target: flat, by batching)")
    return day


def _workers(organizations: int, *, day: datetime.date, log_dir: Path, results: list, out):
    """One and two workers, each on a steady night (the day after a stored night). On a data set with
    nothing stored yet, a first night runs before them, with two workers, and is reported as such: it
    stores every status and computes every forecast whole, which a steady night does not."""
    sharded = results
    runs = [(1, "steady"), (2, "steady")]
    if not Organization.objects.filter(statuses_as_of__isnull=False).exists():
        runs.insert(0, (2, "first"))
    for workers, kind in runs:
        vacuum_statuses()
        figures = {**_sharded_run(workers=workers, day=day, organizations=organizations, log_dir=log_dir), "night": kind}
        sharded.append(figures)
        steady = [f for f in sharded if f["night"] == "steady"]
        ratio = (f"  {steady[0]['seconds'] / figures['seconds']:.2f}× faster than one worker"
                 if kind == "steady" and workers == 2 and len(steady) == 2 else "")
        out(f"  Celery, {workers} worker{'s' if workers > 1 else ' '} (1 process each), {kind} night"
            f"  {figures['seconds']:8.2f} s  {organizations / figures['seconds']:8,.0f} organizations/s"
            f"  peak RSS of a pool process {figures['peak_rss'] / 2**20:,.0f} MiB{ratio}")
        day += datetime.timedelta(days=1)
    return day


@contextlib.contextmanager
def _steps_timed(nightly, seconds: dict[str, float]):
    """The night's steps (`nightly.STEPS`, and the expiry) timed into `seconds` by step, summed over the ranges."""

    def timed(name, step):
        def run(**kwargs):
            started = time.perf_counter()
            try:
                return step(**kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return run

    with (
        mock.patch.dict(nightly.STEPS, {name: timed(name, step) for name, step in nightly.STEPS.items()}),
        mock.patch.object(nightly, "expire_overrides", timed("expire", nightly.expire_overrides)),
    ):
        yield


def _night_write_floor(floor: float, *, out) -> float:
    """The first night's rows (statuses, their history, the forecast) COPYed back raw into their tables: what
    PostgreSQL alone takes to store them, beside the SQL floor."""
    models = (CompetencyStatus, StatusChange, ForecastChange)
    counts = ", ".join(f"{model.objects.count():,} {model.__name__}" for model in models)
    seconds = write_floor([model._meta.db_table for model in models])
    out(f"    its rows COPYed back raw ({counts}): {seconds:.2f} s ({seconds / floor:.2f}× the SQL floor)")
    return seconds


def run_nights(*, day: datetime.date, out=print) -> dict:
    """The first night (empty status and forecast tables) and the steady night (the day after), whole, in this
    process, each beside the SQL floor of its day; `day` is the first night's."""
    from competencies.snapshot import catalog_snapshot
    from partnercenter import night as nightly

    org_ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    competency_ids = list(catalog_snapshot().by_id)
    out(f"whole night in one process (expire; evaluate, forecast, notify, remind by ranges of "
        f"{settings.EVALUATION_BATCH_SIZE:,}; send), {len(org_ids):,} organizations")
    active = list(Override.objects.filter(state=Override.State.ACTIVE).values_list("pk", flat=True))
    empty_statuses()
    forget_forecasts()
    figures = {}
    try:
        for label, on in (("first night (no status stored)", day), ("steady night (the next day)", day + ONE_DAY)):
            vacuum_statuses()
            floor, floor_levels = min(
                (run_sql_floor(org_ids=org_ids, competency_ids=competency_ids, day=on) for _ in range(2)),
                key=lambda f: f[0].seconds,
            )
            steps: dict[str, float] = {}
            started = time.perf_counter()
            with _steps_timed(nightly, steps):
                report = nightly.run_nightly(day=on)
            seconds = time.perf_counter() - started
            refresh = report.refresh
            mismatches = stored_levels(org_ids=org_ids, competency_ids=competency_ids).mismatches(floor_levels)
            figures[label] = {"seconds": seconds, "floor": floor.seconds, "written": refresh.created + refresh.updated,
                              "steps": steps}
            out(f"  {label:<32} {seconds:8.2f} s  {seconds / floor.seconds:6.2f}× the SQL floor ({floor.seconds:.2f} s)"
                f"  status rows written {refresh.created + refresh.updated:,} (new {refresh.created:,}, "
                f"changed {refresh.updated:,}), history rows {refresh.changes:,}; "
                f"mismatches stored vs SQL {mismatches} of {len(org_ids) * len(competency_ids):,} pairs")
            if label.startswith("first"):
                figures["write floor"] = _night_write_floor(floor.seconds, out=out)
            out("    by step: " + ", ".join(f"{step} {t:.2f} s ({t / floor.seconds:.2f}×)" for step, t in steps.items())
                + f"; without the forecast {seconds - steps.get('forecast', 0):.2f} s "
                f"({(seconds - steps.get('forecast', 0)) / floor.seconds:.2f}×)")
    finally:
        OverrideAudit.objects.filter(override_id__in=active, action=OverrideAudit.Action.EXPIRE).delete()
        Override.objects.filter(pk__in=active).update(state=Override.State.ACTIVE)
    figures["next_day"] = day + 2 * ONE_DAY
    return figures


