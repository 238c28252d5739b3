"""Celery tasks for memberships: email delivery. Thin: ids in, a service of `outbox` called.

Whoever writes email rows queues their delivery with `deliver_on_commit`,
which sends the tasks once the transaction commits; the nightly run also
calls `deliver_pending`, which reclaims rows a dead worker left in `sending`
and drains what is still pending.
"""

from collections.abc import Iterable

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import outbox

RETRY_MAX_SECONDS = 60 * 60


def retry_countdown(attempts: int) -> int:
    """Exponential backoff: 1, 2, 4 … minutes after each refused attempt, at most an hour.

    The first wait is EMAIL_RETRY_BASE_SECONDS (60; the fault tests shorten it).
    """
    return min(settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


@shared_task(bind=True, name="memberships.tasks.deliver_email", max_retries=8)
def deliver_email(self, email_id: int) -> str:
    """Claim, send and mark one email; a refusal (SMTP down, rejected) retries later with backoff."""
    delivery = outbox.email_deliver(email_id=email_id, now=timezone.now())
    if delivery.outcome == "retry":
        try:
            raise self.retry(countdown=retry_countdown(delivery.attempts))
        except MaxRetriesExceededError:
            return "pending"  # still a pending row: the nightly `deliver_pending` tries again
    return delivery.outcome


@shared_task(name="memberships.tasks.deliver_pending")
def deliver_pending() -> dict:
    """Reclaim emails stuck in `sending`, then send every pending one (each tried once per run)."""
    return outbox.emails_deliver_pending(now=timezone.now())


def deliver_on_commit(email_ids: Iterable[int]) -> None:
    """Queue delivery of these emails once the current transaction commits (nothing is sent from inside it).

    Robust: a broker that refuses the message does not undo the committed rows;
    the nightly `deliver_pending` sends what was not queued.
    """
    ids = sorted({int(i) for i in email_ids})
    if not ids:
        return

    def enqueue():
        for pk in ids:
            deliver_email.delay(pk)

    transaction.on_commit(enqueue, robust=True)
