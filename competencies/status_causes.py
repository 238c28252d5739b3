"""Why a stored level changed: the cause `statuses.statuses_refresh` records when its caller names none.

Simple and honest: look for the events dated between the last evaluation
(the organization's marker, `Organization.statuses_as_of`) and the day evaluated that could explain the change, in a fixed
order, store what was found as the cause's parameters (`causes.py`), and
say so (`other`) when nothing does:

- no stored status: `first_evaluation`;
- the evaluated level fell: a holder of one of the competency's credentials
  whose association ended (`association_ended`: "Jane Doe associated with
  another organization on D" when they started elsewhere that day, else
  "Jane Doe left on D"), a credential no longer accepted after retirement
  (`credential_retired`), a credential that expired (`credential_expired`),
  a metric requirement now short (`metric_changed`);
- the evaluated level rose: a holder's association that started
  (`association_started`), a credential earned (`credential_earned`), a
  metric requirement now met (`metric_changed`);
- only the effective level changed: the override was applied
  (`override_applied`), revoked (`override_revoked`) or expired
  (`override_expired`).

People events explain a change only when a requirement on people is
involved. At most three set-based reads for a whole batch, only when
something changed. Who counts and which credential is valid are the rules
of `rules.py`.
"""

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import Exists, OuterRef, Q

from .causes import cause_params_of
from .dates import ONE_DAY
from .models import LEVEL_RANK, Association, EarnedCredential, Override, StatusChange
from .results import CompetencyResult, RequirementResult
from .rules import covers, credential_valid_on
from .specs import CatalogSnapshot

Cause = StatusChange.Cause
Found = tuple[str, dict]  # a cause code and its parameters


class StoredStatus(NamedTuple):
    """A `CompetencyStatus` as stored before the evaluation that may change it (`pk` None: no row, level none)."""

    pk: int | None
    as_of: datetime.date  # the organization's marker: the day the stored status was evaluated as of
    evaluated_level: str
    effective_level: str
    override_id: int | None
    details: dict


Change = tuple[CompetencyResult, StoredStatus | None]


def infer_causes(changed: list[Change], *, day: datetime.date, catalog: CatalogSnapshot) -> dict[tuple[int, int], Found]:
    """The cause of each change of level, by (organization id, competency id): see the module's docstring."""
    causes: dict[tuple[int, int], Found] = {}
    evaluated_changes, effective_changes = [], []
    for evaluation, old in changed:
        if old is None:
            causes[(evaluation.organization_id, evaluation.competency_id)] = (Cause.FIRST_EVALUATION, {})
        elif old.evaluated_level != evaluation.evaluated_level:
            evaluated_changes.append((evaluation, old))
        else:
            effective_changes.append((evaluation, old))
    if evaluated_changes:
        facts = _read_facts(evaluated_changes, day=day, catalog=catalog)
        for evaluation, old in evaluated_changes:
            key = (evaluation.organization_id, evaluation.competency_id)
            causes[key] = _evaluated_cause(evaluation, old, facts=facts, day=day)
    if effective_changes:
        causes.update(_override_causes(effective_changes, day=day))
    return causes


# ---------------------------------------------------------------------------
# Only the effective level moved: the override


def _override_causes(changes: list[tuple[CompetencyResult, StoredStatus]], *, day: datetime.date) -> dict:
    """The evaluated level stayed: the override moved the effective one (applied, revoked, expired)."""
    old_ids = {old.override_id for _e, old in changes if old.override_id}
    old_overrides = {
        pk: (level, state, expires_on, revoked_on)
        for pk, level, state, expires_on, revoked_on in (
            Override.objects.filter(pk__in=old_ids)
            .order_by()
            .values_list("pk", "level", "state", "expires_on", "revoked_on")
        )
    }
    causes = {}
    for evaluation, old in changes:
        key = (evaluation.organization_id, evaluation.competency_id)
        rose = LEVEL_RANK[evaluation.effective_level] > LEVEL_RANK[old.effective_level]
        if rose and evaluation.override:
            o = evaluation.override
            causes[key] = (
                Cause.OVERRIDE_APPLIED, cause_params_of("override_until", override_id=o.id, level=o.level, end=o.expires_on)
            )
        elif old.override_id in old_overrides:
            level, state, expires_on, revoked_on = old_overrides[old.override_id]
            if state == Override.State.REVOKED:
                kind, cause, on = "override_revoked", Cause.OVERRIDE_REVOKED, revoked_on or day
            else:
                kind, cause, on = "override_expired", Cause.OVERRIDE_EXPIRED, expires_on
            causes[key] = (cause, cause_params_of(kind, override_id=old.override_id, level=level, day=on))
        else:
            causes[key] = (Cause.OTHER, cause_params_of("override_gone"))
    return causes


# ---------------------------------------------------------------------------
# The evaluated level moved: an association, a credential or a metric


class _AssociationSpan(NamedTuple):
    """An association of the organization that overlaps the window of a change."""

    employee_id: int
    starts_on: datetime.date
    ends_on: datetime.date | None
    name: str  # the employee's, as the history will keep it
    moved_elsewhere: bool  # another association of the employee starts the day this one ends

    def covers(self, day: datetime.date) -> bool:
        return covers(self.starts_on, self.ends_on, day)


class _Earned(NamedTuple):
    credential_id: int
    earned_on: datetime.date
    expires_on: datetime.date | None


@dataclass
class _Facts:
    """What a batch's changes may be blamed on: associations by organization, earned credentials by employee."""

    spans: dict[int, list[_AssociationSpan]]
    earned: dict[int, list[_Earned]]
    catalog: CatalogSnapshot

    def valid(self, earned: _Earned, on: datetime.date) -> bool:
        until = self.catalog.accepted_until.get(earned.credential_id)
        return credential_valid_on(earned.earned_on, earned.expires_on, until, on)

    def holds_one_of(self, employee_id: int, credentials: set[int], on: datetime.date) -> bool:
        return any(e.credential_id in credentials and self.valid(e, on) for e in self.earned[employee_id])


class _Window(NamedTuple):
    """One change: the organization's associations, the competency's credentials, and the days it happened between."""

    spans: list[_AssociationSpan]
    credentials: set[int]
    since: datetime.date  # the day the stored status was as of
    day: datetime.date  # the day evaluated


def _read_facts(changes: list[tuple[CompetencyResult, StoredStatus]], *, day: datetime.date, catalog: CatalogSnapshot) -> _Facts:
    """The associations overlapping the changes' window and their employees' earned credentials: two reads."""
    since = min(old.as_of for _e, old in changes)
    overlapping = (
        Association.objects.filter(organization_id__in={e.organization_id for e, _old in changes}, starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=since))
        .order_by()
    )
    moved_elsewhere = Association.objects.filter(
        employee_id=OuterRef("employee_id"), starts_on=OuterRef("ends_on")
    ).exclude(organization_id=OuterRef("organization_id"))
    spans: dict[int, list[_AssociationSpan]] = defaultdict(list)
    for employee_id, org_id, starts_on, ends_on, name, email, moved in overlapping.annotate(
        moved=Exists(moved_elsewhere)
    ).values_list("employee_id", "organization_id", "starts_on", "ends_on", "employee__name", "employee__email", "moved"):
        spans[org_id].append(_AssociationSpan(employee_id, starts_on, ends_on, name or email, moved))
    earned: dict[int, list[_Earned]] = defaultdict(list)
    if spans and catalog.credential_codes:
        for employee_id, credential_id, earned_on, expires_on in (
            EarnedCredential.objects.filter(
                employee_id__in=overlapping.values("employee_id"),
                credential_id__in=list(catalog.credential_codes),
                earned_on__lte=day,
            )
            .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=since))
            .order_by()
            .values_list("employee_id", "credential_id", "earned_on", "expires_on")
        ):
            earned[employee_id].append(_Earned(credential_id, earned_on, expires_on))
    return _Facts(spans, earned, catalog)


def _evaluated_cause(evaluation: CompetencyResult, old: StoredStatus, *, facts: _Facts, day: datetime.date) -> Found:
    lost = LEVEL_RANK[evaluation.evaluated_level] < LEVEL_RANK[old.evaluated_level]
    involved = _requirements_involved(evaluation, old, lost=lost)
    found = None
    if any(r.kind != "metric" for r in involved) or not involved:
        window = _Window(
            facts.spans[evaluation.organization_id], facts.catalog.credentials_of(evaluation.competency_id), old.as_of, day
        )
        finders: tuple[Callable[[_Facts, _Window], Found | None], ...] = (
            (_departure, _retirement, _expiry) if lost else (_arrival, _earning)
        )
        found = next((f for f in (finder(facts, window) for finder in finders) if f is not None), None)
    if found is None:
        params = _metric_params(involved, facts.catalog, evaluation.competency_id, lost=lost)
        if params:
            found = (Cause.METRIC_CHANGED, params)
    return found or (Cause.OTHER, cause_params_of("unexplained", day=old.as_of))


def _departure(facts: _Facts, w: _Window) -> Found | None:
    """The latest departure of someone who held one of the competency's credentials the day before."""
    left = [
        s for s in w.spans
        if s.ends_on is not None and w.since <= s.ends_on <= w.day
        and facts.holds_one_of(s.employee_id, w.credentials, s.ends_on - ONE_DAY)
    ]
    if not left:
        return None
    s = max(left, key=lambda s: (s.ends_on, s.name))
    kind = "moved" if s.moved_elsewhere else "left"
    return Cause.ASSOCIATION_ENDED, cause_params_of(kind, employee_id=s.employee_id, name=s.name, day=s.ends_on)


def _retirement(facts: _Facts, w: _Window) -> Found | None:
    """A credential of the competency no longer accepted since, held by someone who counted the day before."""
    code, accepted_until = facts.catalog.credential_codes, facts.catalog.accepted_until
    for credential_id in sorted(w.credentials, key=code.get):
        until = accepted_until.get(credential_id)
        if until is None or not w.since <= until <= w.day:
            continue
        before = until - ONE_DAY
        holders = sorted(
            (s.name, s.employee_id) for s in w.spans
            if s.covers(before) and facts.holds_one_of(s.employee_id, {credential_id}, before)
        )
        if holders:
            name, employee_id = holders[0]
            return Cause.CREDENTIAL_RETIRED, cause_params_of(
                "retired", code=code[credential_id], day=until, employee_id=employee_id, name=name
            )
    return None


def _expiry(facts: _Facts, w: _Window) -> Found | None:
    """The latest expiry of a credential of the competency, valid the day before, of someone who counted then."""
    code = facts.catalog.credential_codes
    expired = [
        (e.expires_on, s.name, code[e.credential_id], s.employee_id)
        for s in w.spans
        for e in facts.earned[s.employee_id]
        if e.credential_id in w.credentials and e.expires_on is not None and w.since <= e.expires_on <= w.day
        and s.covers(e.expires_on - ONE_DAY) and facts.valid(e, e.expires_on - ONE_DAY)
    ]
    if not expired:
        return None
    expires_on, name, credential, employee_id = max(expired)
    return Cause.CREDENTIAL_EXPIRED, cause_params_of(
        "expired", employee_id=employee_id, name=name, code=credential, day=expires_on
    )


def _arrival(facts: _Facts, w: _Window) -> Found | None:
    """The latest association started since by someone who holds one of the competency's credentials."""
    started = [
        (s.starts_on, s.name, s.employee_id)
        for s in w.spans
        if w.since <= s.starts_on <= w.day and s.covers(w.day) and facts.holds_one_of(s.employee_id, w.credentials, w.day)
    ]
    if not started:
        return None
    starts_on, name, employee_id = max(started)
    return Cause.ASSOCIATION_STARTED, cause_params_of("associated", employee_id=employee_id, name=name, day=starts_on)


def _earning(facts: _Facts, w: _Window) -> Found | None:
    """The latest credential of the competency earned since by someone who counts."""
    code = facts.catalog.credential_codes
    gained = [
        (e.earned_on, s.name, code[e.credential_id], s.employee_id)
        for s in w.spans
        if s.covers(w.day)
        for e in facts.earned[s.employee_id]
        if e.credential_id in w.credentials and w.since <= e.earned_on <= w.day and facts.valid(e, w.day)
    ]
    if not gained:
        return None
    earned_on, name, credential, employee_id = max(gained)
    return Cause.CREDENTIAL_EARNED, cause_params_of(
        "earned", employee_id=employee_id, name=name, code=credential, day=earned_on
    )


def _requirements_involved(evaluation: CompetencyResult, old: StoredStatus, *, lost: bool) -> list[RequirementResult]:
    """The requirements a change can be blamed on.

    A loss: those now short in the options of the lost level that were met
    before (all options of that level when the stored summary does not
    say). A gain: those of the option now met.
    """
    if lost:
        was_met = {o.get("id") for o in (old.details or {}).get("options", []) if o.get("met")}
        return [
            r
            for o in evaluation.options
            if o.level == old.evaluated_level and (not was_met or o.option_id in was_met)
            for r in o.requirements
            if not r.met
        ]
    return [r for o in evaluation.options if o.option_id == evaluation.met_option_id for r in o.requirements]


def _metric_params(requirements: list[RequirementResult], catalog: CatalogSnapshot, competency_id: int, *, lost: bool) -> dict:
    """The first metric requirement among `requirements`, its figures as the cause's parameters; {} when none."""
    spec = catalog.competency(competency_id)
    thresholds = {r.id: r.compiled for o in spec.options for r in o.requirements if r.kind == "metric"} if spec else {}
    r = next((r for r in requirements if r.requirement_id in thresholds), None)
    if r is None:
        return {}
    threshold = thresholds[r.requirement_id]
    return cause_params_of(
        "metric_short" if lost else "metric_reached",
        metric=threshold.metric.name if threshold.metric else threshold.slug,
        **({"metric_names": threshold.metric.names} if threshold.metric and threshold.metric.names else {}),
        days=threshold.window_days,
        have=r.have,
        need=r.need,
        unit=r.unit,
    )
