"""What memberships does when the base (`competencies.hooks`) announces something; connected in apps.py."""

from django.conf import settings

from competencies.models import Employee, Invitation
from competencies.preferences import email_language

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
        language=email_language(employee=invitee, organization=invitation.organization),
    )
    deliver_on_commit([email.pk])
