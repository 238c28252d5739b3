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
