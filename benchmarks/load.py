"""Load generated benchmark data into PostgreSQL quickly, with COPY.

The evaluation figure measures evaluation, not import: the records of
`generate.organizations()` go straight into the tables (the catalog through
`load_catalog`, like any catalog), in the state `import_activity` would
leave them: an association ends the day the employee's next one starts or
they leave, an earned credential without `expires_on` expires `valid_days`
after it was earned when its credential has a validity.

PostgreSQL only; the benchmark database is dedicated (`pc_bench_*`), so
loading first empties the partner tables.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from competencies.catalog import load_catalog
from competencies.models import Competency, Credential, Metric

from . import generate

CHUNK = 2_000  # organizations per round of COPY: memory stays flat whatever the size

TABLES = {
    "organization": (
        "competencies_organization",
        ["id", "mpn_id", "name", "country", "market", "website", "description", "public_profile"],
    ),
    "employee": (
        "competencies_employee",
        ["id", "password", "is_superuser", "email", "name", "mcp_id", "language", "is_staff", "is_active",
         "date_joined"],
    ),
    "association": ("competencies_association", ["id", "employee_id", "organization_id", "starts_on", "ends_on"]),
    "earned": ("competencies_earnedcredential", ["id", "employee_id", "credential_id", "earned_on", "expires_on"]),
    "metric": ("competencies_metricvalue", ["id", "organization_id", "metric_id", "period_end", "value"]),
    "override": (
        "competencies_override",
        ["id", "organization_id", "competency_id", "level", "reason", "starts_on", "expires_on", "state",
         "created_at"],
    ),
}
# Emptied before a load (CASCADE reaches statuses, history, memberships…).
EMPTIED = ["competencies_organization", "competencies_employee"]

MARKER_TABLE = "pc_bench_dataset"


def loaded_dataset() -> tuple[int, int, int] | None:
    """(orgs, seed, version) of the data set fully loaded in this database, or None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT orgs, seed, version FROM {MARKER_TABLE}")
        row = cursor.fetchone()
    return tuple(row) if row else None


def load(*, orgs: int, seed: int, version: int, progress: Callable[[str], None] = print) -> dict[str, int]:
    """Empty the partner tables and load the catalog and `orgs` organizations' activity; returns row counts."""
    started = time.perf_counter()
    catalog = generate.catalog_document(seed=seed)
    counts = {name: 0 for name in TABLES}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {MARKER_TABLE}")
            cursor.execute(f"TRUNCATE {', '.join(EMPTIED)} RESTART IDENTITY CASCADE")
        load_catalog(data=catalog, source="benchmarks.generate")
        credentials = {code: (pk, valid_days) for pk, code, valid_days in
                       Credential.objects.values_list("pk", "code", "valid_days")}
        metrics = dict(Metric.objects.values_list("slug", "pk"))
        competencies = dict(Competency.objects.values_list("slug", "pk"))
        now = timezone.now()
        ids = {"association": 0, "earned": 0, "metric": 0, "override": 0}

        def next_id(kind):
            ids[kind] += 1
            return ids[kind]

        rows: dict[str, list[tuple]] = {name: [] for name in TABLES}

        def flush():
            with connection.cursor() as cursor:
                for name, (table, columns) in TABLES.items():
                    if not rows[name]:
                        continue
                    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows[name]:
                            copy.write_row(row)
                    counts[name] += len(rows[name])
                    rows[name].clear()

        for org in generate.organizations(orgs=orgs, seed=seed, catalog=catalog):
            org_id = org.index + 1
            rows["organization"].append((org_id, org.mpn_id, org.name, org.country, org.market, "", "", True))
            for e in org.employees:
                employee_id = e.index + 1
                rows["employee"].append((employee_id, "!", False, e.email, e.name, e.mcp_id, "", False, True, now))
                current = None  # [organization_id, starts_on]
                for target, on in e.moves:
                    if current is not None:  # an association, or leaving, ends the current one that day
                        rows["association"].append((next_id("association"), employee_id, current[0], current[1], on))
                        current = None
                    if target is not None:
                        current = (target + 1, on)
                if current is not None:
                    rows["association"].append((next_id("association"), employee_id, current[0], current[1], None))
                for code, earned_on, expires_on in e.credentials:
                    credential_id, valid_days = credentials[code]
                    if expires_on is None and valid_days:
                        expires_on = earned_on + datetime.timedelta(days=valid_days)
                    rows["earned"].append((next_id("earned"), employee_id, credential_id, earned_on, expires_on))
            for slug, period_end, value in org.metrics:
                rows["metric"].append((next_id("metric"), org_id, metrics[slug], period_end, value))
            for competency, level, starts_on, expires_on in org.overrides:
                rows["override"].append((next_id("override"), org_id, competencies[competency], level,
                                         "Benchmark override", starts_on, expires_on, "active", now))
            if org.index % CHUNK == CHUNK - 1:
                flush()
                if org.index % (CHUNK * 10) == CHUNK * 10 - 1:
                    progress(f"  loaded {org.index + 1:,} organizations ({time.perf_counter() - started:.0f} s)")
        flush()
        with connection.cursor() as cursor:
            for table, _columns in TABLES.values():
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(max(id), 0) + 1, false) FROM {table}"
                )
            cursor.execute(f"CREATE TABLE {MARKER_TABLE} (orgs integer, seed integer, version integer, loaded_at timestamptz)")
            cursor.execute(f"INSERT INTO {MARKER_TABLE} VALUES (%s, %s, %s, now())", [orgs, seed, version])
    # Fresh statistics and a visibility map, as a database that has lived a while would have.
    with connection.cursor() as cursor:
        for table, _columns in TABLES.values():
            cursor.execute(f"VACUUM ANALYZE {table}")
    return counts
