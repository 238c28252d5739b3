"""People: invitations an organization's admin sends and the invitee answers, and removals.

An organization admin invites someone by email; the employee accepts (an
association that ends the previous one that day), declines, or lets it
expire; an admin may withdraw it. An admin may also end the association of
someone who counts for the organization (the employee leaves). Every one of
these records who did it.
"""

import datetime

from django.db import transaction
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from . import hooks
from .associations import AssociationError, association_end, association_start
from .identity import InvalidEmail, canonical_email
from .models import Association, Employee, Invitation, Organization
from .rules import covering

INVITATION_DAYS = 30


class InvitationError(ValueError):
    """A refused invitation action; `str(exc)` says why, in plain words."""


class MemberRemovalError(ValueError):
    """A refused removal of someone from an organization; `str(exc)` says why, in plain words."""


@transaction.atomic
def invitation_send(
    *, organization: Organization, email: str, invited_by: Employee | None, day: datetime.date
) -> Invitation:
    """Invite `email` to associate their certifications with the organization, for INVITATION_DAYS days.

    Inviting an address that already has a pending invitation renews it
    (from `day`, with a new email): the database allows one pending
    invitation per organization and address. Someone who already counts for
    the organization is not invited. The invitee is emailed if they have an
    account; whether they do is never shown to the inviter.
    """
    try:
        email = canonical_email(email or "")  # the one identity (competencies/identity.py)
    except InvalidEmail:
        raise InvitationError(_("Enter a valid email address.")) from None
    counts = Association.objects.filter(covering(day), employee__email=email, organization=organization)
    if counts.exists():
        raise InvitationError(_("%(email)s already counts for %(name)s.") % {"email": email, "name": organization.name})
    Organization.objects.select_for_update().filter(pk=organization.pk).first()  # one invite of an address at a time
    invitation = Invitation.objects.filter(
        organization=organization, email=email, state=Invitation.State.PENDING
    ).first()
    expires_on = day + datetime.timedelta(days=INVITATION_DAYS)
    if invitation is None:
        invitation = Invitation.objects.create(
            organization=organization, email=email, invited_by=invited_by, created_on=day, expires_on=expires_on
        )
    elif invitation.created_on != day:
        invitation.created_on, invitation.expires_on, invitation.invited_by = day, expires_on, invited_by
        invitation.save(update_fields=["created_on", "expires_on", "invited_by"])
    hooks.invitation_sent.send(invitation=invitation)  # the layer above emails the invitee
    return invitation


def _open_invitation(invitation: Invitation, *, day: datetime.date) -> Invitation:
    """The invitation's row, locked, if it can still be answered on `day`."""
    locked = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    _refuse_if_answered(locked)
    if day >= locked.expires_on:
        raise InvitationError(
            _("This invitation expired on %(day)s.") % {"day": date_format(locked.expires_on, "DATE_FORMAT")}
        )
    return locked


def _refuse_if_answered(invitation: Invitation) -> None:
    words = {
        Invitation.State.ACCEPTED: _("This invitation was already accepted."),
        Invitation.State.DECLINED: _("This invitation was already declined."),
        Invitation.State.WITHDRAWN: _("This invitation was already withdrawn."),
    }
    if invitation.state in words:
        raise InvitationError(words[invitation.state])


def _close(invitation: Invitation, *, state: str, by: Employee | None, day: datetime.date) -> None:
    invitation.state, invitation.closed_on, invitation.closed_by = state, day, by
    invitation.save(update_fields=["state", "closed_on", "closed_by"])


@transaction.atomic
def invitation_accept(*, invitation: Invitation, employee: Employee, day: datetime.date) -> Association:
    """The invitee associates their certifications with the inviting organization from `day`.

    Associating with organization B on day D ends the association with A
    on day D: from D the employee counts for B only (`association_start`).
    Only the invitee (by email, whatever its case) may accept, while the
    invitation is pending and not expired. Both organizations are
    re-evaluated once the transaction commits.
    """
    locked = _open_invitation(invitation, day=day)
    if locked.email != employee.email:  # both canonical (competencies/identity.py)
        raise InvitationError(_("This invitation is for another email address."))
    try:
        association = association_start(employee=employee, organization=locked.organization, on=day)
    except AssociationError as exc:
        raise InvitationError(str(exc)) from exc
    _close(locked, state=Invitation.State.ACCEPTED, by=employee, day=day)
    return association


@transaction.atomic
def invitation_decline(*, invitation: Invitation, employee: Employee, day: datetime.date) -> Invitation:
    """The invitee says no; nothing else changes."""
    locked = _open_invitation(invitation, day=day)
    if locked.email != employee.email:  # both canonical (competencies/identity.py)
        raise InvitationError(_("This invitation is for another email address."))
    _close(locked, state=Invitation.State.DECLINED, by=employee, day=day)
    return locked


@transaction.atomic
def invitation_withdraw(*, invitation: Invitation, by: Employee, day: datetime.date) -> Invitation:
    """An admin of the inviting organization takes a pending invitation back (expired ones too)."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    _refuse_if_answered(locked)
    _close(locked, state=Invitation.State.WITHDRAWN, by=by, day=day)
    return locked


@transaction.atomic
def member_remove(*, organization: Organization, employee: Employee, by: Employee, day: datetime.date) -> Association:
    """An admin ends the association of someone who counts for the organization: they leave on `day`.

    From `day` they count for no one (an employee leaving: `association_end`),
    and the organization is re-evaluated once the transaction commits; the
    association keeps who ended it.
    """
    current = Association.objects.filter(employee=employee, organization=organization, ends_on__isnull=True).first()
    if current is None or current.starts_on > day:
        raise MemberRemovalError(
            _("%(name)s does not count for %(org)s.") % {"name": employee.display_name, "org": organization.name}
        )
    return association_end(employee=employee, on=day, by=by)
