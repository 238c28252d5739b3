"""The evaluation figure: the engine beside a hand-written SQL aggregate, on the same rows, in one run.

- compute path: `evaluate` over `batched` organization ids with one catalog
  snapshot, every organization as of one day;
- stored path: `statuses_refresh` of every organization, on an empty status
  table (first evaluation), again the same day (nothing to write), and the
  next day (the nightly steady state: it writes only what changed);
- the floor: `sql_floor.sql`, one statement computing the same evaluated
  and effective levels. The levels of both are compared pair by pair.
"""

from __future__ import annotations

import datetime
import os
import resource
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from competencies.batch import collector_paused
from competencies.engine import batched, evaluate
from competencies.models import LEVEL_RANK, CompetencyStatus, Organization, StatusChange
from competencies.snapshot import catalog_snapshot
from competencies.statuses import statuses_refresh

from . import floor

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident memory of this process while the block runs, sampled every 10 ms from /proc."""

    def __init__(self):
        self.peak = self.start = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE

    def _sample(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.rss())

    def __enter__(self):
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


@dataclass
class Timing:
    label: str
    seconds: float
    peak_rss: int = 0
    note: str = ""
    growth: int = 0  # peak resident memory above what the process held when the step started


@dataclass
class Levels:
    """Evaluated and effective rank (0 none, 1 silver, 2 gold) of every organization × competency, compactly."""

    org_index: dict[int, int]
    competency_index: dict[int, int]
    evaluated: bytearray = field(init=False)
    effective: bytearray = field(init=False)

    def __post_init__(self):
        size = len(self.org_index) * len(self.competency_index)
        self.evaluated, self.effective = bytearray(size), bytearray(size)

    def set(self, org_id: int, competency_id: int, evaluated: int, effective: int) -> None:
        i = self.org_index[org_id] * len(self.competency_index) + self.competency_index[competency_id]
        self.evaluated[i], self.effective[i] = evaluated, effective

    def mismatches(self, other: Levels) -> int:
        return sum(
            a != b or c != d
            for a, b, c, d in zip(self.evaluated, other.evaluated, self.effective, other.effective, strict=True)
        )

    def counts(self) -> tuple[int, int]:
        """(silver, gold) effective levels."""
        return self.effective.count(1), self.effective.count(2)


def _new_levels(org_ids: list[int], competency_ids: list[int]) -> Levels:
    return Levels({o: i for i, o in enumerate(org_ids)}, {c: i for i, c in enumerate(competency_ids)})


def run_engine(*, org_ids, competency_ids, day, batch_size) -> tuple[Timing, Levels]:
    levels = _new_levels(org_ids, competency_ids)
    rank = {k: v for k, v in LEVEL_RANK.items()}
    with PeakMemory() as memory:
        started = time.perf_counter()
        catalog = catalog_snapshot()  # one snapshot for every batch, as statuses_refresh does
        with collector_paused():  # as statuses_refresh does around its batches
            for batch in batched(org_ids, batch_size):
                results = evaluate(organization_ids=batch, day=day, catalog=catalog)
                for (org_id, competency_id), result in results.items():
                    if result.effective_level != "none":
                        levels.set(org_id, competency_id, rank[result.evaluated_level], rank[result.effective_level])
                del results
        seconds = time.perf_counter() - started
    return Timing("engine: evaluate() in batches", seconds, memory.peak, growth=memory.peak - memory.start), levels


def run_sql_floor(*, org_ids, competency_ids, day) -> tuple[Timing, Levels]:
    levels = _new_levels(org_ids, competency_ids)
    with PeakMemory() as memory:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            rows = floor.levels(cursor, day)
        seconds = time.perf_counter() - started
    for org_id, competency_id, evaluated, effective in rows:
        levels.set(org_id, competency_id, evaluated, effective)
    timing = Timing("SQL floor: set-based SQL, same levels", seconds, memory.peak, f"{len(rows):,} rows above none",
                    memory.peak - memory.start)
    return timing, levels


def stored_levels(*, org_ids, competency_ids) -> Levels:
    levels = _new_levels(org_ids, competency_ids)
    for org_id, competency_id, evaluated, effective in (
        CompetencyStatus.objects.exclude(effective_level="none")
        .order_by()
        .values_list("organization_id", "competency_id", "evaluated_level", "effective_level")
        .iterator(chunk_size=20_000)
    ):
        levels.set(org_id, competency_id, LEVEL_RANK[evaluated], LEVEL_RANK[effective])
    return levels


class WriteTimer:
    """Seconds spent in statements that write (INSERT, UPDATE, DELETE) and in COMMIT, where PostgreSQL
    checks the deferred foreign keys. Nothing is kept of the statements (they carry big arrays)."""

    WRITES = ("INSERT", "UPDATE", "DELETE")

    def __init__(self):
        self.seconds = 0.0

    def _execute(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if sql.lstrip()[:6].upper() in self.WRITES:
                self.seconds += time.perf_counter() - started

    def _timed_commit(self):
        started = time.perf_counter()
        try:
            return self._commit()
        finally:
            self.seconds += time.perf_counter() - started

    def __enter__(self):
        self._wrapper = connection.execute_wrapper(self._execute)
        self._wrapper.__enter__()
        self._commit = connection._commit
        connection._commit = self._timed_commit  # the harness only: the connection's own method, timed
        return self

    def __exit__(self, *exc):
        del connection._commit
        self._wrapper.__exit__(*exc)


def run_refresh(label: str, *, org_ids, day) -> Timing:
    # How much of the stored path is the database writing rows rather than Python: timed too.
    with PeakMemory() as memory, WriteTimer() as writes:
        started = time.perf_counter()
        result = statuses_refresh(organization_ids=org_ids, day=day)
        seconds = time.perf_counter() - started
    note = (
        f"created {result.created:,}, updated {result.updated:,}, "
        f"unchanged {result.unchanged:,}, history rows {result.changes:,}; "
        f"database writes and commits {writes.seconds:.1f} s"
    )
    return Timing(label, seconds, memory.peak, note, memory.peak - memory.start)


def vacuum_statuses() -> None:
    """What autovacuum does between two nights on a server that runs it (this one may not: the benchmark
    does not rely on it): the dead rows of the last night's updates reclaimed, fresh statistics."""
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {CompetencyStatus._meta.db_table}, {StatusChange._meta.db_table}")


def empty_statuses() -> None:
    """No status stored and no organization evaluated: what a first evaluation starts from."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {StatusChange._meta.db_table}, {CompetencyStatus._meta.db_table}")
    Organization.objects.update(statuses_as_of=None)


def run(*, day: datetime.date, batch_size: int, repeat: int = 3, out=print) -> dict:
    """Every figure of the evaluation benchmark; prints as it goes and returns them."""
    settings.EVALUATION_BATCH_SIZE = batch_size
    org_ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    competency_ids = list(catalog_snapshot().by_id)
    pairs = len(org_ids) * len(competency_ids)
    out(f"evaluation as of {day}: {len(org_ids):,} organizations × {len(competency_ids)} competencies "
        f"= {pairs:,} pairs, batches of {batch_size:,}")

    def line(t: Timing, ratio=True):
        per = t.seconds / len(org_ids) * 1000
        r = f"{t.seconds / floor.seconds:6.2f}× SQL" if ratio else " " * 10
        out(f"  {t.label:<44} {t.seconds:8.2f} s  {per:6.3f} s/1,000 orgs  {r}  peak RSS {t.peak_rss / 2**20:5,.0f} MiB"
            f" (+{t.growth / 2**20:,.0f})" + (f"  ({t.note})" if t.note else ""))

    # Each side runs `repeat` times, alternating, after one run of the floor that warms the cache for
    # both; the best run of each counts (the machine is shared: the best is the least disturbed).
    run_sql_floor(org_ids=org_ids, competency_ids=competency_ids, day=day)
    engines, floors = [], []
    for _ in range(repeat):
        engines.append(run_engine(org_ids=org_ids, competency_ids=competency_ids, day=day, batch_size=batch_size))
        floors.append(run_sql_floor(org_ids=org_ids, competency_ids=competency_ids, day=day))
    engine, engine_levels = min(engines, key=lambda f: f[0].seconds)
    floor, floor_levels = min(floors, key=lambda f: f[0].seconds)
    engine.note = "runs: " + ", ".join(f"{t.seconds:.2f}" for t, _levels in engines)
    floor.note += "; runs: " + ", ".join(f"{t.seconds:.2f}" for t, _levels in floors)
    del engines, floors
    mismatches = engine_levels.mismatches(floor_levels)
    silver, gold = floor_levels.counts()
    line(floor, ratio=False)
    line(engine)
    out(f"  levels above none (effective): {silver:,} silver, {gold:,} gold; "
        f"mismatches engine vs SQL: {mismatches} of {pairs:,} pairs")

    empty_statuses()
    refreshes = [run_refresh("stored: statuses_refresh, first evaluation", org_ids=org_ids, day=day)]
    line(refreshes[-1])
    stored_mismatches = stored_levels(org_ids=org_ids, competency_ids=competency_ids).mismatches(floor_levels)
    refreshes.append(run_refresh("stored: statuses_refresh, same day again", org_ids=org_ids, day=day))
    line(refreshes[-1])
    vacuum_statuses()  # a night later: autovacuum has been by
    refreshes.append(run_refresh("stored: statuses_refresh, next day", org_ids=org_ids, day=day + datetime.timedelta(days=1)))
    line(refreshes[-1])
    out(f"  mismatches stored statuses vs SQL: {stored_mismatches}")
    out(f"  ratio engine / SQL floor: {engine.seconds / floor.seconds:.2f}× (issue 3 target: within 3×; issue 7: within 2×)")
    out(f"  peak RSS of this process so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    return {
        "organizations": len(org_ids),
        "pairs": pairs,
        "floor": floor,
        "engine": engine,
        "refreshes": refreshes,
        "mismatches": mismatches,
        "stored_mismatches": stored_mismatches,
    }
