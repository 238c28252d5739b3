"""Renewal reminders (docs/design.md, "Membership"): the nightly step that reminds an organization's admins
to renew before and after the anniversary; a banner and an email each, cleared by the renewal or when the
reminder's window is over."""

import datetime
from collections import defaultdict
from collections.abc import Iterable

from competencies.facts import among

from .models import Membership, Notification
from .notify import NotifyResult, clear_open, email_admins, in_batches, organization_admins
from .tasks import deliver_on_commit
from .terms import GRACE_DAYS, grace_ends_on

REMINDER_BEFORE_DAYS = 15  # "Reminders go out 15 days before …
REMINDER_AFTER_DAYS = 23  # … and 23 days after the anniversary."


def renewal_reminders_send(*, organization_ids: Iterable[int], day: datetime.date) -> NotifyResult:
    """Nightly job 4: "Reminders go out 15 days before and 23 days after the anniversary" (docs/design.md,
    "Membership").

    A term's anniversary is its `ends_on`. Not renewed (no later term of the
    organization, not replaced by an upgrade): the "before" reminder is due
    from 15 days before the anniversary until the day before it, the
    "after" one from 23 days after it until the grace ends (30 days after):
    a night that did not run on the exact day still sends it, once
    (`key` per term and reminder). Each is a banner and an email to the
    admins; a renewal or the end of its window clears it. A lapsed
    membership needs no change of row: its state is derived from its dates
    (active, grace, lapsed). Idempotent.
    """
    return in_batches(organization_ids, _reminders_batch, day=day)


def _reminders_due(chunk: list[int], day: datetime.date) -> dict[str, tuple[Membership, str]]:
    """The reminders whose window contains D, by key: `(term, "before" | "after")` of terms not renewed."""
    near = list(
        Membership.objects.filter(
            among("organization_id", chunk),
            superseded_by__isnull=True,
            ends_on__gt=day - datetime.timedelta(days=GRACE_DAYS),
            ends_on__lte=day + datetime.timedelta(days=REMINDER_BEFORE_DAYS),
        ).order_by("organization_id", "ends_on")
    )
    later_terms: dict[int, list[datetime.date]] = defaultdict(list)
    if near:
        for org_id, starts_on in Membership.objects.filter(
            organization_id__in={m.organization_id for m in near}, starts_on__gte=min(m.ends_on for m in near)
        ).values_list("organization_id", "starts_on"):
            later_terms[org_id].append(starts_on)
    wanted: dict[str, tuple[Membership, str]] = {}
    for m in near:
        if any(starts_on >= m.ends_on for starts_on in later_terms[m.organization_id]):
            continue  # renewed
        if m.ends_on - datetime.timedelta(days=REMINDER_BEFORE_DAYS) <= day < m.ends_on:
            wanted[f"renewal_reminder:{m.pk}:before"] = (m, "before")
        elif m.ends_on + datetime.timedelta(days=REMINDER_AFTER_DAYS) <= day < grace_ends_on(m):
            wanted[f"renewal_reminder:{m.pk}:after"] = (m, "after")
    return wanted


def _reminders_batch(chunk: list[int], *, day: datetime.date, result: NotifyResult) -> None:
    wanted = _reminders_due(chunk, day)
    result.reminders_cleared += clear_open(
        organization_ids=chunk, kind=Notification.Kind.RENEWAL_REMINDER, keep=wanted, day=day
    )
    existing = set(Notification.objects.filter(key__in=list(wanted)).values_list("key", flat=True))
    due = {key: value for key, value in wanted.items() if key not in existing}
    admins = organization_admins({m.organization_id for m, _when in due.values()})
    email_ids: list[int] = []
    for key, (m, when) in due.items():
        notification, created = Notification.objects.get_or_create(
            key=key,
            defaults={
                "organization_id": m.organization_id,
                "membership": m,
                "kind": Notification.Kind.RENEWAL_REMINDER,
                "raised_on": day,
                "payload": {
                    "when": when,
                    "level": m.level,
                    "anniversary": m.ends_on.isoformat(),
                    "grace_ends_on": grace_ends_on(m).isoformat(),
                },
            },
        )
        if not created:
            continue
        result.reminders_raised += 1
        email_ids += email_admins(notification, admins.get(m.organization_id, []), template="renewal_reminder", key=key)
    result.emails_queued += len(email_ids)
    deliver_on_commit(email_ids)
