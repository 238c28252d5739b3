"""The achievement evaluation engine (DESIGN.md, "Evaluation (as of a day D)").

One job: given a day D and a set of organizations, compute every
competency's evaluated and effective level, each option's progress, each
requirement's contributors and gap, the employees one credential away, and
the key people, with a FIXED number of queries whatever the number of
organizations, employees or competencies:

- the catalog (competencies, options, requirements, the credentials and
  metrics they name): 5 queries, once per call, or none when the caller
  passes a `Catalog` it loaded for several batches;
- per call: the organizations (market), the associations covering D, the
  valid earned credentials of those employees restricted to the codes the
  catalog uses, the metric values in the largest window, the overrides
  active on D: 5 queries.

Everything else happens in memory. Nothing here writes: the nightly job and
the services store what this module computes; the pages read it, or call
`evaluate(..., details=True)` live for one organization.

Rules, in DESIGN.md's words (every end date is the first day something no
longer holds):

- An employee counts for O on D when an association with O covers D
  (`starts_on <= D < ends_on`, or no end).
- An earned credential is valid on D when `earned_on <= D`, `D < expires_on`
  where it has one, and `D < accepted_until` where its credential has one.
- An option is met when every requirement in it holds (an option without
  requirements is never met: an empty option in the catalog is a mistake,
  not a free level). A level is attained when any of its options is met.
- Evaluated level: gold if a gold option is met, else silver if a silver
  option is met, else none. Gold alone is enough for gold.
- Effective level: the higher of the evaluated level and the level of an
  override active on D (`state == active`, `starts_on <= D < expires_on`).
  An override never lowers a level.

Progress: a requirement's progress is `have / need` capped at 1; an
option's progress is the MEAN of its requirements' progress, so an option
whose consumption is met but whose people are missing shows half way.

Requirement kinds live in `REQUIREMENT_KINDS` (kind -> evaluator): a new
kind is one entry, a subclass of `RequirementKind`.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import (
    LEVEL_RANK,
    Association,
    AttainmentOption,
    Competency,
    Credential,
    EarnedCredential,
    Level,
    Metric,
    MetricValue,
    Organization,
    Override,
    Requirement,
    higher_level,
)

ONE_DAY = datetime.timedelta(days=1)

# ---------------------------------------------------------------------------
# Results


class Contributor(NamedTuple):
    """An employee who counts for the organization and satisfies a requirement, and through which credential(s)."""

    employee_id: int
    name: str
    credentials: list[str]


class OneAway(NamedTuple):
    """An employee who counts for the organization and lacks exactly one credential; any one of `missing` would do."""

    employee_id: int
    name: str
    missing: list[str]


class KeyPerson(NamedTuple):
    """An employee whose departure alone would lower the effective level to `drops_to_level`."""

    employee_id: int
    name: str
    drops_to_level: str


class OverrideInfo(NamedTuple):
    id: int
    level: str
    expires_on: datetime.date


@dataclass(slots=True)
class RequirementResult:
    requirement_id: int
    kind: str
    met: bool
    have: int | Decimal
    need: int | Decimal
    unit: str
    progress: float
    summary: str = ""  # plain words of the requirement (details only)
    gap: str = ""  # plain words of what is missing, "" when met (details only)
    contributors: Sequence[Contributor] = ()  # details only
    one_away: Sequence[OneAway] = ()  # details only, unmet certified_people


@dataclass(slots=True)
class OptionResult:
    option_id: int
    level: str
    name: str
    met: bool
    progress: float  # mean of its requirements' progress
    requirements: list[RequirementResult]


@dataclass(slots=True)
class CompetencyResult:
    organization_id: int
    competency_id: int
    evaluated_level: str
    effective_level: str
    override: OverrideInfo | None
    met_option_id: int | None
    options: list[OptionResult]
    key_people: list[KeyPerson] = field(default_factory=list)  # details only

    @property
    def next_level(self) -> str | None:
        """The level above the evaluated one, None at gold."""
        return {Level.NONE: Level.SILVER, Level.SILVER: Level.GOLD}.get(self.evaluated_level)

    @property
    def gap_options(self) -> list[OptionResult]:
        """Options of the levels above the evaluated one (for none: silver and gold, since gold alone is enough)."""
        rank = LEVEL_RANK[self.evaluated_level]
        return [o for o in self.options if LEVEL_RANK[o.level] > rank]

    @property
    def next_level_progress(self) -> float:
        """The best progress among options of the next level; 1.0 at gold."""
        nxt = self.next_level
        if nxt is None:
            return 1.0
        return max((o.progress for o in self.options if o.level == nxt), default=0.0)

    def summary(self) -> dict:
        """The compact form stored in `CompetencyStatus.details` for the list page."""
        return {
            "met_option_id": self.met_option_id,
            "next_level_progress": round(self.next_level_progress, 4),
            "options": [
                {"id": o.option_id, "level": o.level, "met": o.met, "progress": round(o.progress, 4)}
                for o in self.options
            ],
        }


# ---------------------------------------------------------------------------
# The catalog, loaded once per call (or once per run and passed in)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    id: int
    slug: str
    name: str
    unit: str


@dataclass(frozen=True, slots=True)
class _Lookups:
    ids_by_code: dict[str, int]
    metrics: dict[str, MetricSpec]


@dataclass(frozen=True, slots=True)
class RequirementSpec:
    id: int
    kind: str
    params: dict
    compiled: Any = None  # what the kind's `compile` made of the params
    handler: Any = None  # the `RequirementKind` that evaluates it


@dataclass(frozen=True, slots=True)
class OptionSpec:
    id: int
    level: str
    name: str
    requirements: tuple[RequirementSpec, ...]


@dataclass(frozen=True, slots=True)
class CompetencySpec:
    id: int
    slug: str
    name: str
    options: tuple[OptionSpec, ...]  # silver options first, then gold, each by position


@dataclass(frozen=True, slots=True)
class Catalog:
    competencies: tuple[CompetencySpec, ...]
    credential_codes: dict[int, str]  # id -> code of every credential the requirements name
    accepted_until: dict[int, datetime.date]  # id -> first day an earned one no longer counts
    metrics: dict[str, MetricSpec]  # by slug, those the requirements name
    max_window_days: int
    by_id: dict[int, CompetencySpec]

    def competency(self, competency_id: int) -> CompetencySpec | None:
        return self.by_id.get(competency_id)

    def credentials_of(self, competency_id: int) -> set[int]:
        """Credential ids the competency's requirements name (any kind, any level)."""
        spec = self.competency(competency_id)
        if spec is None:
            return set()
        ids = set()
        for option in spec.options:
            for req in option.requirements:
                ids |= req.handler.credential_ids(req)
        return ids


def catalog_snapshot() -> Catalog:
    """The catalog as the engine needs it: 5 queries (competencies, options, requirements, credentials, metrics)."""
    competencies = list(
        Competency.objects.order_by("center__position", "position", "name", "pk").values_list("pk", "slug", "name")
    )
    options = list(AttainmentOption.objects.order_by().values_list("pk", "competency_id", "level", "name", "position"))
    requirements = list(Requirement.objects.order_by().values_list("pk", "option_id", "kind", "position", "params"))

    codes: set[str] = set()
    slugs: set[str] = set()
    for _pk, _option, kind, _pos, params in requirements:
        handler = REQUIREMENT_KINDS.get(kind)
        if handler is not None:
            codes |= handler.credential_codes(params)
            slugs |= set(handler.metric_windows(params))
    credentials = list(
        Credential.objects.filter(code__in=codes).order_by().values_list("pk", "code", "accepted_until")
    )
    metrics = {
        slug: MetricSpec(pk, slug, name, unit)
        for pk, slug, name, unit in (
            Metric.objects.filter(slug__in=slugs).order_by().values_list("pk", "slug", "name", "unit")
        )
    }
    ids_by_code = {code: pk for pk, code, _until in credentials}
    lookups = _Lookups(ids_by_code=ids_by_code, metrics=metrics)

    reqs_by_option: dict[int, list] = defaultdict(list)
    max_window = 0
    for pk, option_id, kind, position, params in sorted(requirements, key=lambda r: (r[1], r[3], r[0])):
        handler = REQUIREMENT_KINDS.get(kind)
        compiled = handler.compile(params, lookups) if handler else None
        if handler:
            max_window = max([max_window, *handler.metric_windows(params).values()])
        reqs_by_option[option_id].append(RequirementSpec(pk, kind, params, compiled, handler or _UNKNOWN))

    options_by_competency: dict[int, list] = defaultdict(list)
    for pk, competency_id, level, name, position in sorted(
        options, key=lambda o: (o[1], LEVEL_RANK.get(o[2], 9), o[4], o[0])
    ):
        options_by_competency[competency_id].append(OptionSpec(pk, level, name, tuple(reqs_by_option[pk])))

    specs = tuple(CompetencySpec(pk, slug, name, tuple(options_by_competency[pk])) for pk, slug, name in competencies)
    return Catalog(
        competencies=specs,
        credential_codes={pk: code for pk, code, _until in credentials},
        accepted_until={pk: until for pk, _code, until in credentials if until is not None},
        metrics=metrics,
        max_window_days=max_window,
        by_id={c.id: c for c in specs},
    )


# ---------------------------------------------------------------------------
# What the engine knows of one organization on D


@dataclass(slots=True)
class OrganizationFacts:
    organization_id: int
    market: str
    day: datetime.date
    members: dict[int, str]  # employees who count for O on D -> display name
    held: dict[int, frozenset[int]]  # member -> credential ids valid on D (catalog ones; members holding none absent)
    # metric id -> (period_end, value) in the largest window of the catalog
    metric_points: dict[int, list[tuple[datetime.date, Decimal]]]
    codes: dict[int, str]
    # credential id -> members holding it valid on D: a requirement then costs a few set operations
    # per credential it names, not a loop over the organization's people.
    holders: dict[int, frozenset[int]] = field(default_factory=dict)
    _sums: dict[tuple[int, int], Decimal] = field(default_factory=dict)

    def __post_init__(self):
        if not self.holders and self.held:
            holders: dict[int, set[int]] = defaultdict(set)
            for employee_id, creds in self.held.items():
                for credential_id in creds:
                    holders[credential_id].add(employee_id)
            self.holders = {c: frozenset(e) for c, e in holders.items()}

    def metric_sum(self, metric_id: int, window_days: int) -> Decimal:
        """The sum of the metric's values with `period_end` in `(D - window_days, D]`.

        Memoized: many competencies require the same metric over the same window.
        """
        key = (metric_id, window_days)
        if key not in self._sums:
            start = self.day - datetime.timedelta(days=window_days)
            points = self.metric_points.get(metric_id, ())
            self._sums[key] = sum((v for period_end, v in points if start < period_end <= self.day), Decimal(0))
        return self._sums[key]

    def without(self, employee_id: int) -> OrganizationFacts:
        """The same organization had `employee_id` left: what "key people" re-evaluates."""
        members = {e: n for e, n in self.members.items() if e != employee_id}
        held = {e: c for e, c in self.held.items() if e != employee_id}
        return replace(self, members=members, held=held, holders={}, _sums={})


# ---------------------------------------------------------------------------
# Requirement kinds


def format_number(value) -> str:
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,.2f}"


class RequirementKind:
    """One kind of requirement. Subclass and add an entry to `REQUIREMENT_KINDS`."""

    def credential_codes(self, params: dict) -> set[str]:
        """Credential codes the loader must fetch for this requirement."""
        return set()

    def metric_windows(self, params: dict) -> dict[str, int]:
        """Metric slug -> window in days the loader must fetch for this requirement."""
        return {}

    def compile(self, params: dict, lookups: _Lookups) -> Any:
        return None

    def credential_ids(self, req: RequirementSpec) -> set[int]:
        return set()

    def evaluate(self, req: RequirementSpec, facts: OrganizationFacts, *, details: bool) -> RequirementResult:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _People:
    mode: str  # any_of | all_of | groups
    count: int
    groups: tuple[frozenset[int], ...]  # a person qualifies holding one valid credential of every group
    group_codes: tuple[tuple[str, ...], ...]  # the same, as codes (unknown codes included, for the words)
    union: frozenset[int]


class CertifiedPeople(RequirementKind):
    """At least `count` distinct employees who count for O on D, each holding a valid credential
    from `any_of`, or every credential in `all_of`, or one credential from every group in `groups`.

    All three are one rule: `any_of` is one group, `all_of` is one group per code.
    """

    def _groups(self, params: dict) -> tuple[str, list[list[str]]]:
        if params.get("any_of") is not None:
            return "any_of", [list(params["any_of"])]
        if params.get("all_of") is not None:
            return "all_of", [[code] for code in params["all_of"]]
        return "groups", [list(g) for g in params.get("groups") or []]

    def credential_codes(self, params):
        return {code for group in self._groups(params)[1] for code in group}

    def compile(self, params, lookups):
        mode, groups = self._groups(params)
        ids = tuple(frozenset(lookups.ids_by_code[c] for c in g if c in lookups.ids_by_code) for g in groups)
        return _People(
            mode=mode,
            count=int(params.get("count", 1)),
            groups=ids,
            group_codes=tuple(tuple(g) for g in groups),
            union=frozenset().union(*ids) if ids else frozenset(),
        )

    def credential_ids(self, req):
        return set(req.compiled.union)

    @staticmethod
    def _what(people: _People) -> str:
        def one_group(codes):
            if len(codes) == 1:
                return codes[0]
            return _("one of %(codes)s") % {"codes": ", ".join(codes)}

        if people.mode == "all_of":
            codes = [g[0] for g in people.group_codes]
            if len(codes) == 1:
                return codes[0]
            return _("all of %(codes)s") % {"codes": ", ".join(codes)}
        return _(" and ").join(one_group(g) for g in people.group_codes)

    def evaluate(self, req, facts, *, details):
        people: _People = req.compiled
        holders = facts.holders
        qualifying: set[int] | frozenset[int] = frozenset()  # a requirement naming no credential: no one
        for position, group in enumerate(people.groups):
            in_group = set().union(*[holders[c] for c in group if c in holders])
            qualifying = in_group if position == 0 else qualifying & in_group
            if not qualifying:
                break
        have, need = len(qualifying), people.count
        met = have >= need
        result = RequirementResult(
            requirement_id=req.id,
            kind="certified_people",
            met=met,
            have=have,
            need=need,
            unit="people",
            progress=1.0 if need <= 0 else min(have / need, 1.0),
        )
        if not details:
            return result
        what = self._what(people)
        result.one_away = []
        result.summary = ngettext(
            "%(count)s person with %(what)s", "%(count)s people with %(what)s", need
        ) % {"count": need, "what": what}
        result.contributors = sorted(
            (
                Contributor(
                    e, facts.members[e], sorted(facts.codes[c] for c in facts.held[e] & people.union)
                )
                for e in qualifying
            ),
            key=lambda c: (c.name.lower(), c.employee_id),
        )
        if not met:
            missing = need - have
            result.gap = ngettext(
                "%(count)s more person with %(what)s", "%(count)s more people with %(what)s", missing
            ) % {"count": missing, "what": what}
            one_away = []
            empty: frozenset[int] = frozenset()
            for employee_id, name in facts.members.items():
                creds = facts.held.get(employee_id, empty)
                lacking = [i for i, g in enumerate(people.groups) if not (creds & g)]
                if len(lacking) == 1:
                    one_away.append(OneAway(employee_id, name, list(people.group_codes[lacking[0]])))
            result.one_away = sorted(one_away, key=lambda o: (o.name.lower(), o.employee_id))
        return result


@dataclass(frozen=True, slots=True)
class _Threshold:
    metric: MetricSpec | None
    slug: str
    window_days: int
    by_market: dict[str, Decimal]  # `at_least` by market; a plain number applies to every market
    default: Decimal  # for a market the map does not name: the developed figure


class MetricThreshold(RequirementKind):
    """The sum of O's values of `metric` with `period_end` in `(D - window_days, D]` is at least
    `at_least` (a number, or a map by the organization's market)."""

    def metric_windows(self, params):
        return {params["metric"]: int(params.get("window_days", 365))}

    def compile(self, params, lookups):
        at_least = params.get("at_least", 0)
        if isinstance(at_least, dict):
            by_market = {market: Decimal(str(value)) for market, value in at_least.items()}
            default = by_market.get("developed", Decimal(0))
        else:
            by_market, default = {}, Decimal(str(at_least))
        return _Threshold(
            metric=lookups.metrics.get(params["metric"]),
            slug=params["metric"],
            window_days=int(params.get("window_days", 365)),
            by_market=by_market,
            default=default,
        )

    def evaluate(self, req, facts, *, details):
        spec: _Threshold = req.compiled
        need = spec.by_market.get(facts.market, spec.default)
        have = facts.metric_sum(spec.metric.id, spec.window_days) if spec.metric is not None else Decimal(0)
        met = have >= need
        unit = spec.metric.unit if spec.metric else ""
        result = RequirementResult(
            requirement_id=req.id,
            kind="metric",
            met=met,
            have=have,
            need=need,
            unit=unit,
            progress=1.0 if need <= 0 else float(min(have / need, Decimal(1))),
        )
        if not details:
            return result
        result.contributors, result.one_away = [], []  # a figure of the organization: no one contributes
        name = spec.metric.name if spec.metric else spec.slug

        def amount(value):
            return f"{unit} {format_number(value)}" if unit else format_number(value)

        result.summary = _("%(amount)s %(name)s in the %(days)s-day window") % {
            "amount": amount(need),
            "name": name,
            "days": spec.window_days,
        }
        if not met:
            result.gap = _("%(amount)s more %(name)s in the %(days)s-day window") % {
                "amount": amount(need - have),
                "name": name,
                "days": spec.window_days,
            }
        return result


class UnknownKind(RequirementKind):
    """A kind this engine does not know is never met: it cannot be proven."""

    def evaluate(self, req, facts, *, details):
        return RequirementResult(
            requirement_id=req.id,
            kind=req.kind,
            met=False,
            have=0,
            need=1,
            unit="",
            progress=0.0,
            summary=_("Unknown requirement kind %(kind)s") % {"kind": req.kind} if details else "",
            contributors=[] if details else (),
            one_away=[] if details else (),
        )


REQUIREMENT_KINDS: dict[str, RequirementKind] = {
    "certified_people": CertifiedPeople(),
    "metric": MetricThreshold(),
}
_UNKNOWN = UnknownKind()


def requirement_kind(kind: str) -> RequirementKind:
    return REQUIREMENT_KINDS.get(kind, _UNKNOWN)


# ---------------------------------------------------------------------------
# The engine


def batched(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    """Organization ids in sorted batches of `size` (the unit of set-based evaluation)."""
    for batch in itertools.batched(sorted(set(ids)), max(1, size)):
        yield list(batch)


def evaluate(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    details: bool = False,
    catalog: Catalog | None = None,
) -> dict[tuple[int, int], CompetencyResult]:
    """Every competency of the catalog for every organization, as of `day`.

    One `CompetencyResult` per organization × competency, level none
    included, keyed by `(organization_id, competency_id)`. Unknown
    organization ids are left out. `details=True` adds the words (summary,
    gap), contributors, employees one credential away and key people: what
    the competency page shows for one organization. The caller batches
    (see `batched`); the query count does not depend on the batch.
    """
    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return {}
    catalog = catalog if catalog is not None else catalog_snapshot()
    facts_by_org, overrides = _load(ids, day, catalog)

    results: dict[tuple[int, int], CompetencyResult] = {}
    for org_id, facts in facts_by_org.items():
        for competency in catalog.competencies:
            override = overrides.get((org_id, competency.id))
            results[(org_id, competency.id)] = _evaluate_competency(competency, facts, override, details=details)
    return results


def _evaluate_options(competency: CompetencySpec, facts: OrganizationFacts, *, details: bool) -> list[OptionResult]:
    # Plain loops: this runs for every organization × competency of the nightly batch.
    options = []
    for option in competency.options:
        reqs = [r.handler.evaluate(r, facts, details=details) for r in option.requirements]
        met, total = bool(reqs), 0.0
        for r in reqs:
            total += r.progress
            met = met and r.met
        options.append(
            OptionResult(option.id, option.level, option.name, met, total / len(reqs) if reqs else 0.0, reqs)
        )
    return options


def _evaluated_level(options: list[OptionResult]) -> tuple[str, int | None]:
    """Gold if a gold option is met, else silver if a silver option is met, else none; and the option that did it."""
    silver = None
    for o in options:
        if o.met:
            if o.level == Level.GOLD:
                return Level.GOLD, o.option_id
            if silver is None:
                silver = o.option_id
    return (Level.SILVER, silver) if silver is not None else (Level.NONE, None)


def _evaluate_competency(
    competency: CompetencySpec, facts: OrganizationFacts, override: OverrideInfo | None, *, details: bool
) -> CompetencyResult:
    options = _evaluate_options(competency, facts, details=details)
    evaluated, met_option_id = _evaluated_level(options)
    floor = override.level if override else Level.NONE
    effective = higher_level(evaluated, floor)  # an override raises, never lowers
    result = CompetencyResult(
        organization_id=facts.organization_id,
        competency_id=competency.id,
        evaluated_level=evaluated,
        effective_level=effective,
        override=override,
        met_option_id=met_option_id,
        options=options,
    )
    if details and evaluated != Level.NONE:
        result.key_people = _key_people(competency, facts, options, floor, effective)
    return result


def _key_people(
    competency: CompetencySpec, facts: OrganizationFacts, options: list[OptionResult], floor: str, effective: str
) -> list[KeyPerson]:
    """Employees E such that re-evaluating without E gives a lower level the override does not hold up.

    Only contributors can matter: removing anyone else changes no requirement.
    """
    candidates = {c.employee_id: c.name for o in options for r in o.requirements for c in r.contributors}
    key_people = []
    for employee_id, name in candidates.items():
        without, _option = _evaluated_level(_evaluate_options(competency, facts.without(employee_id), details=False))
        drops_to = higher_level(without, floor)
        if LEVEL_RANK[drops_to] < LEVEL_RANK[effective]:
            key_people.append(KeyPerson(employee_id, name, drops_to))
    return sorted(key_people, key=lambda k: (k.name.lower(), k.employee_id))


def _load(
    ids: list[int], day: datetime.date, catalog: Catalog
) -> tuple[dict[int, OrganizationFacts], dict[tuple[int, int], OverrideInfo]]:
    """The five set-based reads of one call. Tuples, not model instances: a batch holds thousands of rows."""
    # `.order_by()`: the models' default orderings would make the database sort what is read into dicts.
    covering = (
        Association.objects.filter(organization_id__in=ids, starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gt=day))
        .order_by()
    )
    markets = dict(Organization.objects.filter(pk__in=ids).order_by().values_list("pk", "market"))
    members: dict[int, dict[int, str]] = defaultdict(dict)
    for employee_id, org_id, name, email in covering.values_list(
        "employee_id", "organization_id", "employee__name", "employee__email"
    ):
        members[org_id][employee_id] = name or email

    # A retired credential no longer counts from `accepted_until`: leave those out of the read entirely.
    usable = [pk for pk in catalog.credential_codes if not catalog.accepted_until.get(pk, day + ONE_DAY) <= day]
    held: dict[int, set[int]] = defaultdict(set)
    if usable:
        earned = (
            EarnedCredential.objects.filter(
                credential_id__in=usable,
                earned_on__lte=day,
                employee_id__in=covering.values("employee_id"),
            )
            .filter(Q(expires_on__isnull=True) | Q(expires_on__gt=day))
            .values_list("employee_id", "credential_id")
        )
        for employee_id, credential_id in earned:
            held[employee_id].add(credential_id)

    points: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    metric_ids = [m.id for m in catalog.metrics.values()]
    if metric_ids and catalog.max_window_days > 0:
        values = MetricValue.objects.filter(
            organization_id__in=ids,
            metric_id__in=metric_ids,
            period_end__gt=day - datetime.timedelta(days=catalog.max_window_days),
            period_end__lte=day,
        ).values_list("organization_id", "metric_id", "period_end", "value")
        for org_id, metric_id, period_end, value in values:
            points[org_id][metric_id].append((period_end, value))

    overrides = {
        (org_id, competency_id): OverrideInfo(pk, level, expires_on)
        for pk, org_id, competency_id, level, expires_on in Override.objects.filter(
            organization_id__in=ids, state=Override.State.ACTIVE, starts_on__lte=day, expires_on__gt=day
        ).order_by().values_list("pk", "organization_id", "competency_id", "level", "expires_on")
    }

    facts = {}
    for org_id in ids:
        if org_id not in markets:
            continue
        org_members = members.get(org_id, {})
        facts[org_id] = OrganizationFacts(
            organization_id=org_id,
            market=markets[org_id],
            day=day,
            members=org_members,
            held={e: frozenset(held[e]) for e in org_members if held.get(e)},
            metric_points=points.get(org_id, {}),
            codes=catalog.credential_codes,
        )
    return facts, overrides
