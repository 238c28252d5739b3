"""A Microsoft agent's day in Django admin, as the "agent" group: find an organization, see why it is at risk,
place an override, see the email that went out; readable names everywhere; read-only pages stay read-only."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from competencies.associations import association_start
from competencies.models import CompetencyStatus, Override, OverrideAudit, StatusChange
from competencies.overrides import override_apply, override_extend
from competencies.statuses import statuses_refresh
from memberships.models import Notification, OutboundEmail
from partnercenter.night import run_nightly

from .common import DAY, D
from .factories import MembershipFactory, certified_employee


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.UTC), tick=False):
        yield D


@pytest.fixture
def at_risk_world(org, other_org, admin, cloud, django_capture_on_commit_callbacks):
    """Fabrikam, a Gold member, Gold in Cloud Platform until Jane moves to Northwind today: at risk, email sent."""
    jane = certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, "70-535", name="John Roe")
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 1, 1))
    statuses_refresh(organization_ids=[org.pk, other_org.pk], day=datetime.date(2026, 1, 1))
    run_nightly(day=D - DAY)
    association_start(employee=jane, organization=other_org, on=D)
    with django_capture_on_commit_callbacks(execute=True):
        run_nightly(day=D)
    return {"org": org, "jane": jane, "cloud": cloud}


def text(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_it_finds_an_organization_by_name_or_mpn_id_and_links_to_everything_about_it(agent_client, org, other_org):
    changelist = reverse("admin:competencies_organization_changelist")
    page = text(agent_client.get(changelist, {"q": "fabri"}))
    assert "Fabrikam" in page and "Northwind" not in page
    assert "Northwind" in text(agent_client.get(changelist, {"q": "2000002"}))

    page = text(agent_client.get(reverse("admin:competencies_organization_change", args=[org.pk])))
    assert "Everything about this organization" in page
    for name in ("competencystatus", "statuschange", "override", "association", "invitation"):
        assert f"/admin/competencies/{name}/?organization__id__exact={org.pk}" in page, name
    for name in ("membership", "order", "redemption", "notification"):
        assert f"/admin/memberships/{name}/?organization__id__exact={org.pk}" in page, name
    emails = f"/admin/memberships/outboundemail/?notification__organization__id__exact={org.pk}"
    assert emails in page
    # every link opens a list the agent may view, filtered on this organization
    for link in ("competencies/override", "memberships/order", "memberships/notification", "memberships/outboundemail"):
        lookup = "notification__organization" if "outboundemail" in link else "organization"
        assert agent_client.get(f"/admin/{link}/?{lookup}__id__exact={org.pk}").status_code == 200


def test_it_shows_why_an_organization_is_at_risk_in_words(agent_client, at_risk_world):
    org, cloud = at_risk_world["org"], at_risk_world["cloud"]
    history = text(agent_client.get(reverse("admin:competencies_statuschange_changelist"),
                                    {"organization__id__exact": org.pk}))
    assert "Gold → Silver" in history and "Jane Doe" in history

    status = CompetencyStatus.objects.get(organization=org, competency=cloud)
    assert str(status) == "Fabrikam — Cloud Platform Silver as of Nov. 20, 2026"
    page = text(agent_client.get(reverse("admin:competencies_competencystatus_change", args=[status.pk])))
    assert "Gold → Silver" in page and "Jane Doe" in page
    assert "CompetencyStatus object" not in page

    [notification] = Notification.objects.filter(organization=org, kind="at_risk")
    page = text(agent_client.get(reverse("admin:memberships_notification_change", args=[notification.pk])))
    assert "Cloud Platform: Gold lost (now Silver)." in page
    assert "alice@fabrikam.example" in page  # its email, with its delivery state
    assert "Fabrikam — Achievement at risk, raised on Nov. 20, 2026" in page


def test_it_shows_the_email_that_went_out_with_its_delivery_state(agent_client, at_risk_world):
    email = OutboundEmail.objects.get(key__startswith="at_risk:", to_email="alice@fabrikam.example")
    assert email.status == "sent"
    listing = text(agent_client.get(reverse("admin:memberships_outboundemail_changelist"), {"q": "Fabrikam"}))
    assert "alice@fabrikam.example" in listing and "Sent" in listing
    page = text(agent_client.get(reverse("admin:memberships_outboundemail_change", args=[email.pk])))
    assert email.subject in page and "Cloud Platform" in page
    assert 'name="_save"' not in page  # read-only
    with translation.override("zh-hans"):
        assert "已发送" in str(email) or "发给" in str(email)


def test_it_places_an_override_from_the_organizations_status(agent_client, agent, at_risk_world,
                                                             django_capture_on_commit_callbacks):
    org, cloud = at_risk_world["org"], at_risk_world["cloud"]
    form = {"organization": org.pk, "competency": cloud.pk, "level": "gold", "starts_on": "2026-11-20",
            "expires_on": "", "reason": "Jane's replacement passes 70-533 next week", "_save": "Save"}
    preview = text(agent_client.post(reverse("admin:competencies_override_add"), form))
    assert "Preview: nothing is saved yet" in preview and not Override.objects.exists()
    token = preview.split('name="preview_token" value="')[1].split('"')[0]
    with django_capture_on_commit_callbacks(execute=True):  # the day's re-evaluation runs once it commits
        response = agent_client.post(reverse("admin:competencies_override_add"), {**form, "preview_token": token})
    assert response.status_code == 302
    override = Override.objects.get()
    assert str(override) == "Fabrikam — Cloud Platform Gold until Feb. 20, 2027"
    assert override.created_by == agent
    assert CompetencyStatus.objects.get(organization=org, competency=cloud).effective_level == "gold"


def test_an_audit_entry_reads_as_a_before_and_after_table(agent_client, agent, org, cloud):
    override = override_apply(organization=org, competency=cloud, level="silver", reason="Pending exam",
                              starts_on=D, expires_on=None, actor=agent, day=D)
    override_extend(override=override, expires_on=datetime.date(2027, 6, 1), reason="Exam moved", actor=agent, day=D)
    extended = OverrideAudit.objects.get(action="extend")
    assert str(extended) == "Extended on Nov. 20, 2026: Fabrikam — Cloud Platform Silver until June 1, 2027"
    page = text(agent_client.get(reverse("admin:competencies_overrideaudit_change", args=[extended.pk])))
    assert '<table class="audit-changes">' in page
    assert "<td>Expires on</td><td>Feb. 20, 2027</td><td>June 1, 2027</td>" in page
    assert '"expires_on"' not in page and "OverrideAudit object" not in page


def test_the_pages_about_people_and_purchases_are_read_only_for_agents(agent_client, org, admin):
    page = text(agent_client.get(reverse("admin:competencies_employee_change", args=[admin.pk])))
    assert "Fabrikam" in page  # the employee's associations, inline
    assert 'name="_save"' not in page
    for name in ("association", "invitation"):
        assert agent_client.get(reverse(f"admin:competencies_{name}_changelist")).status_code == 200
    for name in ("order", "redemption", "notification", "outboundemail", "referral"):
        assert agent_client.get(reverse(f"admin:memberships_{name}_changelist")).status_code == 200
        assert agent_client.get(reverse(f"admin:memberships_{name}_add")).status_code == 403
    assert agent_client.get(reverse("admin:competencies_association_add")).status_code == 403


def test_readable_names_say_organization_competency_level_and_dates(org, cloud, admin):
    change = StatusChange.objects.create(organization=org, competency=cloud, day=D, old_evaluated="gold",
                                         new_evaluated="silver", old_effective="gold", new_effective="silver",
                                         cause="association_ended")
    assert str(change) == "Fabrikam — Cloud Platform on Nov. 20, 2026: Gold → Silver"
    association = admin.associations.get()
    assert str(association).startswith("Alice Admin at Fabrikam from ")
    with translation.override("zh-hant"):
        assert "Fabrikam" in str(change) and "→" in str(change)


def test_view_site_opens_the_partner_directory(agent_client):
    page = text(agent_client.get(reverse("admin:index")))
    assert 'href="/partners/"' in page
