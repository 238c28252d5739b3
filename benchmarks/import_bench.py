"""The import figure: `import_activity` in records per second, beside the time Python takes only to
parse the same JSON Lines file, in the same run.

The import runs on its own database (an empty one but for the catalog, as a first import is), so the
evaluation data stays as it is. Its levels are then compared with those of the data loaded with COPY
(`load.py`) for the same size and seed: both roads must lead to the same partners.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from competencies.activity import import_activity
from competencies.catalog import load_catalog_file

from . import floor, generate, load
from .evaluation_bench import PeakMemory, WriteTimer


def data_files(*, orgs: int, seed: int) -> Path:
    """The generated `catalog.yaml` and `activity.jsonl` for this size and seed (written once, under var/)."""
    out = Path(settings.VAR_DIR) / "bench" / f"o{orgs}-s{seed}-v{generate.FORMAT_VERSION}"
    if not (out / "activity.jsonl").exists():
        partial = out.with_name(out.name + ".partial")
        generate.write_files(out=partial, orgs=orgs, seed=seed)
        partial.rename(out)
    return out


def parse_only(path: Path) -> tuple[float, int]:
    """Seconds to read and `json.loads` every line, and the number of records."""
    started, records = time.perf_counter(), 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                json.loads(line)
                records += 1
    return time.perf_counter() - started, records


def levels_by_name(day) -> set[tuple[str, str, int, int]]:
    """The floor's levels keyed by MPN ID and competency slug: comparable across databases."""
    with transaction.atomic(), connection.cursor() as cursor:
        rows = floor.levels(cursor, day)
        cursor.execute("SELECT id, mpn_id FROM competencies_organization")
        mpn = dict(cursor.fetchall())
        cursor.execute("SELECT id, slug FROM competencies_competency")
        slug = dict(cursor.fetchall())
    return {(mpn[o], slug[c], evaluated, effective) for o, c, evaluated, effective in rows}


# The tables an import writes, parents first.
WRITTEN = ["competencies_organization", "competencies_employee", "competencies_organization_admins",
           "competencies_association", "competencies_earnedcredential", "competencies_metricvalue",
           "competencies_override", "competencies_overrideaudit"]


def write_floor(tables: list[str] = WRITTEN) -> float:
    """Seconds PostgreSQL takes to store the rows an import wrote (or those of `tables`), COPYed back raw in
    one transaction.

    Every table the import wrote is read out (`COPY … TO STDOUT`, binary), emptied and COPYed back, ids
    included, then committed: the same rows, indexes and deferred foreign key checks as the import's
    write, without Python building a row. The rows are the same afterwards.
    """
    dumps = {}
    with connection.cursor() as cursor:
        for table in tables:
            with cursor.cursor.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                dumps[table] = b"".join(bytes(block) for block in copy)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")  # the tables that point at them are empty here
        for table in tables:
            with cursor.cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                copy.write(dumps[table])
    return time.perf_counter() - started


class _Phases(logging.Handler):
    """Keeps the importer's debug lines: how long it parsed, loaded, replayed and wrote."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run(*, orgs: int, seed: int, use_database, database: str | None = None, loaded_levels=None, out=print) -> dict:
    """Import `orgs` organizations' generated activity on the import database; print the figure.

    The import database is `pc_bench_import_<orgs>` unless `database` names another.
    """
    files = data_files(orgs=orgs, seed=seed)
    activity = files / "activity.jsonl"
    parses = [parse_only(activity) for _ in range(3)]
    parse_seconds, records = min(parses)

    use_database(database or f"pc_bench_import_{orgs}")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(load.EMPTIED)} RESTART IDENTITY CASCADE")
    load_catalog_file(files / "catalog.yaml")
    phases = _Phases()
    importer_log = logging.getLogger("competencies.activity")
    importer_log.addHandler(phases)
    level, importer_log.level = importer_log.level, logging.DEBUG  # its own timing of each phase
    importer_log.propagate = False
    try:
        with PeakMemory() as memory, WriteTimer() as writes:
            started = time.perf_counter()
            with open(activity, encoding="utf-8") as f:
                result = import_activity(lines=f, source=str(activity))
            seconds = time.perf_counter() - started
    finally:
        importer_log.removeHandler(phases)
        importer_log.level, importer_log.propagate = level, True
    floor_seconds = min(write_floor() for _ in range(2))
    imported = levels_by_name(generate.DAY)
    mismatches = None if loaded_levels is None else len(imported ^ loaded_levels)

    out(f"import of {activity} ({activity.stat().st_size / 2**20:,.0f} MiB, {records:,} records)")
    out(f"  parse only (json.loads per line)             {parse_seconds:8.2f} s  {records / parse_seconds:10,.0f} records/s")
    out(f"  import_activity (all or nothing, bulk)        {seconds:8.2f} s  {result.records / seconds:10,.0f} records/s"
        f"  {seconds / parse_seconds:6.1f}× parse (issue 7 target: within 5×)  peak RSS {memory.peak / 2**20:,.0f} MiB")
    for message in phases.messages:
        out(f"    the importer's phases: {message.split(': ', 1)[-1]}")
    out(f"    of the writing: UPDATE/INSERT statements and the commit (where PostgreSQL checks each new row's "
        f"deferred foreign keys) {writes.seconds:.1f} s, the rest is COPY")
    out(f"  write floor: the same rows COPYed back raw (same indexes, foreign keys checked at commit) "
        f"{floor_seconds:8.2f} s  {floor_seconds / parse_seconds:6.1f}× parse")
    if mismatches is not None:
        out(f"  levels of the imported data vs the COPY-loaded data: {mismatches} mismatches")
    return {"records": records, "parse": parse_seconds, "import": seconds, "peak_rss": memory.peak,
            "write_floor": floor_seconds, "mismatches": mismatches}
