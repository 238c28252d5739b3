"""What memberships does when the base (`competencies.hooks`) announces something; connected in apps.py."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from competencies.models import Employee, Invitation, Organization

from .outbox import email_enqueue
from .tasks import deliver_on_commit


def invitation_email_queue(*, invitation: Invitation) -> None:
    """Queue the invitation email to the invitee if they have an account (in their language), sent on commit.

    Whether the invitee has an account is never shown to the inviter.
    """
    invitee = Employee.objects.filter(email__iexact=invitation.email, is_active=True).first()
    if invitee is None:
        return
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    email = email_enqueue(
        key=f"invitation:{invitation.pk}:{invitation.created_on.isoformat()}",
        to_email=invitee.email,
        template="invitation",
        context={
            "invitation": invitation,
            "organization": invitation.organization,
            "invitee": invitee,
            "inviter": invitation.invited_by.display_name if invitation.invited_by else "",
            "url": f"{base}/dashboard/certifications/" if base else "",
        },
        language=invitee.language or "en",
    )
    deliver_on_commit([email.pk])


def account_email_queue(*, employee: Employee, organization: Organization, by: Employee | None) -> None:
    """Queue the new account's email (in its language): who added them, and a link to choose a password.

    The link is Django's password-reset token: it works once (setting the
    password changes what it signs) and for PASSWORD_RESET_TIMEOUT.
    """
    path = reverse(
        "password-set",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(employee.pk)), "token": default_token_generator.make_token(employee)},
    )
    email = email_enqueue(
        key=f"account:{employee.pk}",
        to_email=employee.email,
        template="account_created",
        context={
            "employee": employee,
            "organization": organization,
            "by": by.display_name if by else "",
            "url": getattr(settings, "SITE_URL", "").rstrip("/") + path,
            "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        },
        language=employee.language or "en",
    )
    deliver_on_commit([email.pk])
