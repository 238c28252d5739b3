"""What the nightly notification steps share: their result, their batches, who receives their emails.

Rows first: each step writes a batch's notifications and their emails in
one transaction; delivery is queued once it commits (`tasks.deliver_on_commit`).
Nothing here reads the clock: the day is a parameter.
"""

import datetime
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from competencies.engine import batched
from competencies.facts import among
from competencies.models import Employee, Organization
from competencies.preferences import email_language

from .models import Notification
from .outbox import email_enqueue
from .wording import email_context


@dataclass
class NotifyResult:
    """What one notification step did, for the nightly log and the tests."""

    at_risk_raised: int = 0
    at_risk_cleared: int = 0
    expiring_soon_raised: int = 0
    expiring_soon_cleared: int = 0
    reminders_raised: int = 0
    reminders_cleared: int = 0
    emails_queued: int = 0
    skipped_stale: int = 0  # organizations not yet evaluated as of the day: left for their batch

    def add(self, other: "NotifyResult") -> "NotifyResult":
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


Batch = Callable[..., None]


def in_batches(organization_ids: Iterable[int], batch: Batch, *, day: datetime.date) -> NotifyResult:
    """Run `batch(chunk, day=, result=)` over EVALUATION_BATCH_SIZE organizations at a time, each in one
    transaction: a batch's rows and emails commit together, and a failed batch leaves the others done."""
    result = NotifyResult()
    for chunk in batched(organization_ids, settings.EVALUATION_BATCH_SIZE):
        with transaction.atomic():
            batch(chunk, day=day, result=result)
    return result


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def key_digest(parts: Iterable[str]) -> str:
    """A short, order-free digest of what a notification lists, for its idempotency key."""
    return hashlib.sha1("|".join(sorted(parts)).encode()).hexdigest()[:16]


def organization_admins(organization_ids: Iterable[int]) -> dict[int, list[Employee]]:
    """The active admins of each organization (one query), who receive its emails."""
    through = Organization.admins.through
    admins: dict[int, list[Employee]] = defaultdict(list)
    for row in (
        through.objects.filter(among("organization_id", organization_ids), employee__is_active=True)
        .select_related("employee")
        .order_by("organization_id", "employee_id")
    ):
        admins[row.organization_id].append(row.employee)
    return admins


def email_admins(notification: Notification, admins: Iterable[Employee], *, template: str, key: str) -> list[int]:
    """Queue the notification's email to each admin, in the admin's language; the ids of the rows.

    The key of each email is `<key>:<admin id>`: a night run again queues nothing twice.
    """
    ids = []
    for admin in admins:
        email = email_enqueue(
            key=f"{key}:{admin.pk}",
            to_email=admin.email,
            template=template,
            context=email_context(notification, admin),
            language=email_language(employee=admin, organization=notification.organization),
            notification=notification,
        )
        ids.append(email.pk)
    return ids


def clear_open(*, organization_ids: list[int], kind: str, keep: Iterable[str], day: datetime.date) -> int:
    """Clear on D the open notifications of `kind` of these organizations whose key is not in `keep`:
    the situation they describe no longer holds. How many were cleared."""
    cleared = 0
    for notification in Notification.objects.filter(
        among("organization_id", organization_ids), kind=kind, cleared_on__isnull=True
    ).exclude(key__in=list(keep)):
        notification.cleared_on = day
        notification.save(update_fields=["cleared_on"])
        cleared += 1
    return cleared
