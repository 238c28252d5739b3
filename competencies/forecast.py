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

`forecast_refresh` stores the result (`ForecastChange`), replaced per
organization in the batch's transaction: the night runs it after the
evaluation, and a change of the day re-runs it for the organizations it
touched. Words are made at display time (`forecast_words`).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext_noop

from .batch import collector_paused
from .bulk import bulk_insert
from .causes import template_words
from .engine import batched, evaluate_facts, levels_of
from .facts import among
from .models import (
    Association,
    EarnedCredential,
    ForecastChange,
    ForecastPending,
    Level,
    MetricValue,
    Organization,
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
    relevant = _Relevance(snapshot)
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


def _walk(timeline, events, facts, first: dict[int, CompetencyResult], relevant: _Relevance) -> list[Change]:
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


class _Relevance:
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


def _in(day: datetime.date, end: datetime.date, on: datetime.date | None) -> bool:
    return on is not None and day < on <= end


def _events(
    timeline: OrganizationTimeline, day: datetime.date, end: datetime.date, relevant: _Relevance
) -> dict[datetime.date, list[Event]]:
    """Day -> the facts of the organization changing on it, in the horizon `(day, end]`."""
    events: dict[datetime.date, list[Event]] = defaultdict(list)
    for employee_id, spans in timeline.spans.items():
        person = {"employee_id": employee_id, "name": timeline.names.get(employee_id, "")}
        for starts_on, ends_on in spans:
            if _in(day, end, starts_on):
                events[starts_on].append(Event("joins", person, employee_id=employee_id))
            if _in(day, end, ends_on):
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
        if _in(day, end, earned_on):
            found.append((earned_on, "earns"))
        if _in(day, end, expires_on):
            found.append((expires_on, "expires"))
        if _in(day, end, until) and earned_on < until and (expires_on is None or expires_on > until):
            found.append((until, "retires"))
        for on, kind in found:
            events[on].append(Event(kind, params, credential_id=credential_id, employee_id=employee_id))


def _metric_events(
    timeline: OrganizationTimeline, day: datetime.date, end: datetime.date, relevant: _Relevance,
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
            if _in(day, end, period_end):
                events[period_end].append(Event("metric_enters", base, metric_id=metric_id))
            for days in windows:
                leaves = period_end + datetime.timedelta(days=days)
                if _in(day, end, leaves):
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
        if _in(day, end, override.starts_on):
            events[override.starts_on].append(Event("override_starts", params, competency_id=override.competency_id))
        for on in ends:
            if _in(day, end, on):
                events[on].append(Event("override_ends", params, competency_id=override.competency_id))


# Stored by the night and on commit


def forecast_refresh(*, organization_ids: Iterable[int], day: datetime.date, whole: bool = False) -> int:
    """Bring the stored forecast of these organizations to `day`; the number of changes written.

    Rule: the forecast stored as of an earlier day D' still holds from `day` on, as long as no fact of
    the organization changed since (`ForecastPending`: marked by the change itself): the changes of
    `(day, D' + HORIZON_DAYS]` are the same, and only the days the horizon gained,
    `(D' + HORIZON_DAYS, day + HORIZON_DAYS]`, can hold new ones, which they do only where some fact
    changes on one of them (`_facts_changing`). So an organization is computed whole
    (`forecast`, its rows replaced) when it has no forecast yet, is marked pending, has a fact changing
    on a day the horizon gained, or when `whole` says so (a change of the day); otherwise its passed
    changes are deleted and its marker moved on; and an organization already forecast as of `day` is
    left as it is, so a night run again, or the catch-up, redoes nothing.

    Each batch's organizations are locked in id order, as the evaluation does, so a night and an
    on-commit refresh of the same organization queue rather than interleave; the pending marks are
    taken off before the facts are read, so a change that commits meanwhile is read or stays marked.
    Idempotent: run twice for the same day, it stores the same rows.
    """
    ids = sorted({int(i) for i in organization_ids})
    written = 0
    if not ids:
        return written
    snapshot = catalog_snapshot()
    with collector_paused():
        for batch in batched(ids, settings.EVALUATION_BATCH_SIZE):
            with transaction.atomic():
                written += _refresh_batch(batch, day, snapshot, whole=whole)
    return written


def _refresh_batch(batch: list[int], day: datetime.date, snapshot: CatalogSnapshot, *, whole: bool) -> int:
    markers = dict(
        Organization.objects.select_for_update().filter(among("id", batch)).order_by("pk").values_list("pk", "forecast_as_of")
    )
    pending = _take_pending(list(markers))
    compute = {
        pk for pk, as_of in markers.items() if whole or as_of is None or as_of > day or pk in pending
    }
    kept: dict[datetime.date, list[int]] = defaultdict(list)  # the day their forecast is stored as of -> them
    for pk, as_of in markers.items():
        if pk not in compute and as_of < day:
            kept[as_of].append(pk)
    for as_of, pks in kept.items():
        compute |= _facts_changing(pks, as_of + HORIZON, day + HORIZON, snapshot)
    moved = sorted(compute | {pk for pks in kept.values() for pk in pks})
    if not moved:
        return 0
    changes = forecast(organization_ids=sorted(compute), day=day, catalog=snapshot) if compute else []
    if compute:
        ForecastChange.objects.filter(among("organization_id", sorted(compute))).delete()
    ForecastChange.objects.filter(among("organization_id", moved), day__lte=day).delete()
    bulk_insert(ForecastChange, ["computed_on", *Change._fields], [(day, *c) for c in changes])
    Organization.objects.filter(among("id", moved)).update(forecast_as_of=day)
    return len(changes)


def forecast_pending_mark(*, organization_ids: list[int] | None, day: datetime.date) -> None:
    """The facts of these organizations (None: every one, a catalog change) change in the current transaction:
    their next forecast is computed whole (`ForecastPending`). An upsert, so a mark taken off meanwhile by
    a forecast waits for this transaction rather than being lost; no lock on the organizations."""
    table = ForecastPending._meta.db_table
    if organization_ids is None:
        sql = (f"INSERT INTO {table} (organization_id, marked_on) SELECT id, %s FROM "
               f"{Organization._meta.db_table} WHERE true ORDER BY id "
               "ON CONFLICT (organization_id) DO UPDATE SET marked_on = excluded.marked_on")
        with connection.cursor() as cursor:
            cursor.execute(sql, [day])
        return
    ForecastPending.objects.bulk_create(
        [ForecastPending(organization_id=pk, marked_on=day) for pk in sorted(set(organization_ids))],
        update_conflicts=True, unique_fields=["organization"], update_fields=["marked_on"], batch_size=1000,
    )


def _take_pending(ids: list[int]) -> set[int]:
    """Take the pending marks of these organizations off (one statement); those that had one."""
    taken: set[int] = set()
    table = ForecastPending._meta.db_table
    with connection.cursor() as cursor:
        for batch in batched(ids, 900):
            marks = ", ".join(["%s"] * len(batch))
            cursor.execute(f"DELETE FROM {table} WHERE organization_id IN ({marks}) RETURNING organization_id", batch)
            taken.update(row[0] for row in cursor.fetchall())
    return taken


def _within(field: str, after: datetime.date, through: datetime.date) -> Q:
    """`_in` as a filter: the field's day is in `(after, through]`."""
    return Q(**{f"{field}__gt": after, f"{field}__lte": through})


def _facts_changing(ids: list[int], after: datetime.date, through: datetime.date, snapshot: CatalogSnapshot) -> set[int]:
    """The organizations with a fact that `_events` would find changing on a day of `(after, through]`.

    The same days as `_events`, read as filters (four queries): an association of the organization starts
    or ends; a credential of one of its people (whose association covers some day of the span: only they
    can move a level then) is earned, expires or stops being accepted; a metric value enters, or leaves
    one of the catalog's windows; an override starts, ends or is revoked. It may name an organization
    whose forecast turns out unchanged, never miss one whose forecast changes.
    """
    found: set[int] = set()
    people: dict[int, set[int]] = defaultdict(set)  # employee -> organizations
    for employee_id, org_id, starts_on, ends_on in Association.objects.filter(
        among("organization_id", ids), starts_on__lte=through
    ).filter(Q(ends_on__isnull=True) | Q(ends_on__gt=after)).order_by().values_list(
        "employee_id", "organization_id", "starts_on", "ends_on"
    ):
        people[employee_id].add(org_id)
        if _in(after, through, starts_on) or _in(after, through, ends_on):
            found.add(org_id)
    retired = [pk for pk, until in snapshot.accepted_until.items() if _in(after, through, until)]
    if people and snapshot.credential_codes:
        for (employee_id,) in EarnedCredential.objects.filter(
            among("employee_id", list(people)), among("credential_id", list(snapshot.credential_codes))
        ).filter(
            _within("earned_on", after, through) | _within("expires_on", after, through) | Q(credential_id__in=retired)
        ).order_by().values_list("employee_id").distinct():
            found |= people[employee_id]
    windows = sorted({0} | {days for days_of in _Relevance(snapshot).windows.values() for days in days_of})
    if snapshot.metrics:
        entering_or_leaving = Q()
        for days in windows:  # a value leaves a window of W days on period_end + W (enters on period_end: W = 0)
            entering_or_leaving |= _within(
                "period_end", after - datetime.timedelta(days=days), through - datetime.timedelta(days=days)
            )
        found.update(MetricValue.objects.filter(among("organization_id", ids)).filter(entering_or_leaving).order_by()
                     .values_list("organization_id", flat=True).distinct())
    found.update(Override.objects.filter(among("organization_id", ids)).filter(
        _within("starts_on", after, through) | _within("expires_on", after, through)
        | _within("revoked_on", after, through)
    ).order_by().values_list("organization_id", flat=True).distinct())
    return found


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
