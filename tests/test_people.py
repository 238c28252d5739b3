"""People: invitations an admin sends and the invitee answers, and removals (competencies/invitations.py)."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from competencies.invitations import (
    InvitationError,
    MemberRemovalError,
    invitation_accept,
    invitation_decline,
    invitation_send,
    invitation_withdraw,
    member_remove,
)
from competencies.models import Association, CompetencyStatus, Invitation
from competencies.statuses import statuses_refresh
from memberships.models import OutboundEmail

from .common import TODAY, cloud_platform
from .factories import (
    AssociationFactory,
    EmployeeFactory,
    InvitationFactory,
    certified_employee,
)

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def cloud(db):
    return cloud_platform(["70-533"])


@pytest.fixture
def jane(other_org, cloud):
    """Jane holds Northwind's Silver Cloud Platform up alone."""
    return certified_employee(other_org, "70-533", email="jane@northwind.example", name="Jane Doe")


def effective(org, competency):
    """The stored effective level; a pair that has never had a level has no status: none."""
    stored = CompetencyStatus.objects.filter(organization=org, competency=competency)
    return stored.values_list("effective_level", flat=True).first() or "none"


# --- Services -------------------------------------------------------------------


def test_it_invites_for_thirty_days(org, admin):
    invitation = invitation_send(organization=org, email=" Jane@Northwind.example ", invited_by=admin, day=TODAY)
    assert (invitation.email, invitation.created_on, invitation.expires_on) == (
        "jane@northwind.example", TODAY, datetime.date(2026, 12, 23))
    assert invitation.state == Invitation.State.PENDING and invitation.invited_by == admin


def test_inviting_the_same_address_again_renews_the_pending_invitation(org, admin):
    first = invitation_send(organization=org, email="jane@northwind.example", invited_by=admin, day=TODAY)
    again = invitation_send(organization=org, email="JANE@northwind.example", invited_by=admin,
                            day=TODAY + datetime.timedelta(days=40))
    assert again.pk == first.pk and Invitation.objects.count() == 1
    assert again.expires_on == TODAY + datetime.timedelta(days=70)


def test_the_database_allows_one_pending_invitation_per_organization_and_address(org):
    InvitationFactory(organization=org, email="jane@northwind.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        InvitationFactory(organization=org, email="Jane@Northwind.example")
    InvitationFactory(organization=org, email="jane@northwind.example", state=Invitation.State.DECLINED)


@pytest.mark.parametrize("email", ["", "not-an-email", "jane@"])
def test_it_refuses_an_invalid_address_and_writes_nothing(org, admin, email):
    with pytest.raises(InvitationError, match="valid email"):
        invitation_send(organization=org, email=email, invited_by=admin, day=TODAY)
    assert not Invitation.objects.exists()


def test_it_does_not_invite_someone_who_already_counts(org, admin, teammate):
    with pytest.raises(InvitationError, match="already counts for Fabrikam"):
        invitation_send(organization=org, email=teammate.email.upper(), invited_by=admin, day=TODAY)


def test_it_emails_an_invitee_who_has_an_account_in_their_language(org, admin, jane):
    jane.language = "zh-hans"
    jane.save()
    invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    email = OutboundEmail.objects.get()
    assert email.to_email == jane.email and email.language == "zh-hans"
    assert "Fabrikam" in email.subject and "Alice Admin" in email.body_text and "/dashboard/certifications/" in email.body_text


def test_it_emails_no_one_when_the_address_has_no_account(org, admin):
    invitation_send(organization=org, email="nobody@example.com", invited_by=admin, day=TODAY)
    assert not OutboundEmail.objects.exists()


def test_accepting_severs_the_previous_association_that_day_and_re_evaluates_both(
    org, other_org, admin, jane, cloud, django_capture_on_commit_callbacks
):
    statuses_refresh(organization_ids=[org.pk, other_org.pk], day=TODAY)
    assert (effective(org, cloud), effective(other_org, cloud)) == ("none", "silver")
    invitation = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)

    with django_capture_on_commit_callbacks(execute=True):
        invitation_accept(invitation=invitation, employee=jane, day=TODAY)

    old, new = Association.objects.filter(employee=jane).order_by("starts_on", "pk")
    assert (old.organization, old.ends_on) == (other_org, TODAY)
    assert (new.organization, new.starts_on, new.ends_on) == (org, TODAY, None)
    invitation.refresh_from_db()
    assert (invitation.state, invitation.closed_on, invitation.closed_by) == ("accepted", TODAY, jane)
    # Re-evaluated once the transaction commits (Celery runs eagerly in the tests): the next page load shows it.
    assert (effective(org, cloud), effective(other_org, cloud)) == ("silver", "none")


def test_only_the_invitee_accepts(org, admin, jane, teammate):
    invitation = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    with pytest.raises(InvitationError, match="another email"):
        invitation_accept(invitation=invitation, employee=EmployeeFactory(), day=TODAY)
    assert Invitation.objects.get().state == "pending"


def test_an_invitation_can_be_accepted_on_its_last_day_but_not_on_its_end_day(org, admin, jane):
    invitation = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    with pytest.raises(InvitationError, match="expired"):
        invitation_accept(invitation=invitation, employee=jane, day=invitation.expires_on)
    invitation_accept(invitation=invitation, employee=jane, day=invitation.expires_on - datetime.timedelta(days=1))
    assert Association.objects.get(employee=jane, ends_on__isnull=True).organization == org


def test_an_answered_invitation_cannot_be_answered_again(org, admin, jane):
    invitation = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    invitation_decline(invitation=invitation, employee=jane, day=TODAY)
    with pytest.raises(InvitationError, match="already declined"):
        invitation_accept(invitation=invitation, employee=jane, day=TODAY)
    with pytest.raises(InvitationError, match="already declined"):
        invitation_withdraw(invitation=invitation, by=admin, day=TODAY)
    assert Association.objects.get(employee=jane, ends_on__isnull=True).organization.name == "Northwind"


def test_declining_and_withdrawing_change_no_association(org, admin, jane):
    first = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    invitation_withdraw(invitation=first, by=admin, day=TODAY)
    first.refresh_from_db()
    assert (first.state, first.closed_by) == ("withdrawn", admin)
    assert Association.objects.filter(employee=jane).count() == 1


def test_removing_someone_ends_their_association_today_records_who_and_re_evaluates(
    other_org, outsider, jane, cloud, django_capture_on_commit_callbacks
):
    statuses_refresh(organization_ids=[other_org.pk], day=TODAY)
    with django_capture_on_commit_callbacks(execute=True):
        ended = member_remove(organization=other_org, employee=jane, by=outsider, day=TODAY)
    assert (ended.ends_on, ended.ended_by) == (TODAY, outsider)
    assert not Association.objects.filter(employee=jane, ends_on__isnull=True).exists()
    assert effective(other_org, cloud) == "none"


def test_an_admin_cannot_remove_someone_of_another_organization(org, admin, jane):
    with pytest.raises(MemberRemovalError, match="does not count for Fabrikam"):
        member_remove(organization=org, employee=jane, by=admin, day=TODAY)
    assert Association.objects.get(employee=jane).ends_on is None


# --- Pages ----------------------------------------------------------------------


def test_the_people_page_lists_who_counts_and_whom_a_level_rests_on(client, teammate, other_org, outsider, jane):
    AssociationFactory(employee=EmployeeFactory(name="Ex Colleague"), organization=other_org,
                       ends_on=TODAY)  # left today: no longer counts
    client.force_login(outsider)
    body = client.get(reverse("dashboard:people")).content.decode()
    assert "Jane Doe" in body and "70-533" in body and "Olga Outsider" in body
    assert "Ex Colleague" not in body and "Bob Teammate" not in body
    assert "2 people count for Northwind" in body
    jane_row = body[body.index("Jane Doe"):body.index("Jane Doe") + 1500]
    assert "Cloud Platform" in jane_row and 'class="badge silver"' in jane_row


def test_the_people_page_costs_the_same_queries_for_ten_or_sixty_people(client, org, admin, cloud):
    def queries(n):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for _ in range(n):
            certified_employee(org, "70-533")
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("dashboard:people")).status_code == 200
        return len(captured)

    client.force_login(admin)
    assert queries(10) == queries(50)


def test_an_admin_invites_from_the_people_page(client, org, admin):
    client.force_login(admin)
    response = client.post(reverse("dashboard:people"), {"organization": org.mpn_id, "email": "new@example.com"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard:people")
    assert "new@example.com is invited until Dec. 23, 2026" in response.content.decode()
    assert Invitation.objects.get().organization == org


def test_a_bad_address_re_renders_the_form_with_the_reason(client, org, admin, teammate):
    client.force_login(admin)
    response = client.post(reverse("dashboard:people"), {"organization": org.mpn_id, "email": teammate.email})
    assert response.status_code == 400
    assert "already counts for Fabrikam" in response.content.decode() and not Invitation.objects.exists()


def test_a_teammate_who_is_not_an_admin_cannot_invite(client, org, teammate):
    client.force_login(teammate)
    response = client.post(reverse("dashboard:people"), {"organization": org.mpn_id, "email": "new@example.com"})
    assert response.status_code == 403 and not Invitation.objects.exists()


def test_inviting_for_another_organization_is_404(client, org, other_org, admin):
    client.force_login(admin)
    response = client.post(reverse("dashboard:people"), {"organization": other_org.mpn_id, "email": "new@example.com"})
    assert response.status_code == 404 and not Invitation.objects.exists()


def test_another_organizations_invitation_cannot_be_withdrawn(client, org, other_org, admin):
    theirs = InvitationFactory(organization=other_org, created_on=TODAY, expires_on=TODAY + datetime.timedelta(days=30))
    client.force_login(admin)
    response = client.post(reverse("dashboard:invitation-withdraw", args=[theirs.pk]), {"organization": org.mpn_id})
    assert response.status_code == 404
    assert Invitation.objects.get(pk=theirs.pk).state == "pending"


def test_the_removal_page_says_what_would_be_lost_and_the_post_removes(client, other_org, outsider, jane):
    client.force_login(outsider)
    url = reverse("dashboard:member-remove", args=[jane.pk])
    body = client.get(url).content.decode()
    assert "Remove Jane Doe" in body and "Cloud Platform" in body and 'class="badge silver"' in body
    assert client.post(url, {"organization": other_org.mpn_id}).status_code == 302
    assert Association.objects.get(employee=jane).ends_on == TODAY


def test_someone_of_another_organization_cannot_be_removed(client, org, admin, jane):
    client.force_login(admin)
    url = reverse("dashboard:member-remove", args=[jane.pk])
    assert client.get(url).status_code == 404 and client.post(url, {"organization": org.mpn_id}).status_code == 404
    assert Association.objects.get(employee=jane).ends_on is None


def test_a_teammate_cannot_remove_anyone(client, org, admin, teammate):
    client.force_login(teammate)
    assert client.post(reverse("dashboard:member-remove", args=[admin.pk]), {"organization": org.mpn_id}).status_code == 403
    assert Association.objects.get(employee=admin).ends_on is None


def test_the_invitee_reviews_what_the_organization_left_would_lose_then_accepts(client, org, admin, jane):
    invitation = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    client.force_login(jane)
    assert "Fabrikam</strong> invites you" in client.get(reverse("dashboard:home")).content.decode()
    url = reverse("dashboard:invitation", args=[invitation.pk])
    body = client.get(url).content.decode()
    assert "Accepting ends your association with <strong>Northwind</strong>" in body
    assert "What Northwind would lose" in body and "Cloud Platform" in body
    response = client.post(url, {"answer": "accept"}, follow=True)
    assert "Your certifications now count for Fabrikam" in response.content.decode()
    assert Association.objects.get(employee=jane, ends_on__isnull=True).organization == org


def test_the_invitee_declines(client, org, admin, jane):
    invitation = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    client.force_login(jane)
    client.post(reverse("dashboard:invitation", args=[invitation.pk]), {"answer": "decline"})
    assert Invitation.objects.get().state == "declined"
    assert Association.objects.get(employee=jane, ends_on__isnull=True).organization.name == "Northwind"


def test_someone_elses_or_an_expired_invitation_is_404(client, org, admin, jane, teammate):
    invitation = invitation_send(organization=org, email=jane.email, invited_by=admin, day=TODAY)
    expired = InvitationFactory(organization=org, email=teammate.email, created_on=TODAY - datetime.timedelta(days=30),
                                expires_on=TODAY)
    client.force_login(teammate)
    for pk in (invitation.pk, expired.pk):
        url = reverse("dashboard:invitation", args=[pk])
        assert client.get(url).status_code == 404 and client.post(url, {"answer": "accept"}).status_code == 404
    assert Invitation.objects.filter(state="pending").count() == 2


def test_a_removal_or_withdrawal_naming_another_organization_in_the_form_is_404(client, org, other_org, admin, teammate):
    mine = InvitationFactory(organization=org, created_on=TODAY, expires_on=TODAY + datetime.timedelta(days=30))
    client.force_login(admin)
    assert client.post(reverse("dashboard:member-remove", args=[teammate.pk]),
                       {"organization": other_org.mpn_id}).status_code == 404
    assert client.post(reverse("dashboard:invitation-withdraw", args=[mine.pk]), {}).status_code == 404
    assert Association.objects.get(employee=teammate).ends_on is None and Invitation.objects.get().state == "pending"


def test_withdrawing_an_invitation_asks_for_confirmation_first(client, admin, org):
    from competencies.models import Invitation

    from .factories import InvitationFactory

    invitation = InvitationFactory(organization=org, email="new.hire@example.com", invited_by=admin)
    client.force_login(admin)
    page = client.get(reverse("dashboard:invitation-withdraw", args=[invitation.pk]))
    assert page.status_code == 200 and "Withdraw the invitation to new.hire@example.com?" in page.content.decode()
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.PENDING
    response = client.post(reverse("dashboard:invitation-withdraw", args=[invitation.pk]), {"organization": org.mpn_id})
    invitation.refresh_from_db()
    assert response.status_code == 302 and invitation.state == Invitation.State.WITHDRAWN
