"""The forecast: the days of the coming year on which a level would change if nothing new happens.

Almost everything that changes a level is known in advance: a credential
expires on its `expires_on`, a retired one stops counting on its credential's
`accepted_until`, a metric value leaves a window of W days on
`period_end + W` (and a value dated in the future enters on its
`period_end`), an override stops holding a level up on its `expires_on`
(or the day it is revoked), an association starts or ends on its dates.
Between two such days nothing the engine reads changes, so the levels are
those of the last one.

`forecast` reads those days for a batch of organizations with one query per
kind of fact (associations, earned credentials, metric values, overrides),
then evaluates, with the engine (`engine.evaluate`, batch path), each distinct
day for the organizations that have a fact changing on it, and keeps the
days on which an evaluated or effective level differs from the day before.
Each change keeps its cause as data: the fact of that day that concerns the
competency (one of its credentials, one of its metrics, its override), else
the first fact of the day. Term ends belong to the memberships layer: they
move the displayed level, not these.

`forecast_refresh` stores the result (`ForecastChange`), replaced per
organization in the batch's transaction: the night runs it after the
evaluation, and a change of the day re-runs it for the organizations it
touched. Words are made at display time (`forecast_words`).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_noop

from .batch import collector_paused
from .causes import template_words
from .engine import batched, evaluate
from .facts import among
from .models import (
    Association,
    EarnedCredential,
    ForecastChange,
    Level,
    MetricValue,
    Organization,
    Override,
    StatusChange,
)
from .snapshot import catalog_snapshot
from .specs import CatalogSnapshot

HORIZON_DAYS = 365


class Event(NamedTuple):
    """A fact that changes on a day: the kind of words (`FORECAST_TEMPLATES`), their parameters, and what it
    concerns (a credential, a metric or a competency's override) to tell which competency it explains."""

    kind: str
    params: dict
    credential_id: int | None = None
    metric_id: int | None = None
    competency_id: int | None = None


class Change(NamedTuple):
    """A change of level on `day`: `ForecastChange`'s columns."""

    organization_id: int
    competency_id: int
    day: datetime.date
    old_evaluated: str
    new_evaluated: str
    old_effective: str
    new_effective: str
    cause: str
    cause_params: dict


@dataclass
class _Events:
    """Organization -> day -> the facts changing on that day."""

    by_org: dict[int, dict[datetime.date, list[Event]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))

    def add(self, org_id: int, day: datetime.date, event: Event) -> None:
        self.by_org[org_id][day].append(event)


def forecast(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    catalog: CatalogSnapshot | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> list[Change]:
    """Every change of evaluated or effective level in `(day, day + horizon_days]` if nothing new happens.

    Set-based: four reads of the facts for the whole call, then one evaluation
    (the engine's five reads) per distinct day on which a fact changes, of the
    organizations it changes for; never a query per organization.
    """
    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return []
    snapshot = catalog if catalog is not None else catalog_snapshot()
    end = day + datetime.timedelta(days=horizon_days)
    events = _read_events(ids, day, end, snapshot)
    current = {
        key: (r.evaluated_level, r.effective_level)
        for key, r in evaluate(organization_ids=ids, day=day, catalog=snapshot).items()
    }
    orgs_by_day: dict[datetime.date, list[int]] = defaultdict(list)
    for org_id, days in events.by_org.items():
        for on in days:
            orgs_by_day[on].append(org_id)
    relevant = _Relevance(snapshot)
    changes = []
    for on in sorted(orgs_by_day):
        for key, result in evaluate(organization_ids=orgs_by_day[on], day=on, catalog=snapshot).items():
            levels = (result.evaluated_level, result.effective_level)
            before = current.get(key)
            if before is None or before == levels:
                current[key] = levels
                continue
            current[key] = levels
            cause = relevant.cause(events.by_org[key[0]][on], key[1], evaluated_moved=before[0] != levels[0])
            changes.append(Change(key[0], key[1], on, before[0], levels[0], before[1], levels[1], *cause))
    changes.sort(key=lambda c: (c.organization_id, c.day, c.competency_id))
    return changes


class _Relevance:
    """Which of a day's facts explains a competency's change: one that concerns it, else the first one."""

    def __init__(self, snapshot: CatalogSnapshot):
        self.snapshot = snapshot
        self._credentials: dict[int, set[int]] = {}
        self._metrics: dict[int, set[int]] = {}

    def credentials(self, competency_id: int) -> set[int]:
        if competency_id not in self._credentials:
            self._credentials[competency_id] = self.snapshot.credentials_of(competency_id)
        return self._credentials[competency_id]

    def metrics(self, competency_id: int) -> set[int]:
        if competency_id not in self._metrics:
            spec = self.snapshot.competency(competency_id)
            slugs = set()
            for option in spec.options if spec else ():
                for req in option.requirements:
                    slugs |= set(req.handler.metric_windows(req.params))
            self._metrics[competency_id] = {self.snapshot.metrics[s].id for s in slugs if s in self.snapshot.metrics}
        return self._metrics[competency_id]

    def concerns(self, event: Event, competency_id: int) -> bool:
        return (
            event.competency_id == competency_id
            or (event.credential_id is not None and event.credential_id in self.credentials(competency_id))
            or (event.metric_id is not None and event.metric_id in self.metrics(competency_id))
        )

    def cause(self, events: list[Event], competency_id: int, *, evaluated_moved: bool) -> tuple[str, dict]:
        """The kind and parameters of the fact that explains the change (an override's for an effective-only one)."""
        mine = [e for e in events if self.concerns(e, competency_id)]
        if not evaluated_moved:
            mine = [e for e in mine if e.competency_id == competency_id] or mine
        chosen = (mine or events)[0] if events else None
        if chosen is None:
            return "other", {"kind": "other"}
        return chosen.kind, {"kind": chosen.kind, **chosen.params}


# ---------------------------------------------------------------------------
# The facts that change in the horizon: one read per kind


def _read_events(ids: list[int], day: datetime.date, end: datetime.date, snapshot: CatalogSnapshot) -> _Events:
    events = _Events()
    employees = _association_events(ids, day, end, events)
    _credential_events(ids, day, end, snapshot, employees, events)
    _metric_events(ids, day, end, snapshot, events)
    _override_events(ids, day, end, events)
    return events


def _in(day: datetime.date, end: datetime.date, on: datetime.date | None) -> bool:
    return on is not None and day < on <= end


def _spans(ids: list[int], day: datetime.date, end: datetime.date):
    """The associations with the organizations that cover some day of the horizon."""
    return Association.objects.filter(among("organization_id", ids), starts_on__lte=end).filter(
        Q(ends_on__isnull=True) | Q(ends_on__gt=day)
    ).order_by()


def _association_events(
    ids: list[int], day: datetime.date, end: datetime.date, events: _Events
) -> dict[int, tuple[str, list[int]]]:
    """Starts and ends of associations; returns employee -> (name, the organizations they count for meanwhile)."""
    employees: dict[int, tuple[str, list[int]]] = {}
    for employee_id, org_id, starts_on, ends_on, name, email in _spans(ids, day, end).values_list(
        "employee_id", "organization_id", "starts_on", "ends_on", "employee__name", "employee__email"
    ):
        name = name or email
        employees.setdefault(employee_id, (name, []))[1].append(org_id)
        person = {"employee_id": employee_id, "name": name}
        if _in(day, end, starts_on):
            events.add(org_id, starts_on, Event("joins", person))
        if _in(day, end, ends_on):
            events.add(org_id, ends_on, Event("leaves", person))
    return employees


def _credential_events(
    ids: list[int],
    day: datetime.date,
    end: datetime.date,
    snapshot: CatalogSnapshot,
    employees: dict[int, tuple[str, list[int]]],
    events: _Events,
) -> None:
    """Credentials of those employees that become valid, expire, or stop being accepted in the horizon."""
    codes = snapshot.credential_codes
    retiring = {pk: until for pk, until in snapshot.accepted_until.items() if _in(day, end, until)}
    if not codes or not employees:
        return
    window = Q(earned_on__gt=day, earned_on__lte=end) | Q(expires_on__gt=day, expires_on__lte=end)
    if retiring:
        window |= Q(credential_id__in=list(retiring))
    earned = EarnedCredential.objects.filter(
        employee_id__in=_spans(ids, day, end).values("employee_id"), credential_id__in=list(codes)
    ).filter(window).order_by().values_list("employee_id", "credential_id", "earned_on", "expires_on")
    for employee_id, credential_id, earned_on, expires_on in earned:
        name, orgs = employees.get(employee_id, ("", []))
        params = {"employee_id": employee_id, "name": name, "code": codes[credential_id]}
        until = retiring.get(credential_id)
        found = []
        if _in(day, end, earned_on):
            found.append((earned_on, "earns"))
        if _in(day, end, expires_on):
            found.append((expires_on, "expires"))
        if until is not None and earned_on < until and (expires_on is None or expires_on > until):
            found.append((until, "retires"))
        for on, kind in found:
            for org_id in orgs:
                events.add(org_id, on, Event(kind, params, credential_id=credential_id))


def _metric_events(
    ids: list[int], day: datetime.date, end: datetime.date, snapshot: CatalogSnapshot, events: _Events
) -> None:
    """Metric values that enter (dated in the future) or leave a window the catalog sums them over."""
    windows: dict[int, set[int]] = defaultdict(set)
    for competency in snapshot.competencies:
        for option in competency.options:
            for req in option.requirements:
                for slug, days in req.handler.metric_windows(req.params).items():
                    if slug in snapshot.metrics:
                        windows[snapshot.metrics[slug].id].add(days)
    if not windows:
        return
    names = {m.id: (m.name, m.names) for m in snapshot.metrics.values()}
    values = MetricValue.objects.filter(
        among("organization_id", ids),
        among("metric_id", list(windows)),
        period_end__gt=day - datetime.timedelta(days=snapshot.max_window_days),
        period_end__lte=end,
    ).order_by().values_list("organization_id", "metric_id", "period_end")
    for org_id, metric_id, period_end in values:
        name, translations = names[metric_id]
        base = {"metric_id": metric_id, "metric": name, "period": period_end.isoformat()}
        if translations:
            base["metric_names"] = translations
        if _in(day, end, period_end):
            events.add(org_id, period_end, Event("metric_enters", base, metric_id=metric_id))
        for days in sorted(windows[metric_id]):
            leaves = period_end + datetime.timedelta(days=days)
            if _in(day, end, leaves):
                events.add(org_id, leaves, Event("metric_leaves", {**base, "days": days}, metric_id=metric_id))


def _override_events(ids: list[int], day: datetime.date, end: datetime.date, events: _Events) -> None:
    """Overrides that start, end or are revoked in the horizon (`Override.active_on`'s days)."""
    in_horizon = Q(starts_on__gt=day, starts_on__lte=end) | Q(expires_on__gt=day, expires_on__lte=end)
    in_horizon |= Q(state=Override.State.REVOKED, revoked_on__gt=day, revoked_on__lte=end)
    for pk, org_id, competency_id, level, starts_on, expires_on, state, revoked_on in (
        Override.objects.filter(among("organization_id", ids)).filter(in_horizon).order_by().values_list(
            "pk", "organization_id", "competency_id", "level", "starts_on", "expires_on", "state", "revoked_on"
        )
    ):
        params = {"override_id": pk, "level": level}
        if _in(day, end, starts_on):
            events.add(org_id, starts_on, Event("override_starts", params, competency_id=competency_id))
        if _in(day, end, expires_on):
            events.add(org_id, expires_on, Event("override_ends", params, competency_id=competency_id))
        if state == Override.State.REVOKED and _in(day, end, revoked_on):
            events.add(org_id, revoked_on, Event("override_ends", params, competency_id=competency_id))


# ---------------------------------------------------------------------------
# Stored by the night and on commit


def forecast_refresh(*, organization_ids: Iterable[int], day: datetime.date) -> int:
    """Compute and store the forecast of these organizations as of `day`; the number of changes stored.

    Rule: an organization's forecast is replaced whole (its `ForecastChange` rows deleted and written
    again) in its batch's transaction, the batch's organizations locked in id order as the evaluation
    does, so a night and an on-commit refresh of the same organization queue rather than interleave.
    Idempotent: run twice for the same day, it stores the same rows.
    """
    ids = sorted({int(i) for i in organization_ids})
    stored = 0
    if not ids:
        return stored
    snapshot = catalog_snapshot()
    with collector_paused():
        for batch in batched(ids, settings.EVALUATION_BATCH_SIZE):
            with transaction.atomic():
                locked = list(
                    Organization.objects.select_for_update().filter(pk__in=batch).order_by("pk").values_list("pk", flat=True)
                )
                changes = forecast(organization_ids=locked, day=day, catalog=snapshot)
                ForecastChange.objects.filter(organization_id__in=locked).delete()
                ForecastChange.objects.bulk_create(
                    [ForecastChange(computed_on=day, **c._asdict()) for c in changes], batch_size=1000
                )
                stored += len(changes)
    return stored


# ---------------------------------------------------------------------------
# Read by the pages

FORECAST_TEMPLATES = {
    "joins": gettext_noop("%(name)s starts counting for the organization"),
    "leaves": gettext_noop("%(name)s stops counting for the organization"),
    "earns": gettext_noop("%(name)s's %(code)s becomes valid"),
    "expires": gettext_noop("%(name)s's %(code)s expires"),
    "retires": gettext_noop("%(code)s is no longer accepted (held by %(name)s)"),
    "metric_enters": gettext_noop("%(metric)s of %(period)s enters its window"),
    "metric_leaves": gettext_noop("%(metric)s of %(period)s leaves the %(days)s-day window"),
    "override_starts": gettext_noop("%(level)s override starts"),
    "override_ends": gettext_noop("%(level)s override ends"),
    "other": gettext_noop("no single known fact explains it"),
}


def forecast_words(params: dict | None) -> str:
    """The words of a forecast change's cause in the active language ("" for a row edited beyond reading)."""
    template = FORECAST_TEMPLATES.get((params or {}).get("kind"))
    return (template_words(template, params) or "") if template is not None else ""


def upcoming_changes(
    *, organization_id: int, day: datetime.date, competency_id: int | None = None, limit: int | None = None
) -> list[ForecastChange]:
    """The stored forecast of an organization after `day`, in day order, each with its `words`: one query."""
    rows = ForecastChange.objects.filter(organization_id=organization_id, day__gt=day).select_related("competency")
    if competency_id is not None:
        rows = rows.filter(competency_id=competency_id)
    rows = list(rows.order_by("day", "competency__position", "competency_id")[:limit] if limit else rows.order_by("day", "id"))
    for row in rows:
        row.words = forecast_words(row.cause_params)
    return rows


def level_steps(
    *,
    organization_id: int,
    competency_id: int,
    day: datetime.date,
    days_before: int = HORIZON_DAYS,
    coming: list[ForecastChange] | None = None,
) -> list[tuple[datetime.date, str, bool]]:
    """The effective level over the past `days_before` days and the stored forecast: `(from day, level,
    forecast?)` steps, the first from `day - days_before` (the level held then, none before any history).
    Two queries: the recorded history and the forecast (one when the caller read the forecast: `coming`,
    `upcoming_changes` of the competency)."""
    start = day - datetime.timedelta(days=days_before)
    steps = [(start, Level.NONE, False)]
    for on, level in StatusChange.objects.filter(
        organization_id=organization_id, competency_id=competency_id, day__lte=day
    ).order_by("day", "id").values_list("day", "new_effective"):
        steps.append((max(on, start), level, False))
    if coming is None:
        coming = upcoming_changes(organization_id=organization_id, day=day, competency_id=competency_id)
    steps.extend((change.day, change.new_effective, True) for change in coming)
    merged: list[tuple[datetime.date, str, bool]] = []
    for step in steps:  # a later step on the same day replaces the earlier one; an unchanged level adds none
        if merged and merged[-1][0] == step[0]:
            merged.pop()
        if not merged or merged[-1][1] != step[1]:
            merged.append(step)
    return merged
