"""What the engine knows of organizations on a day D: five set-based reads, and `OrganizationFacts` made of them.

Per call, whatever the number of organizations: the organizations (market), the
associations covering D, the valid earned credentials of those employees restricted to
the credentials the catalog uses, the metric values in the largest window (for a batch:
their sums over each window the catalog uses), the overrides active on D. On PostgreSQL
the ids go as one array parameter (`among`).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import F, Lookup, Q, QuerySet, Sum

from .models import Association, EarnedCredential, MetricValue, Organization, Override
from .results import OverrideInfo
from .rules import covering, credential_valid, credential_valid_on
from .specs import CatalogSnapshot


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
# The five reads


class _AnyId(Lookup):
    """`column = ANY('{1,2,…}'::bigint[])`: PostgreSQL reads the ids as one array, so a batch's
    query costs the same to build and plan whatever its size (an `IN` list is one parameter per id)."""

    lookup_name = "any_id"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*params, "{" + ",".join(map(str, map(int, self.rhs))) + "}")


def among(field: str, ids: Iterable[int]) -> Q | Lookup:
    """`field` is one of `ids`: one array parameter on PostgreSQL, `IN` elsewhere."""
    if connection.vendor == "postgresql":
        return _AnyId(F(field), list(ids))
    return Q(**{f"{field}__in": list(ids)})


class Rows(NamedTuple):
    """What the five reads of one call found, as plain dicts and tuples."""

    markets: dict[int, str]  # organization -> market
    members: dict[int, dict[int, str]]  # organization -> employees who count on D -> name ("" for a batch)
    held: dict[int, set[int]]  # employee -> catalog credentials valid on D
    # organization -> metric -> [(period_end, value)] in the largest window; for a batch,
    # organization -> metric -> {window days: sum of the values in the window}
    points: dict[int, dict[int, Any]]
    overrides: dict[tuple[int, int], OverrideInfo]  # (organization, competency) -> override active on D


def read_rows(
    ids: list[int], day: datetime.date, snapshot: CatalogSnapshot, *, batch_windows: Sequence[int] | None = None
) -> Rows:
    """The five set-based reads of one call. Tuples, not model instances: a batch holds thousands of rows.

    For a batch (`batch_windows`: every window the compiled catalog sums a metric over), members are
    not named and the database sums each metric over each of those windows.
    """
    # `.order_by()`: the models' default orderings would make the database sort what is read into dicts.
    associations = Association.objects.filter(among("organization_id", ids)).filter(covering(day)).order_by()
    markets = dict(Organization.objects.filter(among("id", ids)).order_by().values_list("pk", "market"))
    members = _members(associations, named=batch_windows is None)
    held = _held(associations, members, day, snapshot)
    if batch_windows is None:
        points = _metric_points(ids, day, snapshot)
    else:
        points = _metric_sums(ids, day, snapshot, batch_windows)
    return Rows(markets, members, held, points, _overrides(ids, day))


def _members(associations: QuerySet, *, named: bool) -> dict[int, dict[int, str]]:
    """Organization -> the employees who count for it on D -> their name (the batch path counts people,
    it never names them: no join with the employees)."""
    members: dict[int, dict[int, str]] = defaultdict(dict)
    if named:
        for employee_id, org_id, name, email in associations.values_list(
            "employee_id", "organization_id", "employee__name", "employee__email"
        ):
            members[org_id][employee_id] = name or email
    else:
        for employee_id, org_id in associations.values_list("employee_id", "organization_id"):
            members[org_id][employee_id] = ""
    return members


def employees_read(associations: QuerySet, employee_ids: set[int]) -> Q | Lookup:
    """`employee_id` is one of the employees just read from `associations`."""
    if connection.vendor == "postgresql":
        # As one array: PostgreSQL probes the employee index for them, where the subquery below makes
        # it scan every earned credential once per batch.
        return among("employee_id", employee_ids)
    return Q(employee_id__in=associations.values("employee_id"))


def _held(
    associations: QuerySet, members: dict[int, dict[int, str]], day: datetime.date, snapshot: CatalogSnapshot
) -> dict[int, set[int]]:
    """Employee -> the catalog's credentials they hold valid on D."""
    # A credential no longer accepted on D (retired, past `accepted_until`) is left out of the read
    # entirely: the credential's own part of the rule, asked of the rule for one earned on D.
    accepted_until = snapshot.accepted_until
    usable = [
        pk for pk in snapshot.credential_codes
        if credential_valid_on(earned_on=day, expires_on=None, accepted_until=accepted_until.get(pk), day=day)
    ]
    held: dict[int, set[int]] = defaultdict(set)
    if not usable:
        return held
    employees = employees_read(associations, {e for org in members.values() for e in org})
    earned = (
        EarnedCredential.objects.filter(employees, among("credential_id", usable))
        .filter(credential_valid(day))
        .order_by()
        .values_list("employee_id", "credential_id")
    )
    for employee_id, credential_id in earned:
        held[employee_id].add(credential_id)
    return held


def _metric_values(ids: list[int], day: datetime.date, snapshot: CatalogSnapshot) -> QuerySet | None:
    """The values of the catalog's metrics in its largest window, or None when it names no metric."""
    metric_ids = [m.id for m in snapshot.metrics.values()]
    if not metric_ids or snapshot.max_window_days <= 0:
        return None
    return MetricValue.objects.filter(
        among("organization_id", ids),
        among("metric_id", metric_ids),
        period_end__gt=day - datetime.timedelta(days=snapshot.max_window_days),
        period_end__lte=day,
    ).order_by()


def _metric_points(ids: list[int], day: datetime.date, snapshot: CatalogSnapshot) -> dict[int, dict[int, Any]]:
    """Organization -> metric -> [(period_end, value)] in the catalog's largest window."""
    points: dict[int, dict[int, Any]] = defaultdict(lambda: defaultdict(list))
    values = _metric_values(ids, day, snapshot)
    if values is not None:
        for org_id, metric_id, period_end, value in values.values_list(
            "organization_id", "metric_id", "period_end", "value"
        ):
            points[org_id][metric_id].append((period_end, value))
    return points


def _metric_sums(
    ids: list[int], day: datetime.date, snapshot: CatalogSnapshot, windows: Sequence[int]
) -> dict[int, dict[int, Any]]:
    """Organization -> metric -> {window days: the sum of its values in the window}, summed by the database."""
    sums_by_org: dict[int, dict[int, Any]] = defaultdict(dict)
    values = _metric_values(ids, day, snapshot)
    if values is None:
        return sums_by_org
    windows = sorted(set(windows))
    sums = {
        f"w{window}": Sum("value", filter=Q(period_end__gt=day - datetime.timedelta(days=window))) for window in windows
    }
    for org_id, metric_id, *by_window in (
        values.values("organization_id", "metric_id").annotate(**sums).values_list("organization_id", "metric_id", *sums)
    ):
        sums_by_org[org_id][metric_id] = dict(zip(windows, by_window, strict=True))
    return sums_by_org


def _overrides(ids: list[int], day: datetime.date) -> dict[tuple[int, int], OverrideInfo]:
    """(organization, competency) -> the override active on D.

    Active on D by its dates, not revoked by D: a past day sees the override that has expired since.
    """
    return {
        (org_id, competency_id): OverrideInfo(pk, level, expires_on)
        for pk, org_id, competency_id, level, expires_on in Override.objects.filter(
            among("organization_id", ids), Override.active_on(day)
        ).order_by().values_list("pk", "organization_id", "competency_id", "level", "expires_on")
    }


def load_facts(
    ids: list[int], day: datetime.date, snapshot: CatalogSnapshot
) -> tuple[dict[int, OrganizationFacts], dict[tuple[int, int], OverrideInfo]]:
    """The five reads of one call, as `OrganizationFacts` for the requirement kinds' `evaluate`."""
    markets, members, held, points, overrides = read_rows(ids, day, snapshot)
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
            codes=snapshot.credential_codes,
        )
    return facts, overrides
