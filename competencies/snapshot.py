"""The catalog snapshot the engine reads: `catalog_snapshot()`, one query, compiled once per distinct catalog.

The competencies; the options with their requirements (one row per requirement); the
credentials and the metrics the requirements name. Each requirement is compiled by its
kind (`requirement_kinds`), and the whole snapshot once more for the batch path
(`batch.CompiledCatalog`).
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from typing import NamedTuple

from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast

from .batch import CompiledCatalog
from .models import LEVEL_RANK, AttainmentOption, Competency, Credential, Metric
from .requirement_kinds import requirement_kind
from .specs import CatalogSnapshot, CompetencySpec, Lookups, MetricSpec, OptionSpec, RequirementSpec


class _Compiled(NamedTuple):
    """The last catalog compiled in this process, with the rows it was compiled from."""

    rows: tuple  # (competencies, options with their requirements) as read
    requirements: list  # (pk, option_id, kind, position, params) parsed from those rows
    codes: frozenset[str]
    slugs: frozenset[str]
    lookups: tuple  # (credentials, metrics) as read
    snapshot: CatalogSnapshot


_last_compiled: _Compiled | None = None


def catalog_snapshot() -> CatalogSnapshot:
    """The catalog as the engine needs it: one query (the competencies; the options with their requirements;
    the credentials and the metrics, of which the snapshot keeps those the requirements name).

    Compiling the rows costs more than reading them (every page load takes a snapshot), so the last
    catalog compiled in the process is reused when the same rows are read again; any change to the
    catalog reads different rows and is compiled afresh. Nothing is cached that the query does not
    confirm.
    """
    global _last_compiled
    competencies, options, all_credentials, all_metrics = _read_catalog()
    rows = (competencies, options)
    cached = _last_compiled
    if cached is not None and cached.rows == rows:
        requirements, codes, slugs = cached.requirements, cached.codes, cached.slugs
    else:
        cached = None
        requirements, codes, slugs = _requirements(options)
    credentials = tuple(row for row in all_credentials if row[1] in codes)
    metric_rows = tuple(row for row in all_metrics if row[1] in slugs)
    if cached is not None and cached.lookups == (credentials, metric_rows):
        return cached.snapshot
    snapshot = _compile(rows, requirements, credentials, metric_rows)
    _last_compiled = _Compiled(rows, requirements, codes, slugs, (credentials, metric_rows), snapshot)
    return snapshot


# The columns `_read_catalog` turns back from JSON: JSON ones are left as read, dates made dates again.
_JSON, _DATE = "json", "date"


def _catalog_parts() -> tuple:
    """The four parts of the catalog: each one's `values_list` query, and its JSON and date columns."""
    return (
        (Competency.objects.order_by("center__position", "position", "name", "pk").values_list(
            "pk", "slug", "name", "names"
        ), {"names": _JSON}),
        # One row per requirement, or one with no requirement for an option without any (a LEFT JOIN).
        (AttainmentOption.objects.order_by("pk", "requirements__pk").values_list(
            "pk", "competency_id", "level", "name", "position",
            "requirements__pk", "requirements__kind", "requirements__position",
            Cast("requirements__params", TextField()), "names",
        ), {"names": _JSON}),
        (Credential.objects.order_by("pk").values_list("pk", "code", "accepted_until", "title", "names"),
         {"accepted_until": _DATE, "names": _JSON}),
        (Metric.objects.order_by("pk").values_list("pk", "slug", "name", "unit", "names"), {"names": _JSON}),
    )


def _read_catalog() -> tuple[tuple, tuple, tuple, tuple]:
    """The four parts of the catalog (`_catalog_parts`) as their `values_list` would give them, in one query:
    each part's rows aggregated into one JSON array, in the part's order (the order of its subquery)."""
    parts = [(queryset, [kinds.get(name) for name in _columns(queryset)]) for queryset, kinds in _catalog_parts()]
    selects, params = [], []
    for queryset, kinds in parts:
        sql, part_params = queryset.query.sql_with_params()
        columns = [f"t.{connection.ops.quote_name(name)}" for name in _columns(queryset)]
        if connection.vendor == "postgresql":
            selects.append(f"(SELECT json_agg(json_build_array({', '.join(columns)})) FROM ({sql}) t)")
        else:  # SQLite keeps JSON as text: json() makes it JSON again inside the array
            columns = [f"json({c})" if kind == _JSON else c for c, kind in zip(columns, kinds)]
            selects.append(f"(SELECT json_group_array(json_array({', '.join(columns)})) FROM ({sql}) t)")
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(selects), params)
        found = cursor.fetchone()
    return tuple(_rows(value, kinds) for value, (_queryset, kinds) in zip(found, parts))


def _columns(queryset) -> list[str]:
    """The aliases of a `values_list` queryset's columns in its SQL, in the order of its tuples."""
    return list(queryset._fields)


def _rows(value, kinds: list[str | None]) -> tuple:
    """A part's JSON array back into `values_list`'s tuples."""
    rows = json.loads(value) if isinstance(value, str) else (value or [])
    return tuple(
        tuple(
            datetime.date.fromisoformat(item) if kind == _DATE and item is not None else item
            for item, kind in zip(row, kinds)
        )
        for row in rows
    )


def _requirements(options: tuple) -> tuple[list, frozenset[str], frozenset[str]]:
    """The requirements of the option rows, their params parsed, and the credential codes and metric slugs
    their kinds read."""
    requirements = [
        (pk, option_id, kind, position, json.loads(params))
        for option_id, _c, _l, _n, _p, pk, kind, position, params, _names in options
        if pk is not None
    ]
    codes, slugs = set(), set()
    for _pk, _option, kind, _pos, params in requirements:
        handler = requirement_kind(kind)
        codes |= handler.credential_codes(params)
        slugs |= set(handler.metric_windows(params))
    return requirements, frozenset(codes), frozenset(slugs)


def _compile(rows: tuple[tuple, tuple], requirements: list, credentials: tuple, metric_rows: tuple) -> CatalogSnapshot:
    """The snapshot of the rows read, each requirement compiled by its kind, and compiled for the batch path."""
    competencies, options = rows
    metrics = {slug: MetricSpec(pk, slug, name, unit, names) for pk, slug, name, unit, names in metric_rows}
    lookups = Lookups(ids_by_code={code: pk for pk, code, _until, _title, _names in credentials}, metrics=metrics)

    reqs_by_option: dict[int, list] = defaultdict(list)
    max_window = 0
    for pk, option_id, kind, _position, params in sorted(requirements, key=lambda r: (r[1], r[3], r[0])):
        handler = requirement_kind(kind)
        max_window = max([max_window, *handler.metric_windows(params).values()])
        compiled = handler.compile(params, lookups)
        reqs_by_option[option_id].append(RequirementSpec(pk, kind, params, compiled, handler))

    options_by_competency: dict[int, list] = defaultdict(list)
    distinct_options = {row[0]: (*row[:5], row[9]) for row in options}.values()
    for pk, competency_id, level, name, _position, names in sorted(
        distinct_options, key=lambda o: (o[1], LEVEL_RANK.get(o[2], 9), o[4], o[0])
    ):
        options_by_competency[competency_id].append(OptionSpec(pk, level, name, tuple(reqs_by_option[pk]), names or {}))

    specs = tuple(
        CompetencySpec(pk, slug, name, tuple(options_by_competency[pk]), names or {}) for pk, slug, name, names in competencies
    )
    return CatalogSnapshot(
        competencies=specs,
        credential_codes={pk: code for pk, code, _until, _title, _names in credentials},
        titles={code: (title, names) for _pk, code, _until, title, names in credentials},
        accepted_until={pk: until for pk, _code, until, _title, _names in credentials if until is not None},
        metrics=metrics,
        max_window_days=max_window,
        by_id={c.id: c for c in specs},
        compiled=CompiledCatalog.compile(specs),
    )

