"""The stored forecast (`ForecastChange`): computed by the night and on commit, moved on from night to night.

`forecast_refresh` brings the stored forecast of a set of organizations to a day: computed whole
(`forecast.forecast`) where something may have moved, otherwise only its passed changes deleted;
`forecast_pending_mark` is how a change of the day says its organizations' facts moved, in its own
transaction. The rules are in docs/rules.md, "Forecast".
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from . import forecast as forecasting
from .batch import collector_paused
from .bulk import bulk_insert
from .engine import batched
from .facts import among
from .forecast import HORIZON, Change, Relevance, within
from .models import Association, EarnedCredential, ForecastChange, ForecastPending, MetricValue, Organization, Override
from .snapshot import catalog_snapshot
from .specs import CatalogSnapshot


def forecast_refresh(*, organization_ids: Iterable[int], day: datetime.date, whole: bool = False) -> int:
    """Bring the stored forecast of these organizations to `day`; the number of changes written.

    Rule: the forecast stored as of an earlier day D' still holds from `day` on, as long as no fact of
    the organization changed since (`ForecastPending`: marked by the change itself): the changes of
    `(day, D' + HORIZON_DAYS]` are the same, and only the days the horizon gained,
    `(D' + HORIZON_DAYS, day + HORIZON_DAYS]`, can hold new ones, which they do only where some fact
    changes on one of them (`facts_changing`). So an organization is computed whole
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
        compute |= facts_changing(pks, as_of + HORIZON, day + HORIZON, snapshot)
    moved = sorted(compute | {pk for pks in kept.values() for pk in pks})
    if not moved:
        return 0
    changes = forecasting.forecast(organization_ids=sorted(compute), day=day, catalog=snapshot) if compute else []
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
    """Take the pending marks of these organizations off (one statement a batch); those that had one."""
    taken: set[int] = set()
    table = ForecastPending._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the ids as one array, as `facts.among` gives them
            cursor.execute(f"DELETE FROM {table} WHERE organization_id = ANY(%s) RETURNING organization_id", [ids])
            return {row[0] for row in cursor.fetchall()}
        for batch in batched(ids, 900):
            marks = ", ".join(["%s"] * len(batch))
            cursor.execute(f"DELETE FROM {table} WHERE organization_id IN ({marks}) RETURNING organization_id", batch)
            taken.update(row[0] for row in cursor.fetchall())
    return taken


def _within(field: str, after: datetime.date, through: datetime.date) -> Q:
    """`_in` as a filter: the field's day is in `(after, through]`."""
    return Q(**{f"{field}__gt": after, f"{field}__lte": through})


def facts_changing(ids: list[int], after: datetime.date, through: datetime.date, snapshot: CatalogSnapshot) -> set[int]:
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
        if within(after, through, starts_on) or within(after, through, ends_on):
            found.add(org_id)
    retired = [pk for pk, until in snapshot.accepted_until.items() if within(after, through, until)]
    if people and snapshot.credential_codes:
        for (employee_id,) in EarnedCredential.objects.filter(
            among("employee_id", list(people)), among("credential_id", list(snapshot.credential_codes))
        ).filter(
            _within("earned_on", after, through) | _within("expires_on", after, through) | Q(credential_id__in=retired)
        ).order_by().values_list("employee_id").distinct():
            found |= people[employee_id]
    windows = sorted({0} | {days for days_of in Relevance(snapshot).windows.values() for days in days_of})
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
