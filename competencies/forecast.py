"""The forecast: the days of the coming year on which a level would change if nothing new happens.

Almost everything that changes a level is known in advance: a credential
expires on its `expires_on`, a retired one stops counting on its credential's
`accepted_until`, a metric value leaves a window of W days on
`period_end + W` (and a value dated in the future enters on its
`period_end`), an override stops holding a level up on its `expires_on`
(or the day it is revoked), an association starts or ends on its dates.
Between two such days nothing the engine reads changes, so the levels are
those of the last one.

`forecast` reads the facts of the coming year for a batch of organizations
once (`timeline.read_timelines`: five queries, whatever the number of days),
evaluates the first day for all of them (`engine.evaluate_facts`), then,
organization by organization, walks the days on which one of its facts
changes: the engine's facts are brought to that day in memory
(`OrganizationTimeline.advance`), the requirements those facts concern are
asked again by their kinds, the levels of a competency one of them turned
are made again from its requirements' results (`engine.levels_of`), and the
days on which an evaluated or effective level differs from the day before
are kept. Each
change keeps its cause as data: the fact of that day that concerns the
competency (one of its credentials, one of its metrics, its override), else
the first fact of the day. Term ends belong to the memberships layer: they
move the displayed level, not these. The what-if planner forecasts a plan
with the same walk (`forecast_timelines`) over timelines it changed in memory.

`forecast_store.forecast_refresh` stores the result (`ForecastChange`) and moves it on from night to
night. Words are made at display time (`forecast_words`).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.utils.translation import gettext_noop

from .causes import template_words
from .engine import evaluate_facts, levels_of
from .models import (
    ForecastChange,
    Level,
    Override,
    StatusChange,
)
from .results import CompetencyResult
from .snapshot import catalog_snapshot
from .specs import CatalogSnapshot, RequirementSpec
from .timeline import OrganizationTimeline, read_timelines

HORIZON_DAYS = 365
HORIZON = datetime.timedelta(days=HORIZON_DAYS)


class Event(NamedTuple):
    """A fact that changes on a day: the kind of words (`FORECAST_TEMPLATES`), their parameters, and what it
    concerns (a credential, a metric or a competency's override; the person) to tell which competency it
    explains."""

    kind: str
    params: dict
    credential_id: int | None = None
    metric_id: int | None = None
    competency_id: int | None = None
    employee_id: int | None = None


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


def forecast(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    catalog: CatalogSnapshot | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> list[Change]:
    """Every change of evaluated or effective level in `(day, day + horizon_days]` if nothing new happens.

    Set-based: the five reads of the facts of the horizon for the whole call, then the engine in memory,
    never a query per organization or per day.
    """
    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return []
    snapshot = catalog if catalog is not None else catalog_snapshot()
    end = day + datetime.timedelta(days=horizon_days)
    return forecast_timelines(read_timelines(ids, day, end, snapshot).values(), day=day, end=end, snapshot=snapshot)


def forecast_timelines(
    timelines: Iterable[OrganizationTimeline], *, day: datetime.date, end: datetime.date, snapshot: CatalogSnapshot
) -> list[Change]:
    """`forecast` of timelines already read (or changed in memory: the what-if planner): no query.

    The levels of the first day are evaluated for every organization with a fact changing in the horizon
    at once (the engine's batch path); then each organization's facts are brought from day to day
    (`_walk`).
    """
    relevant = Relevance(snapshot)
    walks = []
    for timeline in timelines:
        if events := _events(timeline, day, end, relevant):
            walks.append((timeline, events, timeline.facts_on(day, snapshot)))
    overrides = {key: o for timeline, _e, _f in walks for key, o in timeline.overrides_on(day).items()}
    first: dict[int, dict[int, CompetencyResult]] = defaultdict(dict)
    for (org_id, competency_id), result in evaluate_facts(
        {t.organization_id: facts for t, _e, facts in walks}, overrides, snapshot
    ).items():
        first[org_id][competency_id] = result
    changes: list[Change] = []
    for timeline, events, facts in walks:
        changes += _walk(timeline, events, facts, first[timeline.organization_id], relevant)
    changes.sort(key=lambda c: (c.organization_id, c.day, c.competency_id))
    return changes


def _walk(timeline, events, facts, first: dict[int, CompetencyResult], relevant: Relevance) -> list[Change]:
    """One organization's changes, day after day from the first day's results.

    A level is made of its requirements' results (an option is met when all of its requirements hold), so
    on each day only the requirements that day's facts concern are asked again (`RequirementKind.evaluate`),
    and a competency's levels are made again from its requirements' results (`engine.levels_of`) when one
    of them turns, or its override starts or ends.
    """
    snapshot = relevant.snapshot
    current = {c: (r.evaluated_level, r.effective_level) for c, r in first.items()}
    results = {q.requirement_id: q for r in first.values() for option in r.options for q in option.requirements}
    changes = []
    for on in sorted(events):
        changed = timeline.advance(facts, on, {e.employee_id for e in events[on] if e.employee_id is not None},
                                   snapshot.accepted_until)
        moved = {e.competency_id for e in events[on] if e.competency_id is not None}
        for requirement_id, (competency_id, req) in relevant.requirements(changed, events[on]).items():
            # A level depends on its requirements' verdicts alone: a result is made again only when one turns.
            if req.handler.met(req, facts) != results[requirement_id].met:
                results[requirement_id] = req.handler.evaluate(req, facts, details=False)
                moved.add(competency_id)
        if not moved:
            continue
        overrides = timeline.overrides_on(on)
        for competency_id in sorted(moved):
            spec = snapshot.competency(competency_id)
            if spec is None:
                continue
            before = current[competency_id]
            now = levels_of(spec, results, overrides.get((timeline.organization_id, competency_id)))
            if now != before:
                current[competency_id] = now
                cause = relevant.cause(events[on], competency_id, evaluated_moved=before[0] != now[0])
                changes.append(Change(timeline.organization_id, competency_id, on, before[0], now[0], before[1], now[1],
                                      *cause))
    return changes


class Relevance:
    """Which requirements a fact concerns, and which of a day's facts explains a competency's change: one
    that concerns it, else the first one."""

    def __init__(self, snapshot: CatalogSnapshot):
        self.snapshot = snapshot
        self.credentials: dict[int, set[int]] = {}  # competency -> its credentials
        self.metrics: dict[int, set[int]] = defaultdict(set)  # competency -> its metrics
        self.windows: dict[int, set[int]] = defaultdict(set)  # metric -> the windows the catalog sums it over
        # credential, or (metric, window days) -> the requirements that read it: id -> (competency, spec)
        self.readers: dict[object, dict[int, tuple[int, RequirementSpec]]] = defaultdict(dict)
        for spec in snapshot.competencies:
            self.credentials[spec.id] = snapshot.credentials_of(spec.id)
            for option in spec.options:
                for req in option.requirements:
                    for credential_id in req.handler.credential_ids(req.compiled):
                        self.readers[credential_id][req.id] = (spec.id, req)
                    for slug, days in req.handler.metric_windows(req.params).items():
                        if slug in snapshot.metrics:
                            metric_id = snapshot.metrics[slug].id
                            self.metrics[spec.id].add(metric_id)
                            self.windows[metric_id].add(days)
                            self.readers[(metric_id, days)][req.id] = (spec.id, req)

    def requirements(self, credentials: set[int], events: list[Event]) -> dict[int, tuple[int, RequirementSpec]]:
        """The requirements that read the credentials whose holders changed or a metric sum the day's values
        enter (every window of the metric) or leave (that window)."""
        found: dict[int, tuple[int, RequirementSpec]] = {}
        for credential_id in credentials:
            found.update(self.readers.get(credential_id, {}))
        for event in events:
            if event.kind == "metric_leaves":
                found.update(self.readers.get((event.metric_id, event.params["days"]), {}))
            elif event.kind == "metric_enters":
                for days in self.windows.get(event.metric_id, ()):
                    found.update(self.readers.get((event.metric_id, days), {}))
        return found

    def concerns(self, event: Event, competency_id: int) -> bool:
        return (
            event.competency_id == competency_id
            or (event.credential_id is not None and event.credential_id in self.credentials.get(competency_id, ()))
            or (event.metric_id is not None and event.metric_id in self.metrics.get(competency_id, ()))
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
# The facts that change in the horizon, from the timeline's rows


def within(day: datetime.date, end: datetime.date, on: datetime.date | None) -> bool:
    """`on` is a day of the horizon `(day, end]`."""
    return on is not None and day < on <= end


def _events(
    timeline: OrganizationTimeline, day: datetime.date, end: datetime.date, relevant: Relevance
) -> dict[datetime.date, list[Event]]:
    """Day -> the facts of the organization changing on it, in the horizon `(day, end]`."""
    events: dict[datetime.date, list[Event]] = defaultdict(list)
    for employee_id, spans in timeline.spans.items():
        person = {"employee_id": employee_id, "name": timeline.names.get(employee_id, "")}
        for starts_on, ends_on in spans:
            if within(day, end, starts_on):
                events[starts_on].append(Event("joins", person, employee_id=employee_id))
            if within(day, end, ends_on):
                events[ends_on].append(Event("leaves", person, employee_id=employee_id))
        _credential_events(timeline, employee_id, person, day, end, relevant.snapshot, events)
    _metric_events(timeline, day, end, relevant, events)
    _override_events(timeline, day, end, events)
    return events


def _credential_events(
    timeline: OrganizationTimeline, employee_id: int, person: dict, day: datetime.date, end: datetime.date,
    snapshot: CatalogSnapshot, events: dict[datetime.date, list[Event]],
) -> None:
    """The person's credentials that become valid, expire, or stop being accepted in the horizon."""
    for credential_id, earned_on, expires_on in timeline.earned.get(employee_id, ()):
        params = {**person, "code": snapshot.credential_codes[credential_id]}
        until = snapshot.accepted_until.get(credential_id)
        found = []
        if within(day, end, earned_on):
            found.append((earned_on, "earns"))
        if within(day, end, expires_on):
            found.append((expires_on, "expires"))
        if within(day, end, until) and earned_on < until and (expires_on is None or expires_on > until):
            found.append((until, "retires"))
        for on, kind in found:
            events[on].append(Event(kind, params, credential_id=credential_id, employee_id=employee_id))


def _metric_events(
    timeline: OrganizationTimeline, day: datetime.date, end: datetime.date, relevant: Relevance,
    events: dict[datetime.date, list[Event]],
) -> None:
    """Metric values that enter (dated in the future) or leave a window the catalog sums them over."""
    names = {m.id: (m.name, m.names) for m in relevant.snapshot.metrics.values()}
    for metric_id, points in timeline.points.items():
        windows = sorted(relevant.windows.get(metric_id, ()))
        name, translations = names[metric_id]
        for period_end, _value in points:
            base = {"metric_id": metric_id, "metric": name, "period": period_end.isoformat()}
            if translations:
                base["metric_names"] = translations
            if within(day, end, period_end):
                events[period_end].append(Event("metric_enters", base, metric_id=metric_id))
            for days in windows:
                leaves = period_end + datetime.timedelta(days=days)
                if within(day, end, leaves):
                    events[leaves].append(Event("metric_leaves", {**base, "days": days}, metric_id=metric_id))


def _override_events(
    timeline: OrganizationTimeline, day: datetime.date, end: datetime.date, events: dict[datetime.date, list[Event]]
) -> None:
    """Overrides that start, end or are revoked in the horizon (`Override.is_active_on`'s days)."""
    for override in timeline.overrides:
        params = {"override_id": override.pk, "level": override.level}
        ends = [override.expires_on]
        if override.state == Override.State.REVOKED:
            ends.append(override.revoked_on)
        if within(day, end, override.starts_on):
            events[override.starts_on].append(Event("override_starts", params, competency_id=override.competency_id))
        for on in ends:
            if within(day, end, on):
                events[on].append(Event("override_ends", params, competency_id=override.competency_id))


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
