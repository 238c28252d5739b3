"""The facts of organizations over a span of days, read once; their facts on any day of it, made in memory.

The forecast asks the engine about every day of the coming year on which a fact changes, and the what-if
planner asks about today, the plan's day and that year under hypothetical changes. Rather than the
engine's five reads for each day, `read_timelines` reads once, for a set of organizations, what those
reads would find on any day of the span (five queries, whatever the number of days or organizations):
the markets, the associations that cover some day of it, the catalog's credentials of those employees
still valid on its first day or earned in it, the metric values from the catalog's largest window before
the span to its end, the overrides in force on some day of it.

`OrganizationTimeline.facts_on` makes the engine's `OrganizationFacts` of a day from those rows by the
rules the engine's reads apply (`rules.covers`, `rules.credential_valid_on`, `Override.is_active_on`), and
`advance` brings them to a later day, looking again only at the people named (those a fact of the days
between concerns). The rows are plain data, so the what-if planner changes them in memory
(`with_changes`) and the same code forecasts the plan.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from .facts import OrganizationFacts, among, employees_read
from .models import Association, EarnedCredential, MetricValue, Organization, Override
from .results import OverrideInfo
from .rules import covers, credential_valid_on
from .specs import CatalogSnapshot

Span = tuple[datetime.date, datetime.date | None]  # an association: starts_on, ends_on (None: open)
Earned = tuple[int, datetime.date, datetime.date | None]  # credential id, earned_on, expires_on
_NONE: frozenset[int] = frozenset()


@dataclass
class OrganizationTimeline:
    organization_id: int
    market: str
    spans: dict[int, list[Span]] = field(default_factory=dict)  # employee -> their associations with it
    names: dict[int, str] = field(default_factory=dict)  # employee -> display name
    earned: dict[int, list[Earned]] = field(default_factory=dict)  # employee -> the catalog's credentials
    points: dict[int, list[tuple[datetime.date, Decimal]]] = field(default_factory=dict)  # metric -> values
    overrides: list[Override] = field(default_factory=list)

    def counts_on(self, employee_id: int, day: datetime.date) -> bool:
        """Whether the employee counts for the organization on `day` (one of their associations covers it)."""
        return any(covers(starts_on, ends_on, day) for starts_on, ends_on in self.spans.get(employee_id, ()))

    def members_on(self, day: datetime.date) -> dict[int, str]:
        """The employees who count for the organization on `day` -> their names."""
        return {e: self.names.get(e, "") for e in self.spans if self.counts_on(e, day)}

    def held_on(self, employee_id: int, day: datetime.date, accepted_until: dict[int, datetime.date]) -> frozenset[int]:
        """The catalog's credentials the employee holds valid on `day`."""
        return frozenset(
            credential_id for credential_id, earned_on, expires_on in self.earned.get(employee_id, ())
            if credential_valid_on(earned_on, expires_on, accepted_until.get(credential_id), day)
        )

    def facts_on(self, day: datetime.date, snapshot: CatalogSnapshot) -> OrganizationFacts:
        """The facts the engine's reads would find on `day` (a new object: `advance` changes it in place)."""
        members = self.members_on(day)
        held = {e: h for e in members if (h := self.held_on(e, day, snapshot.accepted_until))}
        return OrganizationFacts(
            organization_id=self.organization_id, market=self.market, day=day, members=members, held=held,
            metric_points=self.points, codes=snapshot.credential_codes,
        )

    def advance(
        self, facts: OrganizationFacts, day: datetime.date, employees: Iterable[int],
        accepted_until: dict[int, datetime.date],
    ) -> set[int]:
        """Bring `facts` to `day`, the people in `employees` looked at again; whoever else is left as they were.
        Returns the credentials whose holders changed. Metric sums are made again for the day
        (`OrganizationFacts.metric_sum` keeps only the window's values)."""
        facts.day, facts._sums = day, {}
        members, held, holders = facts.members, facts.held, facts.holders
        changed: set[int] = set()
        for employee_id in employees:
            before = held.get(employee_id, _NONE)
            now = _NONE
            if self.counts_on(employee_id, day):
                members[employee_id] = self.names.get(employee_id, "")
                now = self.held_on(employee_id, day, accepted_until)
            else:
                members.pop(employee_id, None)
            if now:
                held[employee_id] = now
            else:
                held.pop(employee_id, None)
            for credential_id in before - now:
                holders[credential_id] = holders[credential_id] - {employee_id}
            for credential_id in now - before:
                holders[credential_id] = holders.get(credential_id, _NONE) | {employee_id}
            changed |= before ^ now
        return changed

    def overrides_on(self, day: datetime.date) -> dict[tuple[int, int], OverrideInfo]:
        """(organization, competency) -> the override active on `day`, as the engine's read keys it."""
        return {
            (self.organization_id, o.competency_id): OverrideInfo(o.pk, o.level, o.expires_on)
            for o in self.overrides if o.is_active_on(day)
        }

    def with_changes(
        self,
        *,
        day: datetime.date,
        leaving: Iterable[int] = (),
        joining: dict[int, tuple[str, list[Earned]]] | None = None,
        earning: dict[int, list[Earned]] | None = None,
        gains: dict[int, Decimal] | None = None,
    ) -> OrganizationTimeline:
        """A copy with hypothetical changes on `day`: people join (id -> name and the credentials they bring)
        from that day, earn credentials, leave (their associations end on that day at the latest), metrics
        gain a value dated that day. The rows of `self` are left as they are."""
        spans, names, earned, points = dict(self.spans), dict(self.names), dict(self.earned), dict(self.points)
        for person, (name, rows) in (joining or {}).items():
            spans[person], names[person] = [*spans.get(person, ()), (day, None)], name
            earned[person] = [*earned.get(person, ()), *rows]
        for person, rows in (earning or {}).items():
            earned[person] = [*earned.get(person, ()), *rows]
        for person in leaving:
            spans[person] = [(s, day if e is None else min(e, day)) for s, e in spans.get(person, ()) if s < day]
        for metric_id, amount in (gains or {}).items():
            points[metric_id] = [*points.get(metric_id, ()), (day, amount)]
        return dataclasses.replace(self, spans=spans, names=names, earned=earned, points=points)


def read_timelines(
    ids: list[int], start: datetime.date, end: datetime.date, snapshot: CatalogSnapshot
) -> dict[int, OrganizationTimeline]:
    """Organization -> its timeline from `start` to `end` (both included): five queries. Unknown ids are left out."""
    timelines = {
        pk: OrganizationTimeline(pk, market)
        for pk, market in Organization.objects.filter(among("id", ids)).order_by().values_list("pk", "market")
    }
    associations = Association.objects.filter(among("organization_id", ids), starts_on__lte=end).filter(
        Q(ends_on__isnull=True) | Q(ends_on__gt=start)
    ).order_by()
    for employee_id, org_id, starts_on, ends_on, name, email in associations.values_list(
        "employee_id", "organization_id", "starts_on", "ends_on", "employee__name", "employee__email"
    ):
        timeline = timelines[org_id]
        timeline.spans.setdefault(employee_id, []).append((starts_on, ends_on))
        timeline.names[employee_id] = name or email
    _read_earned(timelines, associations, start, end, snapshot)
    _read_points(timelines, ids, start, end, snapshot)
    for override in Override.objects.filter(among("organization_id", ids), starts_on__lte=end, expires_on__gt=start).only(
        "organization_id", "competency_id", "level", "starts_on", "expires_on", "state", "revoked_on"
    ).order_by():
        timelines[override.organization_id].overrides.append(override)
    return timelines


def _read_earned(timelines, associations, start, end, snapshot: CatalogSnapshot) -> None:
    """The catalog's credentials of the timelines' people, valid on `start` or earned up to `end`."""
    employees = {e for timeline in timelines.values() for e in timeline.spans}
    if not employees or not snapshot.credential_codes:
        return
    earned: dict[int, list[Earned]] = defaultdict(list)
    for employee_id, credential_id, earned_on, expires_on in EarnedCredential.objects.filter(
        employees_read(associations, employees), among("credential_id", list(snapshot.credential_codes)),
        Q(expires_on__isnull=True) | Q(expires_on__gt=start), earned_on__lte=end,
    ).order_by().values_list("employee_id", "credential_id", "earned_on", "expires_on"):
        earned[employee_id].append((credential_id, earned_on, expires_on))
    for timeline in timelines.values():
        timeline.earned = {e: earned[e] for e in timeline.spans if e in earned}


def _read_points(timelines, ids: list[int], start, end, snapshot: CatalogSnapshot) -> None:
    """The values of the catalog's metrics from its largest window before `start` to `end`."""
    metric_ids = [m.id for m in snapshot.metrics.values()]
    if not metric_ids or snapshot.max_window_days <= 0:
        return
    for org_id, metric_id, period_end, value in MetricValue.objects.filter(
        among("organization_id", ids), among("metric_id", metric_ids),
        period_end__gt=start - datetime.timedelta(days=snapshot.max_window_days), period_end__lte=end,
    ).order_by().values_list("organization_id", "metric_id", "period_end", "value"):
        timelines[org_id].points.setdefault(metric_id, []).append((period_end, value))
