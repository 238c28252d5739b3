"""What if: an organization's levels under hypothetical changes, evaluated in memory by the engine's own code.

A plan (people leave or join, credentials earned, metric gains, a later day) is read from the URL
(`plan_parse`), checked against the organization's own rows (`what_if_evaluate`), applied to the
organization's facts of the coming year read once (`timeline.read_timelines`, changed in memory by
`OrganizationTimeline.with_changes`), and evaluated by `engine.evaluate_facts`, the path real data takes,
today, on the plan's day and through the forecast's walk (`forecast.forecast_timelines`). Nothing is
written. The queries are the same whatever the plan's size: the facts of the year (five reads), the
organization's pending invitations, and the credentials of the invited people.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Q
from django.utils.translation import gettext as _

from .engine import evaluate_facts
from .forecast import HORIZON_DAYS, Change, forecast_timelines
from .identity import InvalidEmail, canonical_email
from .models import EarnedCredential, Invitation
from .results import CompetencyResult
from .rules import credential_valid_on
from .snapshot import catalog_snapshot
from .specs import CatalogSnapshot, CompetencySpec
from .timeline import Earned, read_timelines

MAX_CHANGES = 50  # a plan is for people to read: more is a mistake (or an attack), refused with a message
MAX_GAIN = Decimal("1e15")


class PlanError(Exception):
    """A plan that cannot be evaluated: its messages say why, in the reader's language."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


class NotInOrganization(Exception):
    """The plan names a person or an invitation that is not the organization's: the view answers 404."""


@dataclass(frozen=True)
class Earning:
    who: str  # an employee id (a member) or the email of someone the plan has join
    code: str
    on: datetime.date


@dataclass(frozen=True)
class Gain:
    metric: str  # the metric's slug
    amount: Decimal


@dataclass(frozen=True)
class Plan:
    """Hypothetical changes, as the URL carries them (GET parameters; see `query`)."""

    day: datetime.date
    leaves: tuple[int, ...] = ()
    invites: tuple[int, ...] = ()
    hires: tuple[str, ...] = ()
    earnings: tuple[Earning, ...] = ()
    gains: tuple[Gain, ...] = ()

    @property
    def size(self) -> int:
        return len(self.leaves) + len(self.invites) + len(self.hires) + len(self.earnings) + len(self.gains)

    def query(self, *, today: datetime.date | None = None) -> list[tuple[str, str]]:
        """The GET parameters that carry the plan (the day left out when it is `today`)."""
        pairs: list[tuple[str, str]] = [] if self.day == today else [("day", self.day.isoformat())]
        pairs += [("leave", str(e)) for e in self.leaves] + [("invite", str(i)) for i in self.invites]
        pairs += [("hire", h) for h in self.hires]
        for e in self.earnings:
            pairs += [("earn_who", e.who), ("earn_code", e.code), ("earn_on", e.on.isoformat())]
        for g in self.gains:
            pairs += [("metric", g.metric), ("gain", str(g.amount))]
        return pairs


def _date(value: str, errors: list[str], today: datetime.date, what: str) -> datetime.date:
    try:
        day = datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        errors.append(_("%(what)s: “%(value)s” is not a date (YYYY-MM-DD).") % {"what": what, "value": value[:40]})
        return today
    if day < today:
        errors.append(_("%(what)s: %(value)s is in the past.") % {"what": what, "value": value})
    elif day > today + datetime.timedelta(days=3650):
        errors.append(_("%(what)s: %(value)s is too far ahead.") % {"what": what, "value": value})
    return day


def _ids(values: list[str], errors: list[str], what: str) -> tuple[int, ...]:
    found = []
    for value in values:
        if value.isdigit() and len(value) < 19:
            found.append(int(value))
        else:
            errors.append(_("%(what)s: unknown person “%(value)s”.") % {"what": what, "value": value[:40]})
    return tuple(dict.fromkeys(found))


def plan_parse(params, *, today: datetime.date) -> Plan:
    """The plan the GET parameters describe (`params.getlist`), or PlanError with every problem found.

    Rule: at most MAX_CHANGES changes; the plan's day and each credential's day are dates from today on
    (a credential is earned on or before the plan's day); gains are numbers; parallel lists
    (`earn_who`/`earn_code`/`earn_on`, `metric`/`gain`) have the same length. Whether the people,
    invitations, codes and metrics exist is checked by `what_if_evaluate`, against the organization.
    """
    lists = {name: params.getlist(name) for name in
             ("leave", "invite", "hire", "earn_who", "earn_code", "earn_on", "metric", "gain")}
    count = sum(len(v) for name, v in lists.items() if name not in ("earn_code", "earn_on", "gain"))
    if count > MAX_CHANGES:
        raise PlanError([_("A plan holds at most %(max)s changes; this one has %(count)s.") % {
            "max": MAX_CHANGES, "count": count}])
    errors: list[str] = []
    day = _date(params.get("day") or today.isoformat(), errors, today, _("Day"))
    leaves = _ids(lists["leave"], errors, _("Leaves"))
    invites = _ids(lists["invite"], errors, _("Joins"))
    hires = []
    for value in lists["hire"]:
        try:
            hires.append(canonical_email(value))
        except InvalidEmail:
            errors.append(_("Joins: “%(value)s” is not an email address.") % {"value": value[:80]})
    if not len(lists["earn_who"]) == len(lists["earn_code"]) == len(lists["earn_on"]):
        errors.append(_("Each credential earned needs a person, a code and a day."))
    earnings = []
    for who, code, on in zip(lists["earn_who"], lists["earn_code"], lists["earn_on"]):
        earned_on = _date(on, errors, today, _("Earns"))
        if earned_on > day:
            errors.append(_("Earns: %(code)s on %(on)s comes after the plan's day.") % {"code": code[:40], "on": on})
        earnings.append(Earning(who.strip(), code.strip().upper(), earned_on))
    if len(lists["metric"]) != len(lists["gain"]):
        errors.append(_("Each metric gain needs a metric and an amount."))
    gains = []
    for metric, amount in zip(lists["metric"], lists["gain"]):
        try:
            value = Decimal(amount.strip())
            if not value.is_finite() or abs(value) > MAX_GAIN:
                raise InvalidOperation
        except InvalidOperation:
            errors.append(_("Metric gain: “%(value)s” is not an amount.") % {"value": amount[:40]})
            continue
        gains.append(Gain(metric.strip(), value))
    if errors:
        raise PlanError(errors)
    return Plan(day, leaves, invites, tuple(dict.fromkeys(hires)), tuple(earnings), tuple(gains))


@dataclass
class WhatIf:
    """Today's levels and the plan's, per competency, the forecast under the plan, and the words for the
    plan's changes."""

    plan: Plan
    today: dict[int, CompetencyResult]
    planned: dict[int, CompetencyResult]  # without details: `explain` words one competency's gaps
    competencies: tuple[CompetencySpec, ...]
    people: dict[int, str]  # the organization's members (today or on the plan's day): id → name
    invitations: dict[int, str]  # pending invitations: id → email
    snapshot: CatalogSnapshot
    results: dict[tuple[int, int], CompetencyResult] = field(default_factory=dict)  # the plan's, as `evaluate` keys them
    coming: list[Change] = field(default_factory=list)  # the forecast of the coming year under the plan
    explain: Callable[[int], CompetencyResult] | None = None  # competency id -> its result under the plan, worded


def _invitations(organization_id: int, today: datetime.date) -> dict[int, str]:
    return dict(
        Invitation.objects.filter(organization_id=organization_id, state=Invitation.State.PENDING, expires_on__gt=today)
        .order_by("email").values_list("pk", "email")
    )


def _credentials_of(emails: list[str], today: datetime.date, snapshot: CatalogSnapshot) -> dict[str, list[Earned]]:
    """Email → the catalog's credentials the person holds, valid today or later, with their days (one query,
    even for no email)."""
    held: dict[str, list[Earned]] = {}
    for email, credential_id, earned_on, expires_on in EarnedCredential.objects.filter(
        Q(expires_on__isnull=True) | Q(expires_on__gt=today),
        employee__email__in=emails or [""], credential_id__in=list(snapshot.credential_codes),
    ).order_by().values_list("employee__email", "credential_id", "earned_on", "expires_on"):
        held.setdefault(email, []).append((credential_id, earned_on, expires_on))
    return held


def what_if_evaluate(*, organization_id: int, plan: Plan, today: datetime.date) -> WhatIf:
    """The organization's levels today and under the plan, for every competency, and the forecast under it.

    Raises NotInOrganization when the plan names a person who is not a member
    of the organization (today or on the plan's day) or an invitation that is
    not one of its pending ones; PlanError for an unknown credential code
    (none that a competency counts), an unknown metric, or a credential
    earned by someone the plan does not know. Someone who joins through an
    invitation brings the credentials they hold (with their own days);
    someone who joins by email brings none (credentials the plan gives
    them). The organization's facts from today to the end of the forecast's
    year (or the plan's day, if later) are read once (`read_timelines`), the
    plan's changes applied to them in memory on the plan's day
    (`OrganizationTimeline.with_changes`), and both evaluated by the engine
    (`evaluate_facts`) on today, on the plan's day and, through the
    forecast's own walk (`forecast_timelines`), on every day of the year a
    fact changes.
    """
    snapshot = catalog_snapshot()
    end = today + datetime.timedelta(days=HORIZON_DAYS)
    timeline = read_timelines([organization_id], today, max(end, plan.day), snapshot)[organization_id]
    facts_today = timeline.facts_on(today, snapshot)
    people = {**timeline.members_on(plan.day), **facts_today.members}
    invitations = _invitations(organization_id, today)
    if any(p not in people for p in plan.leaves) or any(i not in invitations for i in plan.invites):
        raise NotInOrganization
    joiners = [invitations[i] for i in plan.invites] + [h for h in plan.hires if h not in invitations.values()]
    joining_ids = {email: -(n + 1) for n, email in enumerate(dict.fromkeys(joiners))}
    brought = _credentials_of([invitations[i] for i in plan.invites], today, snapshot)
    by_code = {code.upper(): pk for pk, code in snapshot.credential_codes.items()}
    earning, errors = _earnings(plan, people, joining_ids, by_code, snapshot.accepted_until)
    metrics = {slug: spec.id for slug, spec in snapshot.metrics.items()}
    gains: dict[int, Decimal] = {}
    for gain in plan.gains:
        if gain.metric not in metrics:
            errors.append(_("Metric gain: unknown metric “%(metric)s”.") % {"metric": gain.metric[:40]})
        else:
            gains[metrics[gain.metric]] = gains.get(metrics[gain.metric], Decimal(0)) + gain.amount
    if errors:
        raise PlanError(errors)
    planned = timeline.with_changes(
        day=plan.day, leaving=plan.leaves, earning=earning, gains=gains,
        joining={pid: (email, brought.get(email, [])) for email, pid in joining_ids.items()},
    )
    now = evaluate_facts({organization_id: facts_today}, timeline.overrides_on(today), snapshot)
    facts_day, overrides_day = {organization_id: planned.facts_on(plan.day, snapshot)}, planned.overrides_on(plan.day)
    then = evaluate_facts(facts_day, overrides_day, snapshot)

    def explain(competency_id: int) -> CompetencyResult:
        return evaluate_facts(facts_day, overrides_day, snapshot, details=True, key_people=False,
                              competency_ids={competency_id})[(organization_id, competency_id)]

    return WhatIf(
        plan=plan, competencies=snapshot.competencies, people=people, invitations=invitations, snapshot=snapshot,
        today={c: r for (_o, c), r in now.items()}, planned={c: r for (_o, c), r in then.items()}, results=then,
        coming=forecast_timelines([planned], day=today, end=end, snapshot=snapshot), explain=explain,
    )


def _earnings(
    plan: Plan, people: dict[int, str], joining_ids: dict[str, int], by_code: dict[str, int],
    accepted_until: dict[int, datetime.date],
) -> tuple[dict[int, list[Earned]], list[str]]:
    """Person id → the credentials the plan has them earn (from their day, without end); the problems found
    (unknown person or code)."""
    earning: dict[int, list[Earned]] = {}
    errors: list[str] = []
    for e in plan.earnings:
        if e.who.isdigit():
            if int(e.who) not in people:
                raise NotInOrganization
            person = int(e.who)
        else:
            try:
                person = joining_ids.get(canonical_email(e.who))
            except InvalidEmail:
                person = None
        if person is None:
            errors.append(_("Earns: unknown person “%(who)s”: choose a member or someone who joins in the plan.") % {
                "who": e.who[:80]})
            continue
        if e.code not in by_code:
            errors.append(_("Earns: unknown credential code “%(code)s”.") % {"code": e.code[:40]})
            continue
        credential_id = by_code[e.code]
        if not credential_valid_on(e.on, None, accepted_until.get(credential_id), plan.day):
            errors.append(_("Earns: %(code)s is no longer accepted on the plan's day.") % {"code": e.code})
            continue
        earning.setdefault(person, []).append((credential_id, e.on, None))
    return earning, errors
