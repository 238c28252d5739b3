"""Celery tasks of the night and of the day's re-evaluations: thin. Ids and ISO dates in, a step called.

The order of the night is `partnercenter.night.night`; `run_nightly` and
`nightly_catch_up` hand it a way to queue each range's steps as a chain that
any free worker picks up. Each task is idempotent (the steps are): a
retried or duplicated task changes nothing the second time. With
`acks_late` and `reject_on_worker_lost` (settings), a task whose worker dies
is delivered again, which is safe for the same reason.
"""

import datetime
from collections.abc import Sequence

from celery import chain, shared_task
from django.db import DatabaseError
from django.utils import timezone

from memberships.tasks import deliver_pending

from . import night

# A database hiccup (a deadlock victim, a lost connection) is worth another try; the steps are idempotent.
_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 5}


def _day(day: str | None) -> datetime.date:
    return datetime.date.fromisoformat(day) if day else timezone.localdate()


def _queue_ranges(iso: str):
    def run_range(steps: Sequence[str], first_id: int, last_id: int | None) -> None:
        chain(*(STEP_TASKS[step].si(iso, first_id, last_id) for step in steps)).apply_async()

    return run_range


@shared_task(name="partnercenter.tasks.run_nightly")
def run_nightly(day: str | None = None) -> dict:
    """The night of `day` (default: today, read here) through the broker: one chain of steps per range."""
    on = _day(day)
    return night.night(day=on, run_range=_queue_ranges(on.isoformat()), send=deliver_pending.delay)


@shared_task(name="partnercenter.tasks.nightly_catch_up")
def nightly_catch_up(day: str | None = None) -> dict:
    """Beat's safety net after the night: whatever of the night of `day` (default today) may not have run, runs.

    A chain's next step lives only in the broker: a message Redis lost or a
    worker killed at the wrong instant would leave a range half done until
    the next night. Every step is idempotent: on a night that finished, this
    changes nothing and sends nothing.
    """
    on = _day(day)
    return night.night(day=on, run_range=_queue_ranges(on.isoformat()), send=deliver_pending.delay, catch_up=True)


@shared_task(name="partnercenter.tasks.evaluate_batch", **_RETRY)
def evaluate_batch(
    day: str, first_id: int, last_id: int | None, cause: str | None = None, cause_params: dict | None = None
) -> dict:
    """Step 2 for organizations with ids in [first_id, last_id] (open-ended when last_id is None)."""
    return vars(night.evaluate_range(
        first_id=first_id, last_id=last_id, day=datetime.date.fromisoformat(day), cause=cause, cause_params=cause_params
    ))


@shared_task(name="partnercenter.tasks.forecast_batch", **_RETRY)
def forecast_batch(day: str, first_id: int, last_id: int | None) -> dict:
    """Step 2b for the same range: the forecast of its organizations, stored."""
    return night.forecast_range(first_id=first_id, last_id=last_id, day=datetime.date.fromisoformat(day))


@shared_task(name="partnercenter.tasks.notify_batch", **_RETRY)
def notify_batch(day: str, first_id: int, last_id: int | None) -> dict:
    """Step 3 for the same range: at-risk notifications and their emails, "expiring soon" warnings."""
    return night.notify_range(first_id=first_id, last_id=last_id, day=datetime.date.fromisoformat(day))


@shared_task(name="partnercenter.tasks.remind_batch", **_RETRY)
def remind_batch(day: str, first_id: int, last_id: int | None) -> dict:
    """Step 4 for the same range: renewal reminders."""
    return night.remind_range(first_id=first_id, last_id=last_id, day=datetime.date.fromisoformat(day))


STEP_TASKS = {"evaluate": evaluate_batch, "forecast": forecast_batch, "notify": notify_batch, "remind": remind_batch}


@shared_task(name="partnercenter.tasks.reevaluate_organizations", **_RETRY)
def reevaluate_organizations(
    organization_ids: list[int], day: str, cause: str | None = None, cause_params: dict | None = None
) -> dict:
    """A change of the day: re-evaluate these organizations as of `day`, then refresh their notifications."""
    return night.reevaluate(
        organization_ids=organization_ids, day=datetime.date.fromisoformat(day), cause=cause, cause_params=cause_params
    )


@shared_task(name="partnercenter.tasks.reevaluate_all")
def reevaluate_all(day: str, cause: str | None = None, cause_params: dict | None = None) -> dict:
    """Every organization re-evaluated as of `day`, one `evaluate_batch` per range (after a catalog change)."""
    ranges = list(night.organization_ranges())
    for first_id, last_id in ranges:
        chain(
            evaluate_batch.si(day, first_id, last_id, cause, cause_params),
            forecast_batch.si(day, first_id, last_id),
            notify_batch.si(day, first_id, last_id),
        ).apply_async()
    return {"day": day, "ranges": len(ranges)}


def queue_reevaluation(
    *, organization_ids: list[int] | None, day: datetime.date, cause: str | None, cause_params: dict
) -> None:
    """The receiver of `competencies.hooks.reevaluation_requested` (connected in apps.py): queue the work."""
    if organization_ids is None:
        reevaluate_all.delay(day.isoformat(), cause, cause_params)
    elif organization_ids:
        reevaluate_organizations.delay(organization_ids, day.isoformat(), cause, cause_params)
