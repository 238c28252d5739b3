"""The nightly jobs (DESIGN.md, "Nightly jobs"), one function per step, each idempotent.

1. `expire_overrides`: overrides whose `expires_on` has come expire; the reversion is recorded.
2. `evaluate_range`: every organization is re-evaluated as of the day, by ranges of ids.
3. `notify_range`: at-risk notifications raised and cleared, their emails queued; "expiring soon" warnings.
4. `remind_range`: renewal reminders. Lapsed memberships need no change of row: a membership's
   state (active, grace, lapsed) is derived from its dates.

`run_nightly(day=…)` runs them in that order, synchronously (`manage.py
run_nightly --date`). The Celery side (`competencies.tasks.run_nightly`)
runs step 1, then one chain per range of organization ids —
`evaluate_batch` then `notify_batch` — that any number of workers share,
then re-queues pending emails. Steps 3 and 4 for an organization depend only
on that organization's own step 2, so a range is notified as soon as it is
evaluated: no barrier waits for every batch, no result backend is needed,
and a range whose evaluation failed is not notified from a stale status
(the next night catches up).

Beat's catch-up (`competencies.tasks.nightly_catch_up`, in the hours after
the night) runs again whatever a message the broker lost or a worker that
died left undone: `organizations_not_evaluated` says which ranges need
step 2 again; every range gets steps 3 and 4 again.

Idempotent and crash-safe: every step writes in per-batch transactions and
decides what to write by comparing with what is stored (statuses, history,
notification keys, email keys), so running a night twice changes nothing
the second time, and a night killed halfway and run again ends as if it
had run once.
"""

import bisect
import datetime
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings

from .models import Competency, CompetencyStatus, Organization
from .services import RefreshResult, overrides_expire, statuses_refresh

log = logging.getLogger(__name__)


@dataclass
class NightlyReport:
    day: datetime.date
    overrides_expired: int = 0
    ranges: int = 0
    refresh: RefreshResult = field(default_factory=RefreshResult)
    notify: dict = field(default_factory=dict)
    emails: dict = field(default_factory=dict)


def expire_overrides(*, day: datetime.date) -> int:
    """Step 1: expire overrides whose `expires_on` has come; record the reversion (see `overrides_expire`)."""
    return len(overrides_expire(day=day))


def organization_ranges(*, size: int | None = None) -> Iterator[tuple[int, int | None]]:
    """Ranges `(first_id, last_id)` of about `size` organizations each (default EVALUATION_BATCH_SIZE), in id order.

    The last range is open-ended (`last_id` None): an organization created
    while the night runs is evaluated too. One query, streamed.
    """
    size = size or settings.EVALUATION_BATCH_SIZE
    first = previous = None
    count = 0
    for pk in Organization.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=10_000):
        if first is None:
            first = pk
        count += 1
        if count == size:
            yield first, pk
            first, count = None, 0
        previous = pk
    if first is not None:
        yield first, None
    elif previous is not None:
        # The ranges ended on a full one: still leave the end open for organizations created meanwhile.
        yield previous + 1, None


def range_ids(*, first_id: int, last_id: int | None) -> list[int]:
    queryset = Organization.objects.filter(pk__gte=first_id)
    if last_id is not None:
        queryset = queryset.filter(pk__lte=last_id)
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def organizations_not_evaluated(*, day: datetime.date) -> set[int]:
    """Organizations whose stored statuses are not all as of `day` (or later): their step 2 has not run.

    One with no status at all counts too, once the catalog has competencies
    (evaluation stores a status for every organization × competency). Two
    queries.
    """
    stale = set(
        CompetencyStatus.objects.filter(as_of__lt=day).order_by().values_list("organization_id", flat=True).distinct()
    )
    if Competency.objects.exists():
        stale |= set(Organization.objects.filter(statuses__isnull=True).values_list("pk", flat=True))
    return stale


def ranges_holding(ids: set[int], ranges: list[tuple[int, int | None]]) -> set[tuple[int, int | None]]:
    """The ranges that hold at least one of `ids` (a binary search per range)."""
    ordered = sorted(ids)
    found = set()
    for first_id, last_id in ranges:
        at = bisect.bisect_left(ordered, first_id)
        if at < len(ordered) and (last_id is None or ordered[at] <= last_id):
            found.add((first_id, last_id))
    return found


def evaluate_range(
    *, first_id: int, last_id: int | None, day: datetime.date, cause: str | None = None, cause_detail: str = ""
) -> RefreshResult:
    """Step 2 for one range: re-evaluate its organizations as of `day`, recording every change with its cause.

    Set-based (`statuses_refresh`: a handful of queries per batch); causes
    are inferred from what changed since the stored status, unless `cause`
    names it (a catalog change).
    """
    return statuses_refresh(
        organization_ids=range_ids(first_id=first_id, last_id=last_id), day=day, cause=cause, cause_detail=cause_detail
    )


# What a catalog load changes that can move a level (plans and benefits cannot).
EVALUATED_CATALOG_PARTS = ("credentials", "metrics", "competencies", "options", "requirements")


def catalog_changed(counts: dict[str, dict[str, int]]) -> bool:
    """Whether a catalog load (its counts per kind of row) changed anything evaluation reads."""
    return any(
        counts.get(part, {}).get(what, 0)
        for part in EVALUATED_CATALOG_PARTS
        for what in ("created", "updated", "deleted")
    )


def reevaluate_everyone_on_commit(*, day: datetime.date) -> None:
    """A catalog change can move any organization's level: re-evaluate every one as of `day`, by ranges that
    any worker picks up, once the transaction commits; each change is recorded as caused by the catalog.

    DESIGN.md: "Every change of evaluated or effective level is recorded with
    its day and cause"; without this, the nightly run would find the change
    and could only guess why.
    """
    from django.db import transaction

    from .causes import cause_text
    from .models import StatusChange
    from .tasks import reevaluate_all

    detail = cause_text("catalog", day=day)
    transaction.on_commit(
        lambda: reevaluate_all.delay(day.isoformat(), StatusChange.Cause.CATALOG_CHANGED, detail), robust=True
    )


def notify_range(*, first_id: int, last_id: int | None, day: datetime.date) -> dict:
    """Step 3 for one range: raise and clear at-risk notifications and queue their emails; "expiring soon"."""
    from memberships.notifications import at_risk_refresh, expiring_soon_refresh

    ids = range_ids(first_id=first_id, last_id=last_id)
    result = at_risk_refresh(organization_ids=ids, day=day)
    result.add(expiring_soon_refresh(organization_ids=ids, day=day))
    return vars(result)


def remind_range(*, first_id: int, last_id: int | None, day: datetime.date) -> dict:
    """Step 4 for one range: renewal reminders 15 days before and 23 days after the anniversary."""
    from memberships.notifications import renewal_reminders_send

    return vars(renewal_reminders_send(organization_ids=range_ids(first_id=first_id, last_id=last_id), day=day))


def _add(total: dict, part: dict) -> dict:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value
    return total


def run_nightly(*, day: datetime.date, now: datetime.datetime | None = None) -> NightlyReport:
    """The nightly jobs for `day`, in order, synchronously: the same steps the Celery tasks run.

    With `now` (the command passes the clock), the pending emails are then
    sent here, claimed one at a time; without it they are left to the
    delivery tasks queued when they were written.
    """
    report = NightlyReport(day=day)
    report.overrides_expired = expire_overrides(day=day)
    ranges = list(organization_ranges())
    report.ranges = len(ranges)
    for first_id, last_id in ranges:
        part = evaluate_range(first_id=first_id, last_id=last_id, day=day)
        for name, value in vars(part).items():
            setattr(report.refresh, name, getattr(report.refresh, name) + value)
    for first_id, last_id in ranges:
        _add(report.notify, notify_range(first_id=first_id, last_id=last_id, day=day))
    for first_id, last_id in ranges:
        _add(report.notify, remind_range(first_id=first_id, last_id=last_id, day=day))
    if now is not None:
        from memberships.notifications import emails_deliver_pending

        report.emails = emails_deliver_pending(now=now)
    log.info("nightly %s: %s", day, report)
    return report
