"""The competency catalog file: validation and loading (docs/design.md, "Catalog file").

A catalog file lists the credentials, metrics, Centers of Excellence with
their competencies, levels, attainment options and requirements, and the
sections the layers above own (memberships registers its plans and
benefits: `register_section`). Rules this loader keeps:

- **Refused whole.** `parse_catalog` checks the entire document and collects
  every problem, each with the path of the bad entry
  (`centers[0].competencies[1].levels.gold.options[0].requirements[2].any_of[1]`),
  before anything is written. A bad catalog writes nothing.
- **Self-contained.** A requirement may only name credentials and metrics the
  same file defines; a registered section only its competencies.
- **Upsert, never delete** (`catalog_upsert`). Credentials are matched by
  `code`; metrics, centers and competencies by `slug`. Rows the file no longer
  mentions are left alone; retire a credential with `retired_on`.
- **Options and requirements follow the file**, matched by level and position.
- **Retired credentials.** An earned credential of a retired one keeps
  counting until `accepted_until`, which defaults to one year after
  `retired_on` (`dates.years_after`: 29 February gives 28 February), as
  Microsoft did with the exams retired on 2017-12-31.

Each requirement is checked by its kind (`requirement_kinds.REQUIREMENT_KINDS`),
the one registry the engine evaluates with.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.db import transaction

from .catalog_checks import CatalogError, Checker, Names, at, describe, item, show
from .catalog_file import read_catalog_file
from .catalog_upsert import columns, sync_options, upsert
from .dates import years_after
from .models import ACHIEVABLE_LEVELS, CenterOfExcellence, Competency, Credential, Metric
from .requirement_kinds import REQUIREMENT_KINDS

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent / "catalog_data" / "default.yaml"

LEVELS = tuple(level.value for level in ACHIEVABLE_LEVELS)
CREDENTIAL_KINDS = tuple(Credential.Kind.values)


# ---------------------------------------------------------------------------
# The parsed file


@dataclass(frozen=True, slots=True)
class CredentialEntry:
    code: str
    kind: str
    title: str
    valid_days: int | None
    retired_on: datetime.date | None
    accepted_until: datetime.date | None  # already defaulted from retired_on
    names: dict = field(default_factory=dict)  # the title in other languages (language -> text)


@dataclass(frozen=True, slots=True)
class MetricEntry:
    slug: str
    name: str
    unit: str
    names: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequirementEntry:
    kind: str
    params: dict  # the requirement mapping minus `kind`, JSON-safe


@dataclass(frozen=True, slots=True)
class OptionEntry:
    level: str
    position: int  # file order within the level
    name: str
    requirements: tuple[RequirementEntry, ...]
    names: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DescribedEntry:
    """What a center and a competency both are: a slug, a name and a description (with their translations)."""

    slug: str
    name: str
    description: str
    position: int  # file order within its parent
    names: dict = field(default_factory=dict, kw_only=True)
    descriptions: dict = field(default_factory=dict, kw_only=True)


@dataclass(frozen=True, slots=True)
class CompetencyEntry(DescribedEntry):
    options: tuple[OptionEntry, ...]


@dataclass(frozen=True, slots=True)
class CenterEntry(DescribedEntry):
    competencies: tuple[CompetencyEntry, ...]


@dataclass(frozen=True, slots=True)
class CatalogFile:
    """A validated catalog document, in file order."""

    credentials: tuple[CredentialEntry, ...] = ()
    metrics: tuple[MetricEntry, ...] = ()
    centers: tuple[CenterEntry, ...] = ()
    sections: dict[str, tuple] = field(default_factory=dict)  # a registered section's name -> what its `parse` gave

    @property
    def competencies(self) -> list[CompetencyEntry]:
        return [c for center in self.centers for c in center.competencies]


# ---------------------------------------------------------------------------
# Sections the layers above own


@dataclass(frozen=True, slots=True)
class CatalogSection:
    """A top-level section of the file that a layer above owns, registered when its app is ready.

    `parse(value, check, names)` checks the section's value (None when the file leaves it out), reporting
    every problem on `check` with its path, and returns its entries; `names` says what the file defines
    (credentials, metrics, competencies). `load(entries, competency_ids)` writes them, inside the load's
    transaction, given each competency's id by slug, and returns its counts (created, updated, unchanged).
    """

    name: str
    parse: Callable[[Any, Checker, Names], Sequence]
    load: Callable[[Sequence, dict[str, int]], dict[str, int]]


BASE_SECTIONS = ("credentials", "metrics", "centers")
_sections: dict[str, CatalogSection] = {}


def register_section(
    name: str,
    *,
    parse: Callable[[Any, Checker, Names], Sequence],
    load: Callable[[Sequence, dict[str, int]], dict[str, int]],
) -> None:
    """Add a top-level section to the catalog file; checked and written after the base's, in registration order."""
    if name in BASE_SECTIONS:
        raise ValueError(f"{name!r} is a section of the base catalog")
    _sections[name] = CatalogSection(name, parse, load)


def sections() -> tuple[str, ...]:
    """Every top-level section a catalog file may have, in the order they are checked and written."""
    return (*BASE_SECTIONS, *_sections)


# ---------------------------------------------------------------------------
# Parsing


def parse_catalog(data: dict) -> CatalogFile:
    """Validate a whole catalog document (docs/design.md, "Catalog file") and return it parsed.

    Every problem is collected, each with the path of the bad entry, and
    raised together as one `CatalogError`: a bad catalog is refused whole.
    """
    check = Checker()
    top_level = sections()
    if data is None:
        raise CatalogError([("", "the catalog is empty")])
    if not isinstance(data, dict):
        raise CatalogError([("", f"the catalog must be a mapping of {', '.join(top_level)}, not {describe(data)}")])
    check.mapping(data, "", required=[], optional=top_level)

    credentials = _parse_credentials(data.get("credentials"), check)
    metrics = _parse_metrics(data.get("metrics"), check)
    names = Names(
        credentials=frozenset(c.code for c in credentials if c is not None),
        metrics=frozenset(m.slug for m in metrics if m is not None),
    )
    centers = _parse_centers(data.get("centers"), check, names)
    names = replace(names, competencies=frozenset(c.slug for center in centers if center for c in center.competencies))
    parsed = {name: tuple(section.parse(data.get(name), check, names)) for name, section in _sections.items()}

    if check.problems:
        raise CatalogError(check.problems)
    return CatalogFile(credentials=tuple(credentials), metrics=tuple(metrics), centers=tuple(centers), sections=parsed)


def _mappings(value: Any, section: str, check: Checker, **keys) -> Iterator[tuple[str, dict]]:
    """Each entry of a section that is a mapping with the right keys, and its path (a bad one is a problem noted)."""
    for i, raw in enumerate(check.sequence(value, section)):
        path = item(section, i)
        entry = check.mapping(raw, path, **keys)
        if entry is not None:
            yield path, entry


def _parse_credentials(value: Any, check: Checker) -> list[CredentialEntry | None]:
    entries, seen = [], {}
    optional = ["kind", "valid_days", "retired_on", "accepted_until"]
    for path, entry in _mappings(value, "credentials", check, required=["code", "title"], optional=optional):
        code = check.text(entry, "code", path, max_length=40)
        check.unique(seen, code, at(path, "code"), "code")
        title, titles = check.localized_text(entry, "title", path, max_length=300)
        kind = check.choice(entry.get("kind", "exam"), at(path, "kind"), CREDENTIAL_KINDS, "credential kind")
        valid_days = check.whole(entry, "valid_days", path, minimum=1)
        retired_on = check.date(entry, "retired_on", path)
        accepted_until = check.date(entry, "accepted_until", path)
        if accepted_until is None and retired_on is not None and entry.get("accepted_until") is None:
            accepted_until = years_after(retired_on)
        if retired_on and accepted_until and accepted_until < retired_on:
            check.problem(at(path, "accepted_until"), f"must not be before retired_on ({retired_on})")
        # A credential with a bad field still defines its code, so requirements naming it get no second problem.
        entries.append(
            CredentialEntry(code, kind, title, valid_days, retired_on, accepted_until, titles) if code is not None else None
        )
    return entries


def _parse_metrics(value: Any, check: Checker) -> list[MetricEntry | None]:
    entries, seen = [], {}
    for path, entry in _mappings(value, "metrics", check, required=["slug", "name"], optional=["unit"]):
        slug = check.slug(entry, "slug", path, max_length=80)
        check.unique(seen, slug, at(path, "slug"), "slug")
        name, names = check.localized_text(entry, "name", path, max_length=200)
        unit = check.text(entry, "unit", path, max_length=20, required=False)
        entries.append(MetricEntry(slug, name, unit, names) if slug is not None else None)
    return entries


def _parse_centers(value: Any, check: Checker, names: Names) -> list[CenterEntry | None]:
    centers, seen_centers, seen_competencies = [], {}, {}
    for i, raw in enumerate(check.sequence(value, "centers")):
        path = item("centers", i)
        entry = check.mapping(raw, path, required=["slug", "name"], optional=["description", "competencies"])
        if entry is None:
            centers.append(None)
            continue
        slug = check.slug(entry, "slug", path)
        check.unique(seen_centers, slug, at(path, "slug"), "center slug")
        name, translations = check.localized_text(entry, "name", path, max_length=200)
        description, descriptions = check.localized_text(entry, "description", path, max_length=10_000, required=False)
        competencies = []
        for j, raw_competency in enumerate(check.sequence(entry.get("competencies"), at(path, "competencies"))):
            competency = _parse_competency(
                raw_competency, item(at(path, "competencies"), j), j, check, names, seen_competencies
            )
            if competency is not None:
                competencies.append(competency)
        centers.append(CenterEntry(
            slug, name, description or "", i, tuple(competencies), names=translations, descriptions=descriptions
        ))
    return centers


def _parse_competency(
    raw: Any, path: str, position: int, check: Checker, names: Names, seen: dict[str, str]
) -> CompetencyEntry | None:
    entry = check.mapping(raw, path, required=["slug", "name", "levels"], optional=["description"])
    if entry is None:
        return None
    slug = check.slug(entry, "slug", path)
    check.unique(seen, slug, at(path, "slug"), "competency slug")
    name, translations = check.localized_text(entry, "name", path, max_length=200)
    description, descriptions = check.localized_text(entry, "description", path, max_length=10_000, required=False)
    options = _parse_levels(entry, at(path, "levels"), check, names) if "levels" in entry else []
    return CompetencyEntry(
        slug, name, description or "", position, tuple(options), names=translations, descriptions=descriptions
    )


def _parse_levels(entry: dict, path: str, check: Checker, names: Names) -> list[OptionEntry]:
    """A competency's `levels`: silver and/or gold, each with its options in file order."""
    levels = entry["levels"]
    if not isinstance(levels, dict) or not levels:
        check.problem(path, "must map silver and/or gold to their options")
        return []
    options: list[OptionEntry] = []
    for level, raw_level in levels.items():
        level_path = at(path, str(level))
        if check.choice(level, level_path, LEVELS, "level") is None:
            continue
        level_entry = check.mapping(raw_level, level_path, required=["options"])
        if level_entry is None:
            continue
        options_path = at(level_path, "options")
        raw_options = check.sequence(level_entry.get("options"), options_path, non_empty=True, what="option")
        for k, raw_option in enumerate(raw_options):
            option = _parse_option(raw_option, item(options_path, k), level, k, check, names)
            if option is not None:
                options.append(option)
    return options


def _parse_option(raw: Any, path: str, level: str, position: int, check: Checker, names: Names) -> OptionEntry | None:
    entry = check.mapping(raw, path, required=["name", "requirements"])
    if entry is None:
        return None
    name, translations = check.localized_text(entry, "name", path, max_length=200)
    requirements = []
    requirements_path = at(path, "requirements")
    # An option without requirements would be a free level: the engine never meets one, so refuse it here.
    for r, raw_req in enumerate(
        check.sequence(entry.get("requirements"), requirements_path, non_empty=True, what="requirement")
    ):
        req_path = item(requirements_path, r)
        if not isinstance(raw_req, dict):
            check.problem(req_path, f"must be a mapping, not {describe(raw_req)}")
            continue
        kind = raw_req.get("kind")
        handler = REQUIREMENT_KINDS.get(kind) if isinstance(kind, str) else None
        if "kind" not in raw_req:
            check.problem(at(req_path, "kind"), "is required")
            continue
        if handler is None:
            known = ", ".join(sorted(REQUIREMENT_KINDS))
            check.problem(at(req_path, "kind"), f"unknown requirement kind {show(kind)} (known: {known})")
            continue
        handler.validate(raw_req, req_path, check, names)
        requirements.append(RequirementEntry(kind, {k: v for k, v in raw_req.items() if k != "kind"}))
    return OptionEntry(level, position, name, tuple(requirements), translations)


# ---------------------------------------------------------------------------
# Loading


def load_catalog_file(path: str | Path) -> dict:
    """Read a catalog file and load it (`load_catalog`); returns the counts."""
    return load_catalog(data=read_catalog_file(path), source=str(path))


def load_catalog(*, data: dict, source: str) -> dict:
    """Validate a catalog document and upsert it in one transaction.

    docs/design.md: "Upserts by code/slug; loading the same file twice changes
    nothing." A bad catalog (unknown credential in a requirement, unknown
    level or kind, negative count, …) is refused whole with the path of the
    bad entry: `CatalogError`, nothing written. Returns, per kind of row,
    how many were created, updated and unchanged (and, for options and
    requirements, deleted).
    """
    try:
        catalog = parse_catalog(data)
    except CatalogError as exc:
        exc.source = source
        raise
    with transaction.atomic():
        counts, competency_ids = _load_base(catalog)
        for name, section in _sections.items():
            counts[name] = section.load(catalog.sections[name], competency_ids)
    return counts


def _load_base(catalog: CatalogFile) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Write the base's sections; the counts per kind of row, and each competency's id by slug."""
    counts: dict[str, dict[str, int]] = {}
    counts["credentials"], _ = upsert(Credential, key="code", rows={
        c.code: columns(c, "kind", "title", "valid_days", "retired_on", "accepted_until", "names")
        for c in catalog.credentials
    })
    counts["metrics"], _ = upsert(
        Metric, key="slug", rows={m.slug: columns(m, "name", "unit", "names") for m in catalog.metrics}
    )
    described = ("name", "names", "description", "descriptions", "position")
    counts["centers"], center_ids = upsert(
        CenterOfExcellence, key="slug", rows={c.slug: columns(c, *described) for c in catalog.centers}
    )
    counts["competencies"], competency_ids = upsert(Competency, key="slug", rows={
        c.slug: columns(c, *described, center_id=center_ids[center.slug])
        for center in catalog.centers
        for c in center.competencies
    })
    counts["options"], counts["requirements"] = sync_options(catalog.competencies, competency_ids)
    return counts, competency_ids
