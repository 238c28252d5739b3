"""Emails are rows first (`OutboundEmail`), written in the transaction that decides to send them.

Delivery is a separate step that claims rows (see the sending task), so
nothing is sent from inside a transaction that could still roll back.
"""

from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation

from .models import Notification, OutboundEmail


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


def message_id(email: OutboundEmail, domain: str) -> str:
    """The email's Message-ID: its row's id and creation time, the same at every attempt to send it.

    The same at every attempt, so that mail clients show a copy sent twice
    (rules.md, "At risk, reminders and email") once. The creation time, to
    the microsecond, keeps it unique when the id is not: a database restored
    from a backup hands out the ids of the emails sent since once again.
    """
    return f"<outbound-{email.pk}.{email.created_at.strftime('%Y%m%d%H%M%S%f')}@{domain}>"
