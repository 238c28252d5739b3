"""The kinds of requirement, each one class, and their one registry (`REQUIREMENT_KINDS`).

A kind knows everything about itself: how to validate its entry in a catalog file (with
the path of a bad field), which credentials and metric windows it reads, how to compile
its params against the catalog's rows, how to evaluate it for one organization (the
detailed path, words and people included) and, when it can, which figure of an
organization its result depends on and how to build the result from that figure (the
batch path). The catalog loader, the snapshot, the engine and the batch path all ask the
registry; a new kind is one class and one entry in `REQUIREMENT_KINDS`.

A kind the registry does not know is never met (`UnknownKind`): a catalog from a newer
release cannot grant a level by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .batch import metric_figure, people_figure
from .catalog_checks import Checker, Names, at, describe, is_number, item, show
from .facts import OrganizationFacts
from .formatting import format_amount
from .models import Market
from .results import Contributor, OneAway, RequirementResult
from .specs import Lookups, MetricSpec, RequirementSpec

MARKETS = tuple(Market.values)


class RequirementKind:
    """One kind of requirement. Subclass it and add an instance to `REQUIREMENT_KINDS`.

    Only `evaluate` is required. A kind that sets `batchable` names the one figure of an
    organization its result depends on (`figure`) and builds its result from it
    (`batch_result`); the others make the engine take the detailed path for every call.
    """

    batchable = False

    def validate(self, entry: dict, path: str, check: Checker, names: Names) -> None:
        """Report every problem of the requirement's catalog entry (a mapping with `kind`) under `path`."""
        check.mapping(entry, path, required=["kind"])

    def credential_codes(self, params: dict) -> set[str]:
        """Credential codes the snapshot must read for this requirement."""
        return set()

    def metric_windows(self, params: dict) -> dict[str, int]:
        """Metric slug -> window in days the snapshot must read for this requirement."""
        return {}

    def compile(self, params: dict, lookups: Lookups) -> Any:
        """The params resolved against the catalog's rows, once per snapshot (`RequirementSpec.compiled`)."""
        return None

    def credential_ids(self, compiled: Any) -> set[int]:
        """Credential ids the compiled requirement names."""
        return set()

    def evaluate(self, req: RequirementSpec, facts: OrganizationFacts, *, details: bool) -> RequirementResult:
        raise NotImplementedError

    def met(self, req: RequirementSpec, facts: OrganizationFacts) -> bool:
        """Whether it holds, and nothing else (the forecast's walk builds a result only when this turns)."""
        return self.evaluate(req, facts, details=False).met

    def figure(self, compiled: Any) -> tuple | None:
        """The figure its result depends on (`batch.people_figure`, `batch.metric_figure`), or None for none."""
        raise NotImplementedError

    def by_market(self, compiled: Any) -> bool:
        """Whether its result depends on the organization's market too."""
        return False

    def batch_result(self, req: RequirementSpec, value: Any, market: str) -> RequirementResult:
        """The result when its figure is `value` (None when it depends on none), without details."""
        raise NotImplementedError


# ---------------------------------------------------------------------------
# certified_people


@dataclass(frozen=True, slots=True)
class People:
    mode: str  # any_of | all_of | groups
    count: int
    groups: tuple[frozenset[int], ...]  # a person qualifies holding one valid credential of every group
    group_codes: tuple[tuple[str, ...], ...]  # the same, as codes (unknown codes included, for the words)
    union: frozenset[int]


def people_result(requirement_id: int, have: int, need: int) -> RequirementResult:
    """Met when `have >= need` people qualify; progress `have / need` capped at 1."""
    met = have >= need
    return RequirementResult(requirement_id, "certified_people", met, have, need, "people", 1.0 if met else have / need)


class CertifiedPeople(RequirementKind):
    """At least `count` distinct employees who count for O on D, each holding a valid credential
    from `any_of`, or every credential in `all_of`, or one credential from every group in `groups`.

    All three are one rule: `any_of` is one group, `all_of` is one group per code.
    """

    batchable = True
    MODES = ("any_of", "all_of", "groups")

    def validate(self, entry, path, check, names):
        if check.mapping(entry, path, required=["kind", "count"], optional=self.MODES) is None:
            return
        if "count" in entry:
            check.whole(entry, "count", path, minimum=1, nullable=False)
        given = [key for key in self.MODES if key in entry]
        if len(given) != 1:
            got = ", ".join(given) if given else "none"
            check.problem(path, f"give exactly one of any_of, all_of, groups (got {got})")
        for key in given:
            if key == "groups":
                groups = check.sequence(entry[key], at(path, key), non_empty=True, what="group")
                for i, group in enumerate(groups):
                    self._validate_codes(group, item(at(path, key), i), check, names)
            else:
                self._validate_codes(entry[key], at(path, key), check, names)

    @staticmethod
    def _validate_codes(value: Any, path: str, check: Checker, names: Names) -> None:
        codes = check.sequence(value, path, non_empty=True, what="credential code")
        for i, code in enumerate(codes):
            if not isinstance(code, str):
                check.problem(item(path, i), f"must be a credential code (text), not {describe(code)}")
            elif code not in names.credentials:
                check.problem(item(path, i), f"unknown credential {code!r}")

    @staticmethod
    def _groups(params: dict) -> tuple[str, list[list[str]]]:
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
        return People(
            mode=mode,
            count=int(params.get("count", 1)),
            groups=ids,
            group_codes=tuple(tuple(g) for g in groups),
            union=frozenset().union(*ids) if ids else frozenset(),
        )

    def credential_ids(self, compiled):
        return set(compiled.union)

    def figure(self, compiled):
        return people_figure(compiled.groups)

    def batch_result(self, req, value, market):
        return people_result(req.id, value, req.compiled.count)

    def evaluate(self, req, facts, *, details):
        people: People = req.compiled
        holders = facts.holders
        qualifying: set[int] | frozenset[int] = frozenset()  # a requirement naming no credential: no one
        for position, group in enumerate(people.groups):
            in_group = set().union(*[holders[c] for c in group if c in holders])
            qualifying = in_group if position == 0 else qualifying & in_group
            if not qualifying:
                break
        result = people_result(req.id, len(qualifying), people.count)
        if details:
            self._add_details(result, people, facts, qualifying)
        return result

    def _add_details(self, result: RequirementResult, people: People, facts: OrganizationFacts, qualifying) -> None:
        """The words, the contributors and, short of the count, the members one credential away."""
        what = self._what(people)
        need = people.count
        result.summary = ngettext(
            "%(count)s person with %(what)s", "%(count)s people with %(what)s", need
        ) % {"count": need, "what": what}
        result.contributors = sorted(
            (Contributor(e, facts.members[e], sorted(facts.codes[c] for c in facts.held[e] & people.union)) for e in qualifying),
            key=lambda c: (c.name.lower(), c.employee_id),
        )
        result.one_away = []
        if result.met:
            return
        missing = need - result.have
        result.gap = ngettext(
            "%(count)s more person with %(what)s", "%(count)s more people with %(what)s", missing
        ) % {"count": missing, "what": what}
        one_away = []
        empty: frozenset[int] = frozenset()
        result.others = len(facts.members) - len(qualifying)
        for employee_id, name in facts.members.items():
            creds = facts.held.get(employee_id, empty)
            lacking = [i for i, g in enumerate(people.groups) if not (creds & g)]
            # One credential away names someone near: holding part of the requirement. With a single group,
            # everyone who does not count lacks the same credential: "any of your N people", not a list.
            if len(lacking) == 1 and len(people.groups) > 1:
                one_away.append(OneAway(employee_id, name, list(people.group_codes[lacking[0]])))
        result.one_away = sorted(one_away, key=lambda o: (o.name.lower(), o.employee_id))

    @staticmethod
    def _what(people: People) -> str:
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


# ---------------------------------------------------------------------------
# metric


@dataclass(frozen=True, slots=True)
class Threshold:
    metric: MetricSpec | None
    slug: str
    window_days: int
    by_market: dict[str, Decimal]  # `at_least` by market; a plain number applies to every market
    default: Decimal  # for a market the map does not name: the developed figure


def metric_met(have: Decimal, need: Decimal) -> bool:
    """A metric requirement is met when the window's sum reaches the threshold."""
    return have >= need


def metric_result(requirement_id: int, have: Decimal, need: Decimal, unit: str) -> RequirementResult:
    """Met as `metric_met` says; progress `have / need` capped at 1."""
    met = metric_met(have, need)
    # Decimal division only when short: it is the costly part, and a met requirement's progress is 1.
    return RequirementResult(requirement_id, "metric", met, have, need, unit, 1.0 if met else float(have / need))


class MetricThreshold(RequirementKind):
    """The sum of O's values of `metric` with `period_end` in `(D - window_days, D]` (365 days if not
    given) is at least `at_least` (a number, or a map by the organization's market)."""

    batchable = True
    DEFAULT_WINDOW_DAYS = 365

    def validate(self, entry, path, check, names):
        if check.mapping(entry, path, required=["kind", "metric", "at_least"], optional=["window_days"]) is None:
            return
        if "metric" in entry:
            slug = entry["metric"]
            if not isinstance(slug, str) or slug not in names.metrics:
                check.problem(at(path, "metric"), f"unknown metric {show(slug)}")
        check.whole(entry, "window_days", path, minimum=1, nullable=False)
        if "at_least" in entry:
            self._validate_threshold(entry["at_least"], at(path, "at_least"), check)

    @staticmethod
    def _validate_threshold(value: Any, path: str, check: Checker) -> None:
        if is_number(value):
            if value < 0:
                check.problem(path, f"must be at least 0, not {show(value)}")
            return
        if not isinstance(value, dict) or not value:
            check.problem(path, f"must be a number of at least 0 or a map by market (developed, developing), not {show(value)}")
            return
        for market, figure in value.items():
            if market not in MARKETS:
                check.problem(at(path, str(market)), f"unknown market {show(market)} (expected developed or developing)")
            elif not is_number(figure) or figure < 0:
                check.problem(at(path, market), f"must be a number of at least 0, not {show(figure)}")
        if "developed" not in value:
            # the developed figure is what every market without its own figure is held to
            check.problem(at(path, "developed"), "is required in a map by market")

    def metric_windows(self, params):
        return {params["metric"]: int(params.get("window_days", self.DEFAULT_WINDOW_DAYS))}

    def compile(self, params, lookups):
        at_least = params.get("at_least", 0)
        if isinstance(at_least, dict):
            by_market = {market: Decimal(str(value)) for market, value in at_least.items()}
            default = by_market.get("developed", Decimal(0))
        else:
            by_market, default = {}, Decimal(str(at_least))
        return Threshold(
            metric=lookups.metrics.get(params["metric"]),
            slug=params["metric"],
            window_days=int(params.get("window_days", self.DEFAULT_WINDOW_DAYS)),
            by_market=by_market,
            default=default,
        )

    def figure(self, compiled):
        return metric_figure(compiled.metric.id if compiled.metric else None, compiled.window_days)

    def by_market(self, compiled):
        return bool(compiled.by_market)

    def batch_result(self, req, value, market):
        threshold: Threshold = req.compiled
        unit = threshold.metric.unit if threshold.metric else ""
        return metric_result(req.id, value, threshold.by_market.get(market, threshold.default), unit)

    def evaluate(self, req, facts, *, details):
        threshold: Threshold = req.compiled
        have, need = self._have_need(threshold, facts)
        result = metric_result(req.id, have, need, threshold.metric.unit if threshold.metric else "")
        if details:
            self._add_details(result, threshold)
        return result

    def met(self, req, facts):
        return metric_met(*self._have_need(req.compiled, facts))

    @staticmethod
    def _have_need(threshold: Threshold, facts: OrganizationFacts) -> tuple[Decimal, Decimal]:
        """The window's sum, and the threshold for the organization's market."""
        metric = threshold.metric
        have = facts.metric_sum(metric.id, threshold.window_days) if metric is not None else Decimal(0)
        return have, threshold.by_market.get(facts.market, threshold.default)

    @staticmethod
    def _add_details(result: RequirementResult, threshold: Threshold) -> None:
        """The words; a figure of the organization: no one contributes."""
        result.contributors, result.one_away = [], []
        words = {"name": threshold.metric.localized_name if threshold.metric else threshold.slug, "days": threshold.window_days}
        result.summary = _("%(amount)s %(name)s in the %(days)s-day window") % {
            **words, "amount": format_amount(result.need, result.unit)
        }
        if not result.met:
            result.gap = _("%(amount)s more %(name)s in the %(days)s-day window") % {
                **words, "amount": format_amount(result.need - result.have, result.unit)
            }


# ---------------------------------------------------------------------------
# A kind no one registered


class UnknownKind(RequirementKind):
    """A kind this engine does not know is never met: it cannot be proven."""

    batchable = True

    def figure(self, compiled):
        return None

    def batch_result(self, req, value, market):
        return RequirementResult(req.id, req.kind, False, 0, 1, "", 0.0)

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
UNKNOWN_KIND = UnknownKind()


def requirement_kind(kind: str) -> RequirementKind:
    """The registered kind, or the one that is never met."""
    return REQUIREMENT_KINDS.get(kind, UNKNOWN_KIND)
