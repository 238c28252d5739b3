"""The catalog snapshot the engine reads: `catalog_snapshot()`, 4 queries, compiled once per distinct catalog.

The competencies; the options with their requirements (one row per requirement); the
credentials and the metrics the requirements name. Each requirement is compiled by its
kind (`requirement_kinds`), and the whole snapshot once more for the batch path
(`batch.CompiledCatalog`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import NamedTuple

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
    """The catalog as the engine needs it: 4 queries (competencies; options with their requirements; the
    credentials and the metrics the requirements name).

    Compiling the rows costs more than reading them (every page load takes a snapshot), so the last
    catalog compiled in the process is reused when the same rows are read again; any change to the
    catalog reads different rows and is compiled afresh. Nothing is cached that the 4 queries do not
    confirm.
    """
    global _last_compiled
    rows = _read_structure()
    cached = _last_compiled
    if cached is not None and cached.rows == rows:
        requirements, codes, slugs = cached.requirements, cached.codes, cached.slugs
    else:
        cached = None
        requirements, codes, slugs = _requirements(rows[1])
    credentials = tuple(
        Credential.objects.filter(code__in=codes).order_by("pk").values_list("pk", "code", "accepted_until", "title", "names")
    )
    metric_rows = tuple(Metric.objects.filter(slug__in=slugs).order_by("pk").values_list("pk", "slug", "name", "unit", "names"))
    if cached is not None and cached.lookups == (credentials, metric_rows):
        return cached.snapshot
    snapshot = _compile(rows, requirements, credentials, metric_rows)
    _last_compiled = _Compiled(rows, requirements, codes, slugs, (credentials, metric_rows), snapshot)
    return snapshot


def _read_structure() -> tuple[tuple, tuple]:
    """The competencies, and the options with their requirements: one row per requirement, or one with no
    requirement for an option without any (a LEFT JOIN)."""
    competencies = tuple(
        Competency.objects.order_by("center__position", "position", "name", "pk").values_list("pk", "slug", "name", "names")
    )
    options = tuple(
        AttainmentOption.objects.order_by("pk", "requirements__pk").values_list(
            "pk", "competency_id", "level", "name", "position",
            "requirements__pk", "requirements__kind", "requirements__position",
            Cast("requirements__params", TextField()), "names",
        )
    )
    return competencies, options


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

