"""Celery tasks: thin. Ids and ISO dates in, a service called, nothing else.

Each task is idempotent (the services are): a retried or duplicated task
changes nothing the second time. With `acks_late` and
`reject_on_worker_lost` (settings), a task whose worker dies is delivered
again, which is safe for the same reason.
"""

import datetime

from celery import chain, shared_task
from django.db import DatabaseError
from django.utils import timezone

from . import nightly, services


@shared_task(name="competencies.tasks.reevaluate_organizations")
def reevaluate_organizations(
    organization_ids: list[int], day: str, cause: str | None = None, cause_detail: str = ""
) -> dict:
    """Re-evaluate organizations as of `day` (YYYY-MM-DD), recording changes with `cause` or an inferred one."""
    result = services.statuses_refresh(
        organization_ids=organization_ids,
        day=datetime.date.fromisoformat(day),
        cause=cause,
        cause_detail=cause_detail,
    )
    return vars(result)


@shared_task(name="competencies.tasks.run_nightly")
def run_nightly(day: str | None = None) -> dict:
    """The nightly jobs for `day` (default: today, read here), through the broker.

    Step 1 (expire overrides) here; then, per range of organization ids, a
    chain `evaluate_batch` → `notify_batch` → `remind_batch` that any free
    worker picks up; then the pending emails are re-queued. See
    `competencies.nightly` for why no barrier is needed between steps.
    """
    on = datetime.date.fromisoformat(day) if day else timezone.localdate()
    iso = on.isoformat()
    expired = nightly.expire_overrides(day=on)
    ranges = list(nightly.organization_ranges())
    for first_id, last_id in ranges:
        chain(
            evaluate_batch.si(iso, first_id, last_id),
            notify_batch.si(iso, first_id, last_id),
            remind_batch.si(iso, first_id, last_id),
        ).apply_async()
    from memberships.tasks import deliver_pending

    deliver_pending.delay()
    return {"day": iso, "overrides_expired": expired, "ranges": len(ranges)}


@shared_task(name="competencies.tasks.nightly_catch_up")
def nightly_catch_up(day: str | None = None) -> dict:
    """Beat's safety net after the night: whatever of the night of `day` (default today) may not have run, runs.

    A chain's next step lives only in the broker: a message Redis lost (it
    crashed between handing a task out and recording it as unacknowledged)
    or a worker killed at the wrong instant would leave a range half done
    until the next night. So step 1 again, then per range: a range with an
    organization not evaluated as of the day runs the whole chain again;
    the others run notify → remind again (cheap, and the one way to catch a
    lost notification step). Then the pending emails. Every step is
    idempotent: on a night that finished, this changes nothing and sends
    nothing.
    """
    on = datetime.date.fromisoformat(day) if day else timezone.localdate()
    iso = on.isoformat()
    expired = nightly.expire_overrides(day=on)
    ranges = list(nightly.organization_ranges())
    stale = nightly.ranges_holding(nightly.organizations_not_evaluated(day=on), ranges)
    for first_id, last_id in ranges:
        steps = [notify_batch.si(iso, first_id, last_id), remind_batch.si(iso, first_id, last_id)]
        if (first_id, last_id) in stale:
            steps.insert(0, evaluate_batch.si(iso, first_id, last_id))
        chain(*steps).apply_async()
    from memberships.tasks import deliver_pending

    deliver_pending.delay()
    return {"day": iso, "overrides_expired": expired, "ranges": len(ranges), "ranges_evaluated_again": len(stale)}


# A database hiccup (a deadlock victim, a lost connection) is worth another try; the steps are idempotent.
_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 5}


@shared_task(name="competencies.tasks.evaluate_batch", **_RETRY)
def evaluate_batch(day: str, first_id: int, last_id: int | None, cause: str | None = None, cause_detail: str = "") -> dict:
    """Step 2 for organizations with ids in [first_id, last_id] (open-ended when last_id is None)."""
    return vars(nightly.evaluate_range(
        first_id=first_id, last_id=last_id, day=datetime.date.fromisoformat(day), cause=cause, cause_detail=cause_detail
    ))


@shared_task(name="competencies.tasks.reevaluate_all")
def reevaluate_all(day: str, cause: str | None = None, cause_detail: str = "") -> dict:
    """Every organization re-evaluated as of `day`, one `evaluate_batch` per range (after a catalog change)."""
    ranges = list(nightly.organization_ranges())
    for first_id, last_id in ranges:
        evaluate_batch.si(day, first_id, last_id, cause, cause_detail).apply_async()
    return {"day": day, "ranges": len(ranges)}


@shared_task(name="competencies.tasks.notify_batch", **_RETRY)
def notify_batch(day: str, first_id: int, last_id: int | None) -> dict:
    """Step 3 for the same range: at-risk notifications and their emails, "expiring soon" warnings."""
    return nightly.notify_range(first_id=first_id, last_id=last_id, day=datetime.date.fromisoformat(day))


@shared_task(name="competencies.tasks.remind_batch", **_RETRY)
def remind_batch(day: str, first_id: int, last_id: int | None) -> dict:
    """Step 4 for the same range: renewal reminders."""
    return nightly.remind_range(first_id=first_id, last_id=last_id, day=datetime.date.fromisoformat(day))
