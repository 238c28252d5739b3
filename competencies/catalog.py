"""The competency catalog file: validation and loading (CONTRACT.md, "Catalog file").

A catalog file lists the credentials, metrics, Centers of Excellence with
their competencies, levels, attainment options and requirements, the
membership plans and the benefits. Rules this loader keeps:

- **Refused whole.** `parse_catalog` checks the entire document and collects
  every problem, each with the path of the bad entry
  (`centers[0].competencies[1].levels.gold.options[0].requirements[2].any_of[1]`),
  before anything is written. A bad catalog writes nothing.
- **Self-contained.** A requirement may only name credentials and metrics the
  same file defines; a benefit only competencies the same file defines.
- **Upsert, never delete.** Credentials are matched by `code`; metrics,
  centers, competencies and benefits by `slug`; membership plans by `level`.
  Rows the file no longer mentions are left alone (overrides, statuses and
  earned credentials point at them); retire a credential with `retired_on`.
- **Options and requirements follow the file.** A competency's options are
  matched by level and position, its requirements by position; a row is
  written only when it differs, surplus rows are deleted. Loading the same
  file twice writes nothing the second time.
- **Retired credentials.** An earned credential of a retired one keeps
  counting until `accepted_until`, which defaults to one year after
  `retired_on` (DESIGN.md), as Microsoft did with the exams retired on
  2017-12-31.

Requirement kinds live in `REQUIREMENT_KINDS` (kind -> validator), as in the
evaluation engine: a new kind is one entry there and one there.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.db import models, transaction

from . import jsonsafe
from .dates import beyond_horizon
from .models import AttainmentOption, CenterOfExcellence, Competency, Credential, Metric, Requirement

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent / "catalog_data" / "default.yaml"

LEVELS = ("silver", "gold")
MARKETS = ("developed", "developing")
CREDENTIAL_KINDS = tuple(Credential.Kind.values)
FILE_SUFFIXES = (".yaml", ".yml", ".json")

Problem = tuple[str, str]  # (path in the document, message)


class CatalogError(Exception):
    """A catalog that cannot be loaded, with every problem found: `(path, message)` pairs."""

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None):
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self.problems)

    def lines(self) -> list[str]:
        """One line per problem: `<file>: <path>: <message>` (parts that are unknown left out)."""
        lines = []
        for path, message in self.problems:
            parts = [p for p in (self.source, path) if p]
            lines.append(": ".join([*parts, message]))
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


# ---------------------------------------------------------------------------
# The parsed catalog


@dataclass(frozen=True, slots=True)
class CredentialEntry:
    code: str
    kind: str
    title: str
    valid_days: int | None
    retired_on: datetime.date | None
    accepted_until: datetime.date | None  # already defaulted from retired_on


@dataclass(frozen=True, slots=True)
class MetricEntry:
    slug: str
    name: str
    unit: str


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


@dataclass(frozen=True, slots=True)
class CompetencyEntry:
    slug: str
    name: str
    description: str
    position: int  # file order within the center
    options: tuple[OptionEntry, ...]


@dataclass(frozen=True, slots=True)
class CenterEntry:
    slug: str
    name: str
    position: int
    competencies: tuple[CompetencyEntry, ...]


@dataclass(frozen=True, slots=True)
class PlanEntry:
    level: str
    price_usd: Decimal
    price_confirmed: bool


@dataclass(frozen=True, slots=True)
class BenefitEntry:
    slug: str
    name: str
    description: str
    price_usd: Decimal | None
    value_usd: Decimal | None
    membership_level: str  # "" for a competency benefit
    competency: str | None  # competency slug
    level: str  # "" for a membership benefit
    quantity: int | None


@dataclass(frozen=True, slots=True)
class Catalog:
    """A validated catalog document, in file order."""

    credentials: tuple[CredentialEntry, ...] = ()
    metrics: tuple[MetricEntry, ...] = ()
    centers: tuple[CenterEntry, ...] = ()
    memberships: tuple[PlanEntry, ...] = ()
    benefits: tuple[BenefitEntry, ...] = ()

    @property
    def competencies(self) -> list[CompetencyEntry]:
        return [c for center in self.centers for c in center.competencies]


# ---------------------------------------------------------------------------
# Validation helpers


def _at(path: str, key: str) -> str:
    # A key that cannot be shown as it is (a line break or another control character) is quoted, escaped:
    # each problem stays on one line.
    key = key if key.isprintable() else json.dumps(key)
    return f"{path}.{key}" if path else key


def _item(path: str, index: int) -> str:
    return f"{path}[{index}]"


_MISSING = object()
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class _Checker:
    """Collects problems while walking the document; helpers return None for a bad value."""

    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, value: Any, path: str, *, required: Iterable[str], optional: Iterable[str] = ()) -> dict | None:
        """A mapping with every `required` key and no key outside `required` + `optional`."""
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, not {_describe(value)}")
            return None
        required = list(required)
        allowed = set(required) | set(optional)
        for key in required:
            if key not in value:
                self.problem(_at(path, key), "is required")
        for key in value:
            if key not in allowed:
                self.problem(_at(path, str(key)), f"unknown field (expected one of {', '.join(sorted(allowed))})")
        return value

    def sequence(self, value: Any, path: str, *, non_empty: bool = False, what: str = "entry") -> list:
        if value is None and not non_empty:
            return []
        if not isinstance(value, list):
            self.problem(path, f"must be a list, not {_describe(value)}")
            return []
        if non_empty and not value:
            self.problem(path, f"needs at least one {what}")
        return value

    def text(self, entry: dict, key: str, path: str, *, max_length: int, required: bool = True) -> str | None:
        value = entry.get(key, _MISSING)
        if value is _MISSING or value is None:
            # a missing required key is already reported by `mapping`
            if value is None and required:
                self.problem(_at(path, key), "is required")
            return None if required else ""
        if not isinstance(value, str):
            self.problem(_at(path, key), f"must be text, not {_describe(value)} (quote it)")
            return None
        value = value.strip()
        if required and not value:
            self.problem(_at(path, key), "must not be empty")
            return None
        if refused := jsonsafe.refused_character(value):  # a NUL, which the database refuses
            self.problem(_at(path, key), refused)
            return None
        if len(value) > max_length:
            self.problem(_at(path, key), f"is longer than {max_length} characters")
            return None
        return value

    def slug(self, entry: dict, key: str, path: str, *, max_length: int = 50) -> str | None:
        value = self.text(entry, key, path, max_length=max_length)
        if value is not None and not _SLUG.match(value):
            self.problem(_at(path, key), f"{value!r} is not a slug (letters, digits, '-' and '_')")
            return None
        return value

    def choice(self, value: Any, path: str, choices: Iterable[str], what: str) -> str | None:
        choices = list(choices)
        if value not in choices:
            self.problem(path, f"unknown {what} {_show(value)} (expected {' or '.join(choices)})")
            return None
        return value

    def whole(self, entry: dict, key: str, path: str, *, minimum: int, nullable: bool = True) -> int | None:
        """A whole number >= `minimum`; an absent key (or null, where `nullable`) gives None."""
        value = entry.get(key, _MISSING)
        if value is _MISSING or (value is None and nullable):
            return None
        if not _is_whole(value) or value < minimum:
            self.problem(_at(path, key), f"must be a whole number of at least {minimum}, not {_show(value)}")
            return None
        return value

    def amount(self, entry: dict, key: str, path: str, *, required: bool = False) -> Decimal | None:
        """A USD amount >= 0 with at most 2 decimals that fits the database (10 digits)."""
        value = entry.get(key)
        if value is None:
            if required and key in entry:
                self.problem(_at(path, key), "is required")
            return None
        if not _is_number(value) or value < 0:
            self.problem(_at(path, key), f"must be a number of at least 0, not {_show(value)}")
            return None
        try:
            amount = Decimal(str(value)).quantize(Decimal("0.01"))
        except InvalidOperation:
            amount = None
        if amount is None or amount != Decimal(str(value)) or amount >= Decimal("100000000"):
            self.problem(_at(path, key), f"must have at most 2 decimals and stay below 100,000,000, not {_show(value)}")
            return None
        return amount

    def date(self, entry: dict, key: str, path: str) -> datetime.date | None:
        value = entry.get(key)
        if value is None:
            return None
        day = value if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime) else None
        if isinstance(value, str) and _ISO_DATE.match(value):
            try:
                day = datetime.date.fromisoformat(value)
            except ValueError:
                pass
        if day is None:
            self.problem(_at(path, key), f"must be a date (YYYY-MM-DD), not {_show(value)}")
        elif why := beyond_horizon(day):
            self.problem(_at(path, key), f"{why}: {day.isoformat()}")
            day = None
        return day

    def unique(self, seen: dict[str, str], value: str | None, path: str, what: str) -> None:
        """Report a second entry with the same key, naming where the first one is."""
        if value is None:
            return
        if value in seen:
            self.problem(path, f"duplicate {what} {value!r} (first at {seen[value]})")
        else:
            seen[value] = path


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(type(value), _show(value))


def one_year_after(day: datetime.date) -> datetime.date:
    """The same day a year later; 29 February goes to 1 March, so a full year has passed."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return datetime.date(day.year + 1, 3, 1)


# ---------------------------------------------------------------------------
# Requirement kinds


@dataclass(frozen=True, slots=True)
class Names:
    """What a requirement may refer to: the credential codes and metric slugs the file defines."""

    credentials: frozenset[str]
    metrics: frozenset[str]


RequirementValidator = Callable[[dict, str, _Checker, Names], None]


def _check_codes(value: Any, path: str, check: _Checker, names: Names) -> None:
    codes = check.sequence(value, path, non_empty=True, what="credential code")
    for i, code in enumerate(codes):
        if not isinstance(code, str):
            check.problem(_item(path, i), f"must be a credential code (text), not {_describe(code)}")
        elif code not in names.credentials:
            check.problem(_item(path, i), f"unknown credential {code!r}")


def _check_certified_people(req: dict, path: str, check: _Checker, names: Names) -> None:
    """`count` people, each holding one of `any_of`, every one of `all_of`, or one of every group in `groups`."""
    if check.mapping(req, path, required=["kind", "count"], optional=["any_of", "all_of", "groups"]) is None:
        return
    if "count" in req:
        check.whole(req, "count", path, minimum=1, nullable=False)
    given = [key for key in ("any_of", "all_of", "groups") if key in req]
    if len(given) != 1:
        got = ", ".join(given) if given else "none"
        check.problem(path, f"give exactly one of any_of, all_of, groups (got {got})")
    for key in given:
        if key == "groups":
            groups = check.sequence(req[key], _at(path, key), non_empty=True, what="group")
            for i, group in enumerate(groups):
                _check_codes(group, _item(_at(path, key), i), check, names)
        else:
            _check_codes(req[key], _at(path, key), check, names)


def _check_threshold(value: Any, path: str, check: _Checker) -> None:
    if _is_number(value):
        if value < 0:
            check.problem(path, f"must be at least 0, not {_show(value)}")
        return
    if not isinstance(value, dict) or not value:
        check.problem(path, f"must be a number of at least 0 or a map by market (developed, developing), not {_show(value)}")
        return
    for market, figure in value.items():
        if market not in MARKETS:
            check.problem(_at(path, str(market)), f"unknown market {_show(market)} (expected developed or developing)")
        elif not _is_number(figure) or figure < 0:
            check.problem(_at(path, market), f"must be a number of at least 0, not {_show(figure)}")
    if "developed" not in value:
        # the developed figure is what every market without its own figure is held to
        check.problem(_at(path, "developed"), "is required in a map by market")


def _check_metric(req: dict, path: str, check: _Checker, names: Names) -> None:
    """The sum of the organization's `metric` in the last `window_days` (365 if not given) is at least `at_least`."""
    if check.mapping(req, path, required=["kind", "metric", "at_least"], optional=["window_days"]) is None:
        return
    if "metric" in req:
        slug = req["metric"]
        if not isinstance(slug, str) or slug not in names.metrics:
            check.problem(_at(path, "metric"), f"unknown metric {_show(slug)}")
    check.whole(req, "window_days", path, minimum=1, nullable=False)
    if "at_least" in req:
        _check_threshold(req["at_least"], _at(path, "at_least"), check)


REQUIREMENT_KINDS: dict[str, RequirementValidator] = {
    "certified_people": _check_certified_people,
    "metric": _check_metric,
}


# ---------------------------------------------------------------------------
# Parsing

TOP_LEVEL = ("credentials", "metrics", "centers", "memberships", "benefits")


def parse_catalog(data: dict) -> Catalog:
    """Validate a whole catalog document (CONTRACT.md, "Catalog file") and return it parsed.

    Every problem is collected, each with the path of the bad entry, and
    raised together as one `CatalogError`: a bad catalog is refused whole.
    """
    check = _Checker()
    if data is None:
        raise CatalogError([("", "the catalog is empty")])
    if not isinstance(data, dict):
        raise CatalogError([("", f"the catalog must be a mapping of {', '.join(TOP_LEVEL)}, not {_describe(data)}")])
    check.mapping(data, "", required=[], optional=TOP_LEVEL)

    credentials = _parse_credentials(data.get("credentials"), check)
    metrics = _parse_metrics(data.get("metrics"), check)
    names = Names(
        credentials=frozenset(c.code for c in credentials if c is not None),
        metrics=frozenset(m.slug for m in metrics if m is not None),
    )
    centers = _parse_centers(data.get("centers"), check, names)
    competency_slugs = {c.slug for center in centers if center for c in center.competencies}
    memberships = _parse_memberships(data.get("memberships"), check)
    benefits = _parse_benefits(data.get("benefits"), check, competency_slugs)

    if check.problems:
        raise CatalogError(check.problems)
    return Catalog(
        credentials=tuple(credentials),
        metrics=tuple(metrics),
        centers=tuple(centers),
        memberships=tuple(memberships),
        benefits=tuple(benefits),
    )


def _parse_credentials(value: Any, check: _Checker) -> list[CredentialEntry | None]:
    entries, seen = [], {}
    for i, raw in enumerate(check.sequence(value, "credentials")):
        path = _item("credentials", i)
        entry = check.mapping(
            raw, path, required=["code", "title"], optional=["kind", "valid_days", "retired_on", "accepted_until"]
        )
        if entry is None:
            entries.append(None)
            continue
        code = check.text(entry, "code", path, max_length=40)
        check.unique(seen, code, _at(path, "code"), "code")
        title = check.text(entry, "title", path, max_length=300)
        kind = check.choice(entry.get("kind", "exam"), _at(path, "kind"), CREDENTIAL_KINDS, "credential kind")
        valid_days = check.whole(entry, "valid_days", path, minimum=1)
        retired_on = check.date(entry, "retired_on", path)
        accepted_until = check.date(entry, "accepted_until", path)
        if accepted_until is None and retired_on is not None and entry.get("accepted_until") is None:
            accepted_until = one_year_after(retired_on)
        if retired_on and accepted_until and accepted_until < retired_on:
            check.problem(_at(path, "accepted_until"), f"must not be before retired_on ({retired_on})")
        # A credential with a bad field still defines its code, so requirements naming it get no second problem.
        entries.append(
            CredentialEntry(code, kind, title, valid_days, retired_on, accepted_until) if code is not None else None
        )
    return entries


def _parse_metrics(value: Any, check: _Checker) -> list[MetricEntry | None]:
    entries, seen = [], {}
    for i, raw in enumerate(check.sequence(value, "metrics")):
        path = _item("metrics", i)
        entry = check.mapping(raw, path, required=["slug", "name"], optional=["unit"])
        if entry is None:
            entries.append(None)
            continue
        slug = check.slug(entry, "slug", path, max_length=80)
        check.unique(seen, slug, _at(path, "slug"), "slug")
        name = check.text(entry, "name", path, max_length=200)
        unit = check.text(entry, "unit", path, max_length=20, required=False)
        entries.append(MetricEntry(slug, name, unit) if slug is not None else None)
    return entries


def _parse_centers(value: Any, check: _Checker, names: Names) -> list[CenterEntry | None]:
    centers, seen_centers, seen_competencies = [], {}, {}
    for i, raw in enumerate(check.sequence(value, "centers")):
        path = _item("centers", i)
        entry = check.mapping(raw, path, required=["slug", "name"], optional=["competencies"])
        if entry is None:
            centers.append(None)
            continue
        slug = check.slug(entry, "slug", path)
        check.unique(seen_centers, slug, _at(path, "slug"), "center slug")
        name = check.text(entry, "name", path, max_length=200)
        competencies = []
        for j, raw_competency in enumerate(check.sequence(entry.get("competencies"), _at(path, "competencies"))):
            competency = _parse_competency(
                raw_competency, _item(_at(path, "competencies"), j), j, check, names, seen_competencies
            )
            if competency is not None:
                competencies.append(competency)
        centers.append(CenterEntry(slug, name, i, tuple(competencies)))
    return centers


def _parse_competency(
    raw: Any, path: str, position: int, check: _Checker, names: Names, seen: dict[str, str]
) -> CompetencyEntry | None:
    entry = check.mapping(raw, path, required=["slug", "name", "levels"], optional=["description"])
    if entry is None:
        return None
    slug = check.slug(entry, "slug", path)
    check.unique(seen, slug, _at(path, "slug"), "competency slug")
    name = check.text(entry, "name", path, max_length=200)
    description = check.text(entry, "description", path, max_length=10_000, required=False)
    options: list[OptionEntry] = []
    levels_path = _at(path, "levels")
    levels = entry.get("levels")
    if "levels" in entry:
        if not isinstance(levels, dict) or not levels:
            check.problem(levels_path, "must map silver and/or gold to their options")
            levels = {}
        for level, raw_level in levels.items():
            level_path = _at(levels_path, str(level))
            if check.choice(level, level_path, LEVELS, "level") is None:
                continue
            level_entry = check.mapping(raw_level, level_path, required=["options"])
            if level_entry is None:
                continue
            options_path = _at(level_path, "options")
            for k, raw_option in enumerate(check.sequence(level_entry.get("options"), options_path, non_empty=True, what="option")):
                option = _parse_option(raw_option, _item(options_path, k), level, k, check, names)
                if option is not None:
                    options.append(option)
    return CompetencyEntry(slug, name, description or "", position, tuple(options))


def _parse_option(raw: Any, path: str, level: str, position: int, check: _Checker, names: Names) -> OptionEntry | None:
    entry = check.mapping(raw, path, required=["name", "requirements"])
    if entry is None:
        return None
    name = check.text(entry, "name", path, max_length=200)
    requirements = []
    requirements_path = _at(path, "requirements")
    # An option without requirements would be a free level: the engine never meets one, so refuse it here.
    for r, raw_req in enumerate(
        check.sequence(entry.get("requirements"), requirements_path, non_empty=True, what="requirement")
    ):
        req_path = _item(requirements_path, r)
        if not isinstance(raw_req, dict):
            check.problem(req_path, f"must be a mapping, not {_describe(raw_req)}")
            continue
        kind = raw_req.get("kind")
        validator = REQUIREMENT_KINDS.get(kind) if isinstance(kind, str) else None
        if "kind" not in raw_req:
            check.problem(_at(req_path, "kind"), "is required")
            continue
        if validator is None:
            known = ", ".join(sorted(REQUIREMENT_KINDS))
            check.problem(_at(req_path, "kind"), f"unknown requirement kind {_show(kind)} (known: {known})")
            continue
        validator(raw_req, req_path, check, names)
        requirements.append(RequirementEntry(kind, {k: v for k, v in raw_req.items() if k != "kind"}))
    return OptionEntry(level, position, name, tuple(requirements))


def _parse_memberships(value: Any, check: _Checker) -> list[PlanEntry]:
    plans, seen = [], {}
    for i, raw in enumerate(check.sequence(value, "memberships")):
        path = _item("memberships", i)
        entry = check.mapping(raw, path, required=["level", "price_usd"], optional=["price_confirmed"])
        if entry is None:
            continue
        level = check.choice(entry.get("level"), _at(path, "level"), LEVELS, "membership level") if "level" in entry else None
        check.unique(seen, level, _at(path, "level"), "membership level")
        price = check.amount(entry, "price_usd", path, required=True)
        confirmed = entry.get("price_confirmed", True)
        if not isinstance(confirmed, bool):
            check.problem(_at(path, "price_confirmed"), f"must be true or false, not {_show(confirmed)}")
        plans.append(PlanEntry(level, price, confirmed is not False))
    return plans


def _parse_benefits(value: Any, check: _Checker, competency_slugs: set[str]) -> list[BenefitEntry]:
    benefits, seen = [], {}
    for i, raw in enumerate(check.sequence(value, "benefits")):
        path = _item("benefits", i)
        entry = check.mapping(
            raw,
            path,
            required=["slug", "name"],
            optional=["description", "price_usd", "value_usd", "membership_level", "competency", "level", "quantity"],
        )
        if entry is None:
            continue
        slug = check.slug(entry, "slug", path, max_length=80)
        check.unique(seen, slug, _at(path, "slug"), "benefit slug")
        name = check.text(entry, "name", path, max_length=200)
        description = check.text(entry, "description", path, max_length=10_000, required=False)
        price = check.amount(entry, "price_usd", path)
        worth = check.amount(entry, "value_usd", path)
        quantity = check.whole(entry, "quantity", path, minimum=0)

        # Entitled by a membership level, or by a competency at a level: exactly one of the two.
        membership_level, competency, level = (entry.get(k) for k in ("membership_level", "competency", "level"))
        if membership_level is not None and (competency is not None or level is not None):
            check.problem(path, "give either membership_level, or competency and level, not both")
        elif membership_level is not None:
            check.choice(membership_level, _at(path, "membership_level"), LEVELS, "membership level")
        elif competency is None and level is None:
            check.problem(path, "give either membership_level, or competency and level")
        else:
            if competency is None:
                check.problem(_at(path, "competency"), "is required with level")
            elif competency not in competency_slugs:
                check.problem(_at(path, "competency"), f"unknown competency {_show(competency)}")
            if level is None:
                check.problem(_at(path, "level"), "is required with competency")
            else:
                check.choice(level, _at(path, "level"), LEVELS, "level")
        benefits.append(
            BenefitEntry(
                slug=slug,
                name=name,
                description=description or "",
                price_usd=price,
                value_usd=worth,
                membership_level=membership_level or "",
                competency=competency,
                level=level or "",
                quantity=quantity,
            )
        )
    return benefits


# ---------------------------------------------------------------------------
# Reading files


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML would keep the last silently),
    nesting deeper than `jsonsafe.MAX_DEPTH` (composing recurses), and reads an impossible date as text."""

    depth = 0

    def compose_node(self, parent, index):
        nested = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self.depth += nested
        try:
            if self.depth > jsonsafe.MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {jsonsafe.MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= nested


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable: the base constructor reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode):
    try:
        return loader.construct_yaml_timestamp(node)
    except (ValueError, OverflowError):  # 2017-02-30: text, which the checker refuses naming the field
        return loader.construct_scalar(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def read_catalog_file(path: str | Path) -> Any:
    """The document in a catalog file: YAML (`.yaml`, `.yml`) or JSON (`.json`).

    An unreadable file or a syntax error raises `CatalogError` naming the file
    and, when the parser gives one, the line and column.
    """
    path = Path(path)
    source = str(path)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise CatalogError([("", f"unsupported file type {path.suffix or '(none)'!r}: use .yaml, .yml or .json")], source=source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError([("", f"cannot read the file: {exc.strerror or exc}")], source=source) from None
    try:
        text = jsonsafe.decode(data)
        if path.suffix.lower() == ".json":
            return jsonsafe.loads(text)  # duplicate keys, depth, NaN, NUL: refused (competencies/jsonsafe.py)
    except jsonsafe.BadDocument as exc:
        where = exc.path or (f"line {exc.line}, column {exc.column}" if exc.line else "")
        raise CatalogError([(where, exc.reason)], source=source) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = ", ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        raise CatalogError([(where, message)], source=source) from None
    except yaml.YAMLError as exc:
        raise CatalogError([("", f"syntax error: {exc}")], source=source) from None
    except (ValueError, OverflowError) as exc:  # a number YAML cannot build (an integer of 5,000 digits)
        raise CatalogError([("", f"unreadable value: {str(exc).split(';')[0]}")], source=source) from None


def load_catalog_file(path: str | Path) -> dict:
    """Read a catalog file and load it (`load_catalog`); returns the counts."""
    return load_catalog(data=read_catalog_file(path), source=str(path))


# ---------------------------------------------------------------------------
# Loading


def _counts(**extra: int) -> dict[str, int]:
    return {"created": 0, "updated": 0, "unchanged": 0, **extra}


def _upsert(model: type[models.Model], *, key: str, rows: dict[str, dict]) -> tuple[dict[str, int], dict[str, int]]:
    """Create the rows whose `key` is new, update those that differ, leave the rest untouched.

    Two to four queries whatever the number of rows. Returns the counts and
    the primary key of every row by its key.
    """
    counts = _counts()
    existing = {getattr(obj, key): obj for obj in model.objects.filter(**{f"{key}__in": list(rows)})}
    new, changed, fields = [], [], set()
    for value, wanted in rows.items():
        obj = existing.get(value)
        if obj is None:
            new.append(model(**{key: value}, **wanted))
            continue
        diff = [name for name, want in wanted.items() if getattr(obj, name) != want]
        for name in diff:
            setattr(obj, name, wanted[name])
        if diff:
            changed.append(obj)
            fields.update(diff)
        else:
            counts["unchanged"] += 1
    if new:
        model.objects.bulk_create(new)
        counts["created"] = len(new)
    if changed:
        model.objects.bulk_update(changed, sorted(fields))
        counts["updated"] = len(changed)
    return counts, {getattr(obj, key): obj.pk for obj in [*existing.values(), *new]}


def load_catalog(*, data: dict, source: str) -> dict:
    """Validate a catalog document and upsert it in one transaction.

    CONTRACT.md: "Upserts by code/slug; loading the same file twice changes
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

    # Imported here: memberships depends on competencies, not the other way round.
    from memberships.models import Benefit, MembershipPlan

    counts: dict[str, dict[str, int]] = {}
    with transaction.atomic():
        counts["credentials"], _ = _upsert(
            Credential,
            key="code",
            rows={
                c.code: {
                    "kind": c.kind,
                    "title": c.title,
                    "valid_days": c.valid_days,
                    "retired_on": c.retired_on,
                    "accepted_until": c.accepted_until,
                }
                for c in catalog.credentials
            },
        )
        counts["metrics"], _ = _upsert(
            Metric, key="slug", rows={m.slug: {"name": m.name, "unit": m.unit} for m in catalog.metrics}
        )
        counts["centers"], center_ids = _upsert(
            CenterOfExcellence,
            key="slug",
            rows={c.slug: {"name": c.name, "position": c.position} for c in catalog.centers},
        )
        counts["competencies"], competency_ids = _upsert(
            Competency,
            key="slug",
            rows={
                c.slug: {
                    "center_id": center_ids[center.slug],
                    "name": c.name,
                    "description": c.description,
                    "position": c.position,
                }
                for center in catalog.centers
                for c in center.competencies
            },
        )
        counts["options"], counts["requirements"] = _sync_options(catalog, competency_ids)
        counts["memberships"], _ = _upsert(
            MembershipPlan,
            key="level",
            rows={p.level: {"price_usd": p.price_usd, "price_confirmed": p.price_confirmed} for p in catalog.memberships},
        )
        counts["benefits"], _ = _upsert(
            Benefit,
            key="slug",
            rows={
                b.slug: {
                    "name": b.name,
                    "description": b.description,
                    "price_usd": b.price_usd,
                    "value_usd": b.value_usd,
                    "membership_level": b.membership_level,
                    "competency_id": competency_ids[b.competency] if b.competency else None,
                    "level": b.level,
                    "quantity": b.quantity,
                }
                for b in catalog.benefits
            },
        )
    return counts


def _sync_options(catalog: Catalog, competency_ids: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """Make the options and requirements of the file's competencies what the file says.

    Options are matched by (competency, level, position), requirements by
    (option, position); only rows that differ are written, surplus rows
    deleted. Two reads, then at most one statement per kind of write.
    """
    option_counts, requirement_counts = _counts(deleted=0), _counts(deleted=0)
    ids = list(competency_ids.values())
    options = {
        (o.competency_id, o.level, o.position): o for o in AttainmentOption.objects.filter(competency_id__in=ids)
    }
    requirements = {
        (r.option_id, r.position): r for r in Requirement.objects.filter(option__competency_id__in=ids)
    }

    keep_options: set[int] = set()
    keep_requirements: set[int] = set()
    changed_options, changed_requirements, requirement_fields = [], [], set()
    new_options: list[AttainmentOption] = []
    new_requirements: list[tuple[AttainmentOption, Requirement]] = []  # option first saved, then its id copied

    for competency in catalog.competencies:
        competency_id = competency_ids[competency.slug]
        for entry in competency.options:
            option = options.get((competency_id, entry.level, entry.position))
            if option is None:
                option = AttainmentOption(
                    competency_id=competency_id, level=entry.level, position=entry.position, name=entry.name
                )
                new_options.append(option)
            else:
                keep_options.add(option.pk)
                if option.name != entry.name:
                    option.name = entry.name
                    changed_options.append(option)
                else:
                    option_counts["unchanged"] += 1
            for position, req in enumerate(entry.requirements):
                row = requirements.get((option.pk, position)) if option.pk else None
                if row is None:
                    new_requirements.append(
                        (option, Requirement(kind=req.kind, position=position, params=req.params))
                    )
                    continue
                keep_requirements.add(row.pk)
                diff = [name for name, want in (("kind", req.kind), ("params", req.params)) if getattr(row, name) != want]
                if diff:
                    row.kind, row.params = req.kind, req.params
                    changed_requirements.append(row)
                    requirement_fields.update(diff)
                else:
                    requirement_counts["unchanged"] += 1

    stale_options = [o.pk for o in options.values() if o.pk not in keep_options]
    # Requirements of a stale option go with it (cascade); count them as deleted too.
    stale_requirements = [r.pk for r in requirements.values() if r.pk not in keep_requirements]
    if stale_requirements:
        Requirement.objects.filter(pk__in=stale_requirements).delete()
        requirement_counts["deleted"] = len(stale_requirements)
    if stale_options:
        AttainmentOption.objects.filter(pk__in=stale_options).delete()
        option_counts["deleted"] = len(stale_options)
    if changed_options:
        AttainmentOption.objects.bulk_update(changed_options, ["name"])
        option_counts["updated"] = len(changed_options)
    if changed_requirements:
        Requirement.objects.bulk_update(changed_requirements, sorted(requirement_fields))
        requirement_counts["updated"] = len(changed_requirements)
    if new_options:
        AttainmentOption.objects.bulk_create(new_options)
        option_counts["created"] = len(new_options)
    if new_requirements:
        for option, row in new_requirements:
            row.option_id = option.pk
        Requirement.objects.bulk_create([row for _option, row in new_requirements])
        requirement_counts["created"] = len(new_requirements)
    return option_counts, requirement_counts
