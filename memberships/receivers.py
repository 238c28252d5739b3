"""What memberships does when the base (`competencies.hooks`) announces something; connected in apps.py."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from competencies.dates import ONE_DAY
from competencies.engine import evaluate
from competencies.models import LEVEL_RANK, Association, Competency, Employee, Invitation, Organization
from competencies.preferences import email_language

from .notify import organization_admins
from .outbox import email_enqueue
from .tasks import deliver_on_commit


def _queue_one(template: str, *, key: str, to: Employee, language: str, **context) -> None:
    """Queue one email to `to`, worded from `template` and `context`, and send it once the transaction commits."""
    email = email_enqueue(key=key, to_email=to.email, template=template, context=context, language=language)
    deliver_on_commit([email.pk])


def invitation_email_queue(*, invitation: Invitation) -> None:
    """Queue the invitation email to the invitee if they have an account (in their language), sent on commit.

    Whether the invitee has an account is never shown to the inviter.
    """
    invitee = Employee.objects.filter(email=invitation.email, is_active=True).first()
    if invitee is None:
        return
    _queue_one(
        "invitation", key=f"invitation:{invitation.pk}:{invitation.created_on.isoformat()}", to=invitee,
        language=email_language(employee=invitee, organization=invitation.organization),
        invitation=invitation, organization=invitation.organization, invitee=invitee,
        inviter=invitation.invited_by.display_name if invitation.invited_by else "",
        url=_site("/dashboard/certifications/"),
    )


def _departure_impact(association: Association) -> list[dict]:
    """What the departure did to the organization's competencies: each one whose effective level it lowered
    (`drops_to`), or that now rests on key people it did not rest on the day before (`key_people`)."""
    on = association.ends_on
    org_id = association.organization_id
    before = evaluate(organization_ids=[org_id], day=on - ONE_DAY, details=True)
    after = evaluate(organization_ids=[org_id], day=on, details=True)
    names = dict(Competency.objects.values_list("pk", "name"))
    slugs = dict(Competency.objects.values_list("pk", "slug"))
    impact = []
    for (_org, competency_id), now in sorted(after.items()):
        then = before.get((org_id, competency_id))
        if then is None:
            continue
        lowered = LEVEL_RANK[now.effective_level] < LEVEL_RANK[then.effective_level]
        new_keys = {p.name for p in now.key_people} - {p.name for p in then.key_people}
        if lowered or (new_keys and now.key_people):
            impact.append({
                "competency": names.get(competency_id, ""),
                "url": _site(reverse("dashboard:competency", args=[slugs[competency_id]])),
                "was": then.effective_level, "now": now.effective_level, "lowered": lowered,
                "key_people": [p.name for p in now.key_people] if not lowered else [],
            })
    return impact


def departure_email_queue(*, association: Association, how: str, by: Employee | None) -> None:
    """An employee stopped counting for an organization (`hooks.association_ended`): when that lowers one of
    its competencies' levels, or leaves one resting on key people (whose departure alone would lower it),
    its admins get ONE email each, in their language, written with the change and sent once it commits.

    Idempotent: the key is the association and its end, so the same departure never emails twice.
    """
    if association.ends_on is None:
        return
    impact = _departure_impact(association)
    if not impact:
        return
    employee = association.employee
    admins = [a for a in organization_admins([association.organization_id]).get(association.organization_id, [])
              if a.pk != employee.pk]
    ids = []
    for admin in admins:
        ids.append(email_enqueue(
            key=f"departure:{association.pk}:{association.ends_on.isoformat()}:{admin.pk}",
            to_email=admin.email,
            template="departure",
            context={"admin": admin, "organization": association.organization, "name": employee.display_name,
                     "how": how, "on": association.ends_on, "impact": impact,
                     "dashboard_url": _site(reverse("dashboard:home") + "#activity"),
                     "people_url": _site(reverse("dashboard:people"))},
            language=admin.language or "en",
        ).pk)
    deliver_on_commit(ids)


def _site(path: str) -> str:
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return f"{base}{path}" if base else ""


def account_email_queue(*, employee: Employee, organization: Organization, by: Employee | None) -> None:
    """Queue the new account's email (in its language): who added them, and a link to choose a password.

    The link is Django's password-reset token: it works once (setting the
    password changes what it signs) and for PASSWORD_RESET_TIMEOUT.
    """
    path = reverse(
        "password-set",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(employee.pk)), "token": default_token_generator.make_token(employee)},
    )
    _queue_one(
        "account_created", key=f"account:{employee.pk}", to=employee, language=employee.language or "en",
        employee=employee, organization=organization, by=by.display_name if by else "",
        url=getattr(settings, "SITE_URL", "").rstrip("/") + path,
        days=max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    )
