"""The achievement evaluation engine (DESIGN.md, "Evaluation (as of a day D)").

One job: given a day D and a set of organizations, compute every
competency's evaluated and effective level, each option's progress, each
requirement's contributors and gap, the employees one credential away, and
the key people, with a FIXED number of queries whatever the number of
organizations, employees or competencies:

- the catalog (competencies, options with their requirements, the
  credentials and metrics they name): 4 queries, once per call, or none
  when the caller passes a `Catalog` it loaded for several batches;
- per call: the organizations (market), the associations covering D, the
  valid earned credentials of those employees restricted to the codes the
  catalog uses, the metric values in the largest window (for a batch: their
  sums over each window the catalog uses), the overrides active on D:
  5 queries. On PostgreSQL the ids go as one array parameter (`_among`).

Everything else happens in memory. Nothing here writes: the nightly job and
the services store what this module computes; the pages read it, or call
`evaluate(..., details=True)` live for one organization.

Two paths, one set of rules: `details=True` (and a catalog with a kind only
its `RequirementKind.evaluate` knows) asks each requirement kind for its
result, words and people included; `details=False` for the built-in kinds
takes the batch path ("The batch path" below), which computes the same
results from a compiled catalog, member bitsets and results shared between
organizations with the same figures, several times faster. Both build
their results with `people_result` and `metric_result`, and
tests/test_evaluation_batch.py holds them equal. `docs/performance.md` has
the figures.

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
  override active on D (`starts_on <= D < expires_on`, not revoked by D:
  `Override.active_on`, whatever its state today).
  An override never lowers a level.

Progress: a requirement's progress is `have / need` capped at 1; an
option's progress is the MEAN of its requirements' progress, so an option
whose consumption is met but whose people are missing shows half way.

Requirement kinds live in `REQUIREMENT_KINDS` (kind -> evaluator): a new
kind is one entry, a subclass of `RequirementKind`.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import itertools
import json
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import F, Lookup, Q, Sum, TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .formatting import format_amount

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
    # The same catalog compiled for the batch path (`_Plan`), built once with the snapshot.
    plan: Any = field(default=None, repr=False, compare=False)

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


class _Compiled(NamedTuple):
    """The last catalog compiled in this process, with the rows it was compiled from."""

    rows: tuple  # (competencies, options with their requirements) as read
    requirements: list  # (pk, option_id, kind, position, params) parsed from those rows
    codes: frozenset[str]
    slugs: frozenset[str]
    lookups: tuple  # (credentials, metrics) as read
    catalog: Catalog


_last_compiled: _Compiled | None = None


def catalog_snapshot() -> Catalog:
    """The catalog as the engine needs it: 4 queries (competencies; options with their requirements; the
    credentials and the metrics the requirements name).

    Compiling the rows costs more than reading them (every page load takes a snapshot), so the last
    catalog compiled in the process is reused when the same rows are read again; any change to the
    catalog reads different rows and is compiled afresh. Nothing is cached that the 4 queries do not
    confirm.
    """
    global _last_compiled
    competencies = tuple(
        Competency.objects.order_by("center__position", "position", "name", "pk").values_list("pk", "slug", "name")
    )
    # One row per requirement, or one with no requirement for an option without any (a LEFT JOIN).
    options = tuple(
        AttainmentOption.objects.order_by("pk", "requirements__pk").values_list(
            "pk", "competency_id", "level", "name", "position",
            "requirements__pk", "requirements__kind", "requirements__position",
            Cast("requirements__params", TextField()),
        )
    )
    cached = _last_compiled
    if cached is not None and cached.rows == (competencies, options):
        requirements, codes, slugs = cached.requirements, cached.codes, cached.slugs
    else:
        cached = None
        requirements = [
            (pk, option_id, kind, position, json.loads(params))
            for option_id, _c, _l, _n, _p, pk, kind, position, params in options
            if pk is not None
        ]
        codes, slugs = set(), set()
        for _pk, _option, kind, _pos, params in requirements:
            handler = REQUIREMENT_KINDS.get(kind)
            if handler is not None:
                codes |= handler.credential_codes(params)
                slugs |= set(handler.metric_windows(params))
        codes, slugs = frozenset(codes), frozenset(slugs)
    credentials = tuple(
        Credential.objects.filter(code__in=codes).order_by("pk").values_list("pk", "code", "accepted_until")
    )
    metric_rows = tuple(Metric.objects.filter(slug__in=slugs).order_by("pk").values_list("pk", "slug", "name", "unit"))
    if cached is not None and cached.lookups == (credentials, metric_rows):
        return cached.catalog

    metrics = {slug: MetricSpec(pk, slug, name, unit) for pk, slug, name, unit in metric_rows}
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
    distinct_options = {row[0]: row[:5] for row in options}.values()
    for pk, competency_id, level, name, position in sorted(
        distinct_options, key=lambda o: (o[1], LEVEL_RANK.get(o[2], 9), o[4], o[0])
    ):
        options_by_competency[competency_id].append(OptionSpec(pk, level, name, tuple(reqs_by_option[pk])))

    specs = tuple(CompetencySpec(pk, slug, name, tuple(options_by_competency[pk])) for pk, slug, name in competencies)
    catalog = Catalog(
        competencies=specs,
        credential_codes={pk: code for pk, code, _until in credentials},
        accepted_until={pk: until for pk, _code, until in credentials if until is not None},
        metrics=metrics,
        max_window_days=max_window,
        by_id={c.id: c for c in specs},
        plan=_Plan.compile(specs),
    )
    _last_compiled = _Compiled((competencies, options), requirements, codes, slugs, (credentials, metric_rows), catalog)
    return catalog


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
        """The same organization had `employee_id` left: what "key people" re-evaluates.

        Only the holders of the employee's own credentials change (a page with 2,000 members asks
        this once per contributor), and metric sums do not depend on people: they are shared.
        """
        members, held, holders = dict(self.members), dict(self.held), dict(self.holders)  # copies at C speed
        members.pop(employee_id, None)
        held.pop(employee_id, None)
        for credential_id in self.held.get(employee_id, ()):
            holders[credential_id] = holders[credential_id] - {employee_id}
        return replace(self, members=members, held=held, holders=holders, _sums=self._sums)


# ---------------------------------------------------------------------------
# Requirement kinds


def people_result(requirement_id: int, have: int, need: int) -> RequirementResult:
    """A `certified_people` requirement: met when `have >= need` people qualify; progress `have / need` capped at 1."""
    met = have >= need
    return RequirementResult(requirement_id, "certified_people", met, have, need, "people", 1.0 if met else have / need)


def metric_result(requirement_id: int, have: Decimal, need: Decimal, unit: str) -> RequirementResult:
    """A `metric` requirement: met when the window's sum reaches the threshold; progress `have / need` capped at 1."""
    met = have >= need
    # Decimal division only when short: it is the costly part, and a met requirement's progress is 1.
    return RequirementResult(requirement_id, "metric", met, have, need, unit, 1.0 if met else float(have / need))


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
        result = people_result(req.id, have, need)
        met = result.met
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
        unit = spec.metric.unit if spec.metric else ""
        result = metric_result(req.id, have, need, unit)
        met = result.met
        if not details:
            return result
        result.contributors, result.one_away = [], []  # a figure of the organization: no one contributes
        name = spec.metric.name if spec.metric else spec.slug

        def amount(value):
            return format_amount(value, unit)

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
# The batch path: many organizations, no details
#
# The nightly run evaluates every organization × competency; most pairs are
# alike ("nobody holds any of its credentials"), and a result depends only on
# a few numbers: how many members qualify for each people requirement, the
# sums of the metrics, the market. So the catalog is compiled once into
# plain tuples, an organization's members become bits (credential -> int with
# one bit per member holding it), a people requirement is a few ORs and ANDs
# and a popcount, and the option and requirement results are built once per
# distinct set of numbers in a call and shared by the organizations that
# have them: treat results without details as read-only.

_PEOPLE, _METRIC, _CONSTANT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _PlannedRequirement:
    kind: int  # _PEOPLE, _METRIC, _CONSTANT (a kind no one can prove: never met)
    id: int
    name: str  # the requirement's kind as the catalog names it
    input: int  # position of its figure among its competency's inputs (people, metric)
    need: int = 0  # people
    by_market: dict | None = None  # metric: `at_least` by market
    default: Decimal = Decimal(0)  # metric
    unit: str = ""  # metric


@dataclass(frozen=True, slots=True)
class _PlannedOption:
    id: int
    level: str
    name: str
    requirements: tuple[_PlannedRequirement, ...]
    inputs: tuple[int, ...]  # positions, among its competency's inputs, of the figures it depends on
    by_market: bool  # a threshold depends on the market

    def build(self, values: Sequence, market: str) -> OptionResult:
        results = []
        for r in self.requirements:
            if r.kind == _PEOPLE:
                results.append(people_result(r.id, values[r.input], r.need))
            elif r.kind == _METRIC:
                results.append(metric_result(r.id, values[r.input], r.by_market.get(market, r.default), r.unit))
            else:
                results.append(RequirementResult(r.id, r.name, False, 0, 1, "", 0.0))
        met, total = bool(results), 0.0
        for r in results:
            total += r.progress
            met = met and r.met
        return OptionResult(self.id, self.level, self.name, met, total / len(results) if results else 0.0, results)


@dataclass(frozen=True, slots=True)
class _PlannedCompetency:
    id: int
    inputs: tuple[int, ...]  # the catalog-wide inputs (`_Plan.inputs`) its results depend on
    figures: Callable  # catalog-wide figures -> this competency's figures, as a tuple
    options: tuple[_PlannedOption, ...]
    by_market: bool  # a threshold depends on the market: the market is part of its key


@dataclass(frozen=True, slots=True)
class _Plan:
    # Every distinct figure the catalog's requirements depend on: ("people", groups as tuples of credential
    # ids) or ("metric", metric id or None, window days). Requirements sharing one share the figure.
    inputs: tuple[tuple, ...]
    competencies: tuple[_PlannedCompetency, ...]
    batchable: bool  # every kind is one the batch path knows (another kind goes through `RequirementKind.evaluate`)
    # credential -> the people groups it belongs to, each as `input << 16 | group`: an organization's
    # credentials reach the figures they feed, and nothing else is looked at.
    groups_of: dict[int, tuple[int, ...]]
    group_counts: tuple[int, ...]  # input -> how many groups (0 for a metric)
    metric_inputs: dict[int | None, tuple[tuple[int, int], ...]]  # metric -> ((input, window days), ...)
    zeros: tuple  # every figure of an organization that has nobody certified and no metric value

    @property
    def metric_windows(self) -> set[tuple[int | None, int]]:
        return {(metric_id, window) for metric_id, pairs in self.metric_inputs.items() for _i, window in pairs}

    @classmethod
    def compile(cls, specs: Sequence[CompetencySpec]) -> _Plan:
        inputs: dict[tuple, int] = {}
        planned, batchable = [], True
        for spec in specs:
            mine: dict[int, int] = {}  # catalog-wide input -> position among this competency's inputs

            def position(item: tuple) -> int:
                return mine.setdefault(inputs.setdefault(item, len(inputs)), len(mine))

            options = []
            for option in spec.options:
                requirements = []
                for req in option.requirements:
                    handler = type(req.handler)
                    if handler is CertifiedPeople:
                        people: _People = req.compiled
                        index = position(("people", tuple(tuple(sorted(g)) for g in people.groups)))
                        requirements.append(_PlannedRequirement(_PEOPLE, req.id, req.kind, index, need=people.count))
                    elif handler is MetricThreshold:
                        threshold: _Threshold = req.compiled
                        metric_id = threshold.metric.id if threshold.metric else None
                        index = position(("metric", metric_id, threshold.window_days))
                        requirements.append(_PlannedRequirement(
                            _METRIC, req.id, req.kind, index, by_market=threshold.by_market,
                            default=threshold.default, unit=threshold.metric.unit if threshold.metric else "",
                        ))
                    elif handler is UnknownKind:
                        requirements.append(_PlannedRequirement(_CONSTANT, req.id, req.kind, -1))
                    else:
                        batchable = False
                options.append(_PlannedOption(
                    option.id, option.level, option.name, tuple(requirements),
                    tuple(sorted({r.input for r in requirements if r.input >= 0})),
                    any(r.by_market for r in requirements),
                ))
            catalog_inputs = tuple(mine)
            if len(catalog_inputs) > 1:
                figures = operator.itemgetter(*catalog_inputs)
            elif catalog_inputs:
                only = catalog_inputs[0]
                figures = lambda values, only=only: (values[only],)  # noqa: E731 (itemgetter of one is no tuple)
            else:
                figures = lambda values: ()  # noqa: E731
            planned.append(_PlannedCompetency(
                spec.id, catalog_inputs, figures, tuple(options), any(o.by_market for o in options)
            ))

        groups_of: dict[int, list] = defaultdict(list)
        metric_inputs = defaultdict(list)
        for item, index in inputs.items():
            if item[0] == "people":
                for g, group in enumerate(item[1]):
                    for credential_id in set(group):
                        groups_of[credential_id].append(index << 16 | g)
            else:
                metric_inputs[item[1]].append((index, item[2]))
        return cls(
            inputs=tuple(inputs),
            competencies=tuple(planned),
            batchable=batchable,
            groups_of={c: tuple(v) for c, v in groups_of.items()},
            group_counts=tuple(len(item[1]) if item[0] == "people" else 0 for item in inputs),
            metric_inputs={m: tuple(v) for m, v in metric_inputs.items()},
            zeros=tuple(0 if item[0] == "people" else Decimal(0) for item in inputs),
        )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch builds its results.

    A batch allocates hundreds of thousands of small objects that live until
    the batch ends and hold no reference cycles; the collector would walk
    them all again and again as they pile up (about 40% of the batch's time).
    Reference counting still frees everything; the collector resumes after.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _evaluate_batch(
    ids: list[int], day: datetime.date, catalog: Catalog, plan: _Plan
) -> dict[tuple[int, int], CompetencyResult]:
    """`evaluate(details=False)` for the built-in kinds: the same results, computed as described above."""
    with collector_paused():
        return _evaluate_rows(ids, plan, _read(ids, day, catalog, plan=plan))


def _evaluate_rows(ids: list[int], plan: _Plan, rows: _Rows) -> dict[tuple[int, int], CompetencyResult]:
    markets, members, held, sums, overrides = rows
    overridden = {org_id for org_id, _competency_id in overrides}
    groups_of, group_counts, metric_inputs, zeros = plan.groups_of, plan.group_counts, plan.metric_inputs, plan.zeros
    nothing: tuple = ()
    no_sums: dict = {}
    # Results shared by the organizations with the same figures: per competency by market and figures,
    # and by option, market and the figures it depends on (a competency mixing people and a metric
    # sum rarely repeats whole, its people-only options do).
    competencies = [(c.id, c.figures, c.by_market, {}, c) for c in plan.competencies]  # {}: its shared results
    by_option: dict[tuple, OptionResult] = {}
    results: dict[tuple[int, int], CompetencyResult] = {}
    for org_id in ids:
        market = markets.get(org_id)
        if market is None:
            continue
        figures = list(zeros)
        # People: one bit per member; `holders[c]` has the bits of the members holding credential c,
        # `in_group[input << 16 | g]` those holding a credential of group g of a people input. A member
        # qualifies for the input when their bit is in every group of it.
        holders: dict[int, int] = {}
        bit = 1
        for employee_id in members.get(org_id, nothing):
            for credential_id in held.get(employee_id, nothing):
                holders[credential_id] = holders.get(credential_id, 0) | bit
            bit <<= 1
        in_group: dict[int, int] = {}
        for credential_id, bits in holders.items():
            for key in groups_of.get(credential_id, nothing):
                in_group[key] = in_group.get(key, 0) | bits
        for key, bits in in_group.items():
            index, group = key >> 16, key & 0xFFFF
            count = group_counts[index]
            if count == 1:
                figures[index] = bits.bit_count()
            elif group == 0:  # the first group of several: AND the others in (a missing one is nobody)
                for other in range(key + 1, key + count):
                    bits &= in_group.get(other, 0)
                figures[index] = bits.bit_count()
        # Metrics: the database summed each over every window the catalog uses.
        for metric_id, by_window in sums.get(org_id, no_sums).items():
            for index, window in metric_inputs.get(metric_id, nothing):
                total = by_window[window]
                if total is not None:
                    figures[index] = total

        org_overrides = org_id in overridden
        for competency_id, figures_of, by_market, memo, competency in competencies:
            values = figures_of(figures)
            key = (market, values) if by_market else values
            built = memo.get(key)
            if built is None:
                options = []
                for option in competency.options:
                    option_key = (option.id, market if option.by_market else None, *[values[i] for i in option.inputs])
                    result = by_option.get(option_key)
                    if result is None:
                        result = by_option[option_key] = option.build(values, market)
                    options.append(result)
                built = memo[key] = (options, *_evaluated_level(options))
            options, evaluated, met_option_id = built
            override = overrides.get((org_id, competency_id)) if org_overrides else None
            effective = evaluated if override is None else higher_level(evaluated, override.level)
            results[(org_id, competency_id)] = CompetencyResult(
                org_id, competency_id, evaluated, effective, override, met_option_id, options
            )
    return results


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
    competency_ids: Iterable[int] | None = None,
) -> dict[tuple[int, int], CompetencyResult]:
    """Every competency of the catalog for every organization, as of `day`.

    One `CompetencyResult` per organization × competency, level none
    included, keyed by `(organization_id, competency_id)`. Unknown
    organization ids are left out. `details=True` adds the words (summary,
    gap), contributors, employees one credential away and key people: what
    the competency page shows for one organization. `competency_ids` keeps
    only those competencies (the competency page needs one: key people
    re-evaluate it once per contributor). The caller batches (see
    `batched`); the query count does not depend on the batch.
    """
    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return {}
    catalog = catalog if catalog is not None else catalog_snapshot()
    plan = catalog.plan if catalog.plan is not None else _Plan.compile(catalog.competencies)
    wanted = None if competency_ids is None else {int(c) for c in competency_ids}
    if not details and plan.batchable:
        results = _evaluate_batch(ids, day, catalog, plan)
        if wanted is not None:
            results = {key: result for key, result in results.items() if key[1] in wanted}
        return results
    facts_by_org, overrides = _load(ids, day, catalog)
    competencies = [c for c in catalog.competencies if wanted is None or c.id in wanted]

    results: dict[tuple[int, int], CompetencyResult] = {}
    for org_id, facts in facts_by_org.items():
        for competency in competencies:
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


class _AnyId(Lookup):
    """`column = ANY('{1,2,…}'::bigint[])`: PostgreSQL reads the ids as one array, so a batch's
    query costs the same to build and plan whatever its size (an `IN` list is one parameter per id)."""

    lookup_name = "any_id"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*params, "{" + ",".join(map(str, map(int, self.rhs))) + "}")


def _among(field: str, ids: Iterable[int]) -> Q | Lookup:
    """`field` is one of `ids`: one array parameter on PostgreSQL, `IN` elsewhere."""
    if connection.vendor == "postgresql":
        return _AnyId(F(field), list(ids))
    return Q(**{f"{field}__in": list(ids)})


class _Rows(NamedTuple):
    """What the five reads of one call found, as plain dicts and tuples."""

    markets: dict[int, str]  # organization -> market
    members: dict[int, dict[int, str]]  # organization -> employees who count on D -> name ("" for a batch)
    held: dict[int, set[int]]  # employee -> catalog credentials valid on D
    # organization -> metric -> [(period_end, value)] in the largest window; for a batch,
    # organization -> metric -> {window days: sum of the values in the window}
    points: dict[int, dict[int, Any]]
    overrides: dict[tuple[int, int], OverrideInfo]  # (organization, competency) -> override active on D


def _read(ids: list[int], day: datetime.date, catalog: Catalog, *, plan: _Plan | None = None) -> _Rows:
    """The five set-based reads of one call. Tuples, not model instances: a batch holds thousands of rows.

    For a batch (`_evaluate_batch`, with its `plan`), members are not named and the database sums
    each metric over every window the catalog uses.
    """
    batch = plan is not None
    # `.order_by()`: the models' default orderings would make the database sort what is read into dicts.
    covering = (
        Association.objects.filter(_among("organization_id", ids), starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gt=day))
        .order_by()
    )
    markets = dict(Organization.objects.filter(_among("id", ids)).order_by().values_list("pk", "market"))
    members: dict[int, dict[int, str]] = defaultdict(dict)
    if not batch:
        for employee_id, org_id, name, email in covering.values_list(
            "employee_id", "organization_id", "employee__name", "employee__email"
        ):
            members[org_id][employee_id] = name or email
    else:  # the batch path counts people, it never names them: no join with the employees
        for employee_id, org_id in covering.values_list("employee_id", "organization_id"):
            members[org_id][employee_id] = ""

    # A retired credential no longer counts from `accepted_until`: leave those out of the read entirely.
    usable = [pk for pk in catalog.credential_codes if not catalog.accepted_until.get(pk, day + ONE_DAY) <= day]
    held: dict[int, set[int]] = defaultdict(set)
    if usable:
        if connection.vendor == "postgresql":
            # The members just read, as one array: PostgreSQL probes the employee index for them, where
            # the subquery below makes it scan every earned credential once per batch.
            employees = _among("employee_id", {e for org in members.values() for e in org})
        else:
            employees = Q(employee_id__in=covering.values("employee_id"))
        earned = (
            EarnedCredential.objects.filter(employees, _among("credential_id", usable), earned_on__lte=day)
            .filter(Q(expires_on__isnull=True) | Q(expires_on__gt=day))
            .order_by()
            .values_list("employee_id", "credential_id")
        )
        for employee_id, credential_id in earned:
            held[employee_id].add(credential_id)

    points: dict[int, dict[int, Any]] = defaultdict(lambda: defaultdict(list))
    metric_ids = [m.id for m in catalog.metrics.values()]
    if metric_ids and catalog.max_window_days > 0:
        values = MetricValue.objects.filter(
            _among("organization_id", ids),
            _among("metric_id", metric_ids),
            period_end__gt=day - datetime.timedelta(days=catalog.max_window_days),
            period_end__lte=day,
        ).order_by()
        if batch:
            windows = sorted({window for _metric, window in plan.metric_windows})
            sums = {
                f"w{window}": Sum("value", filter=Q(period_end__gt=day - datetime.timedelta(days=window)))
                for window in windows
            }
            for org_id, metric_id, *by_window in (
                values.values("organization_id", "metric_id")
                .annotate(**sums)
                .values_list("organization_id", "metric_id", *sums)
            ):
                points[org_id][metric_id] = dict(zip(windows, by_window, strict=True))
        else:
            for org_id, metric_id, period_end, value in values.values_list(
                "organization_id", "metric_id", "period_end", "value"
            ):
                points[org_id][metric_id].append((period_end, value))

    # Active on D by its dates, not revoked by D: a past day sees the override that has expired since.
    overrides = {
        (org_id, competency_id): OverrideInfo(pk, level, expires_on)
        for pk, org_id, competency_id, level, expires_on in Override.objects.filter(
            _among("organization_id", ids), Override.active_on(day)
        ).order_by().values_list("pk", "organization_id", "competency_id", "level", "expires_on")
    }
    return _Rows(markets, members, held, points, overrides)


def _load(
    ids: list[int], day: datetime.date, catalog: Catalog
) -> tuple[dict[int, OrganizationFacts], dict[tuple[int, int], OverrideInfo]]:
    """The five reads of one call, as `OrganizationFacts` for the requirement kinds."""
    markets, members, held, points, overrides = _read(ids, day, catalog)
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
