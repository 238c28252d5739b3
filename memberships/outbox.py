"""The email outbox: an email is a row first, written in the transaction that decides to send it; a worker
claims the row, sends it and marks it. Never sent twice.

Delivery is a separate step (`memberships.tasks.deliver_on_commit` queues it
once the writing transaction commits; the nightly run drains what is left),
so nothing is sent from inside a transaction that could still roll back.

A row is claimed by moving it from `pending` to `sending` (on PostgreSQL a
`SELECT … FOR UPDATE SKIP LOCKED` of the pending row first, so concurrent
workers pass over each other's rows; on SQLite the conditional UPDATE is
the claim). Only the claimer sends. A refused send puts the row back to
`pending` with the error and one more attempt; after MAX_ATTEMPTS it is
`failed` and stays for a person to look at. A worker that dies between
the claim and the mark leaves the row in `sending`: after STUCK_AFTER it is
reclaimed and sent again. That window (the SMTP server accepted the
message, the worker died before the UPDATE) is the one way an email can
go out twice; the Message-ID is derived from the row, so mail clients that
deduplicate by Message-ID show it once.
"""

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation

from .models import Notification, OutboundEmail

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
STUCK_AFTER = datetime.timedelta(minutes=15)


def email_enqueue(
    *,
    key: str,
    to_email: str,
    template: str,
    context: dict,
    language: str = "en",
    notification: Notification | None = None,
) -> OutboundEmail:
    """Queue one email, rendered in the recipient's language; the same `key` twice queues it once.

    `template` names a pair `<template>.subject.txt`, `<template>.txt` and,
    if present, `<template>.html` under templates/emails/.
    """
    existing = OutboundEmail.objects.filter(key=key).first()
    if existing is not None:
        return existing
    with translation.override(language or "en"):
        subject = " ".join(render_to_string(f"emails/{template}.subject.txt", context).split())
        body_text = render_to_string(f"emails/{template}.txt", context)
        try:
            body_html = render_to_string(f"emails/{template}.html", context)
        except TemplateDoesNotExist:  # a plain-text-only email is fine
            body_html = ""
    email, _created = OutboundEmail.objects.get_or_create(
        key=key,
        defaults={
            "to_email": to_email,
            "language": language or "en",
            "subject": subject,
            "body_text": body_text,
            "body_html": body_html,
            "notification": notification,
        },
    )
    return email


@dataclass
class Delivery:
    outcome: str  # sent | retry | failed | skipped
    attempts: int = 0


def _mark_claimed(queryset, *, now: datetime.datetime) -> int:
    return queryset.filter(status=OutboundEmail.Status.PENDING).update(
        status=OutboundEmail.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )


def email_claim(*, email_id: int, now: datetime.datetime) -> OutboundEmail | None:
    """Claim one pending email for sending; None when it is not pending (sent, or another worker has it)."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            row = (
                OutboundEmail.objects.select_for_update(skip_locked=True)
                .filter(pk=email_id, status=OutboundEmail.Status.PENDING)
                .values_list("pk", flat=True)
                .first()
            )
            if row is None or not _mark_claimed(OutboundEmail.objects.filter(pk=row), now=now):
                return None
    elif not _mark_claimed(OutboundEmail.objects.filter(pk=email_id), now=now):
        return None
    return OutboundEmail.objects.get(pk=email_id)


def email_claim_next(*, now: datetime.datetime, exclude: Iterable[int] = ()) -> OutboundEmail | None:
    """Claim the oldest pending email (leaving out `exclude`); None when there is none left."""
    pending = OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING).exclude(pk__in=list(exclude))
    if connection.vendor == "postgresql":
        with transaction.atomic():
            row = pending.select_for_update(skip_locked=True).order_by("created_at", "id").values_list("pk", flat=True).first()
            if row is None:
                return None
            _mark_claimed(OutboundEmail.objects.filter(pk=row), now=now)
        return OutboundEmail.objects.get(pk=row)
    while True:
        row = pending.order_by("created_at", "id").values_list("pk", flat=True).first()
        if row is None:
            return None
        if _mark_claimed(OutboundEmail.objects.filter(pk=row), now=now):
            return OutboundEmail.objects.get(pk=row)


def email_send(email: OutboundEmail) -> None:
    """Send one claimed email through Django's mail (the `default` mailer, from EMAIL_URL): plain text and HTML."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">") or "partnercenter.localhost"
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to_email],
        headers={"Message-ID": message_id(email, domain)},  # unique across restores
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    message.send(using="default")


def _deliver_claimed(email: OutboundEmail, *, now: datetime.datetime) -> Delivery:
    try:
        email_send(email)
    except Exception as exc:  # noqa: BLE001 - any refusal keeps the row for a later attempt
        status = OutboundEmail.Status.FAILED if email.attempts >= MAX_ATTEMPTS else OutboundEmail.Status.PENDING
        OutboundEmail.objects.filter(pk=email.pk, status=OutboundEmail.Status.SENDING).update(
            status=status, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        log.warning("email %s not sent (attempt %s): %s", email.pk, email.attempts, exc)
        return Delivery("failed" if status == OutboundEmail.Status.FAILED else "retry", email.attempts)
    OutboundEmail.objects.filter(pk=email.pk, status=OutboundEmail.Status.SENDING).update(
        status=OutboundEmail.Status.SENT, sent_at=now, last_error=""
    )
    return Delivery("sent", email.attempts)


def email_deliver(*, email_id: int, now: datetime.datetime) -> Delivery:
    """Claim, send and mark one email. `retry` when the server refused it (the row is pending again)."""
    email = email_claim(email_id=email_id, now=now)
    if email is None:
        return Delivery("skipped")
    return _deliver_claimed(email, now=now)


def emails_reclaim_stuck(*, now: datetime.datetime, older_than: datetime.timedelta = STUCK_AFTER) -> int:
    """Rows left in `sending` by a worker that died: back to `pending` (see above: the one duplicate window)."""
    return OutboundEmail.objects.filter(status=OutboundEmail.Status.SENDING, claimed_at__lt=now - older_than).update(
        status=OutboundEmail.Status.PENDING, last_error="reclaimed: the worker that claimed it did not finish"
    )


def emails_deliver_pending(*, now: datetime.datetime, limit: int = 1000) -> dict:
    """Reclaim stuck rows, then claim and send pending emails one at a time, each tried at most once per run."""
    counts = {"reclaimed": emails_reclaim_stuck(now=now), "sent": 0, "retry": 0, "failed": 0}
    tried: list[int] = []
    while len(tried) < limit:
        email = email_claim_next(now=now, exclude=tried)
        if email is None:
            break
        tried.append(email.pk)
        counts[_deliver_claimed(email, now=now).outcome] += 1
    return counts


def message_id(email: OutboundEmail, domain: str) -> str:
    """The email's Message-ID: its row's id and creation time, the same at every attempt to send it.

    The same at every attempt, so that mail clients show a copy sent twice
    (rules.md, "At risk, reminders and email") once. The creation time, to
    the microsecond, keeps it unique when the id is not: a database restored
    from a backup hands out the ids of the emails sent since once again.
    """
    return f"<outbound-{email.pk}.{email.created_at.strftime('%Y%m%d%H%M%S%f')}@{domain}>"
