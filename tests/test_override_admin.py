"""Agents in Django admin: the "agent" group, applying (preview first), extending and revoking overrides."""

import datetime

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from competencies.models import Association, CompetencyStatus, Override, OverrideAudit
from competencies.overrides import override_apply
from competencies.statuses import statuses_refresh

from .common import DAY, PASSWORD, D
from .factories import EmployeeFactory, MembershipFactory, OrganizationFactory, certified_employee

ADD = reverse("admin:competencies_override_add")
CHANGELIST = reverse("admin:competencies_override_changelist")

AGENT_PERMISSIONS = {
    ("competencies", codename)
    for codename in [
        "view_organization", "view_competencystatus", "view_statuschange",
        "add_override", "change_override", "view_override", "view_overrideaudit",
        *(f"{a}_{m}" for m in ("credential", "centerofexcellence", "competency", "attainmentoption", "requirement",
                               "metric") for a in ("add", "change", "view")),
    ]
} | {
    ("memberships", codename)
    for codename in ["view_membership", *(f"{a}_{m}" for m in ("membershipplan", "benefit") for a in ("add", "change", "view"))]
}
# Migration 0009: the read-only pages about an organization's people, purchases and notifications.
AGENT_PERMISSIONS |= {
    ("competencies", f"view_{m}") for m in ("employee", "association", "earnedcredential", "invitation")
} | {("memberships", f"view_{m}") for m in ("order", "redemption", "referral", "notification", "outboundemail")}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.UTC), tick=False):
        yield D


@pytest.fixture
def org(db, cloud):
    org = OrganizationFactory(name="Fabrikam", mpn_id="1000001")
    certified_employee(org, "70-533", name="Jane Doe")
    statuses_refresh(organization_ids=[org.pk], day=D - DAY)
    return org


def form_data(org, cloud, **changes):
    data = {"organization": org.pk, "competency": cloud.pk, "level": "gold", "starts_on": "2026-11-20",
            "expires_on": "", "reason": "Exam results pending at Pearson VUE", "_save": "Save"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_agent_group_has_exactly_the_permissions_an_agent_needs(db):
    group = Group.objects.get(name="agent")
    granted = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert granted == AGENT_PERMISSIONS
    assert not any(codename.startswith("delete_") for _app, codename in granted)
    # Agents see employees (read-only) but never edit accounts, groups or permissions.
    assert not Permission.objects.filter(group=group, content_type__model__in=["employee", "group", "permission"]).exclude(
        codename="view_employee").exists()


def test_an_agent_sees_the_preview_before_saving_then_applies_the_override(
    agent_client, agent, org, cloud, django_capture_on_commit_callbacks
):
    assert agent_client.get(ADD).status_code == 200

    preview = agent_client.post(ADD, form_data(org, cloud))
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Preview: nothing is saved yet" in page
    assert "On Nov. 20, 2026, Fabrikam is evaluated at Silver in Cloud Platform" in page
    assert "With this override the effective level becomes Gold until Feb. 20, 2027" in page
    assert 'value="2027-02-20"' in page  # the default end, filled in for the agent to see
    assert not Override.objects.exists()

    token = preview.context["adminform"].form.initial["preview_token"]
    with django_capture_on_commit_callbacks(execute=True):
        saved = agent_client.post(ADD, form_data(org, cloud, expires_on="2027-02-20", preview_token=token))
    assert saved.status_code == 302
    override = Override.objects.get()
    assert (override.level, override.expires_on, override.created_by, override.state) == (
        "gold", datetime.date(2027, 2, 20), agent, "active")
    audit = OverrideAudit.objects.get()
    assert (audit.action, audit.actor, audit.day, audit.reason) == ("apply", agent, D, "Exam results pending at Pearson VUE")
    assert CompetencyStatus.objects.get(organization=org, competency=cloud).effective_level == "gold"


def test_changing_a_value_after_the_preview_shows_the_preview_again(agent_client, org, cloud):
    token = agent_client.post(ADD, form_data(org, cloud)).context["adminform"].form.initial["preview_token"]
    response = agent_client.post(ADD, form_data(org, cloud, level="silver", preview_token=token))
    assert response.status_code == 200
    assert "This override changes nothing while evaluation gives Silver or better" in response.content.decode()
    assert not Override.objects.exists()


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"reason": ""}, "A reason is required: say why the organization gets this level."),
        ({"level": "platinum"}, "Unknown level “platinum”: an override grants Silver or Gold."),
        ({"expires_on": "2026-11-19"},
         "The override must end after it starts: it starts on Nov. 20, 2026 and would end on Nov. 19, 2026."),
        ({"expires_on": "2026-11-20"}, "The override must end after it starts"),
    ],
)
def test_the_form_refuses_a_bad_override_with_the_reason(agent_client, org, cloud, changes, words):
    response = agent_client.post(ADD, form_data(org, cloud, **changes))
    assert response.status_code == 200
    assert words in response.content.decode()
    assert "Preview: nothing is saved yet" not in response.content.decode()
    assert not Override.objects.exists()


def test_the_form_refuses_a_second_active_override_with_a_clear_error(agent_client, agent, org, cloud):
    override_apply(organization=org, competency=cloud, level="silver", reason="first", starts_on=D, actor=agent, day=D)
    response = agent_client.post(ADD, form_data(org, cloud))
    assert response.status_code == 200
    assert "An active override already exists for Fabrikam in Cloud Platform (Silver until Feb. 20, 2027)" in (
        response.content.decode())
    assert Override.objects.count() == 1


@pytest.mark.parametrize("field, value", [("organization", "abc"), ("competency", "1 OR 1=1"), ("organization", "-1")])
def test_a_forged_choice_is_refused_in_words_not_with_a_server_error(agent_client, org, cloud, field, value):
    response = agent_client.post(ADD, form_data(org, cloud, **{field: value}))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Override.objects.exists()


def test_an_agent_extends_an_override_with_a_reason(agent_client, agent, org, cloud):
    override = override_apply(organization=org, competency=cloud, level="gold", reason="r", starts_on=D, actor=agent,
                              day=D)
    url = reverse("admin:competencies_override_change", args=[override.pk])
    page = agent_client.get(url).content.decode()
    assert "Today (Nov. 20, 2026): evaluated Silver, effective Gold." in page
    assert 'name="state"' not in page and 'name="created_by"' not in page and 'name="revoked_on"' not in page

    refused = agent_client.post(url, {"expires_on": "2027-03-20", "change_reason": "", "_save": "Save"})
    assert refused.status_code == 200
    assert "A reason is required: say why the override changes." in refused.content.decode()

    saved = agent_client.post(url, {"expires_on": "2027-03-20", "change_reason": "Exam rescheduled",
                                    "state": "revoked", "level": "silver", "_save": "Save"})
    assert saved.status_code == 302
    override.refresh_from_db()
    # Only the end moved: the scheduler's fields and what was applied are not the form's to change.
    assert (override.expires_on, override.state, override.level) == (datetime.date(2027, 3, 20), "active", "gold")
    audit = OverrideAudit.objects.filter(override=override).last()
    assert (audit.action, audit.reason, audit.old_values["expires_on"], audit.new_values["expires_on"]) == (
        "extend", "Exam rescheduled", "2027-02-20", "2027-03-20")


def test_the_revoke_action_asks_for_a_reason_then_revokes(agent_client, agent, org, cloud):
    override = override_apply(organization=org, competency=cloud, level="gold", reason="r", starts_on=D, actor=agent,
                              day=D)
    action = {"action": "revoke_overrides", "_selected_action": [override.pk]}

    confirm = agent_client.post(CHANGELIST, action)
    assert confirm.status_code == 200
    assert "A reason is required and recorded in the audit" in confirm.content.decode()

    missing = agent_client.post(CHANGELIST, {**action, "post": "yes", "reason": ""})
    assert "A reason is required: say why the override is revoked." in missing.content.decode()
    override.refresh_from_db()
    assert override.state == "active"

    done = agent_client.post(CHANGELIST, {**action, "post": "yes", "reason": "Granted to the wrong MPN ID"})
    assert done.status_code == 302
    override.refresh_from_db()
    assert (override.state, override.revoked_on) == ("revoked", D)
    audit = OverrideAudit.objects.filter(override=override).last()
    assert (audit.action, audit.actor, audit.reason) == ("revoke", agent, "Granted to the wrong MPN ID")


def test_the_revoke_button_on_an_active_override_asks_for_a_reason(agent_client, agent, org, cloud):
    override = override_apply(organization=org, competency=cloud, level="gold", reason="r", starts_on=D, actor=agent,
                              day=D)
    change = reverse("admin:competencies_override_change", args=[override.pk])
    revoke = reverse("admin:competencies_override_revoke", args=[override.pk])
    assert revoke in agent_client.get(change).content.decode()
    assert "A reason is required" in agent_client.post(revoke, {"reason": ""}).content.decode()
    assert agent_client.post(revoke, {"reason": "Partner asked"}).status_code == 302
    override.refresh_from_db()
    assert override.state == "revoked"
    # A revoked override is history: read-only, no revoke button, no form.
    page = agent_client.get(change).content.decode()
    assert revoke not in page and 'name="expires_on"' not in page
    assert agent_client.post(revoke, {"reason": "again"}).status_code == 403


def test_nobody_deletes_an_override_or_an_audit_row(agent_client, agent, admin_client, org, cloud):
    override = override_apply(organization=org, competency=cloud, level="gold", reason="r", starts_on=D, actor=agent,
                              day=D)
    delete = reverse("admin:competencies_override_delete", args=[override.pk])
    assert agent_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403  # not even a superuser
    audit = OverrideAudit.objects.get()
    audit_delete = reverse("admin:competencies_overrideaudit_delete", args=[audit.pk])
    assert admin_client.post(audit_delete, {"post": "yes"}).status_code == 403
    assert "delete_selected" not in agent_client.get(CHANGELIST).content.decode()
    assert Override.objects.count() == 1 and OverrideAudit.objects.count() == 1


def test_the_audit_is_listed_and_read_only(agent_client, agent, org, cloud):
    override = override_apply(organization=org, competency=cloud, level="gold", reason="r", starts_on=D, actor=agent,
                              day=D)
    listing = agent_client.get(reverse("admin:competencies_overrideaudit_changelist"))
    assert listing.status_code == 200 and "Ada Agent" in listing.content.decode()
    audit = OverrideAudit.objects.get(override=override)
    page = agent_client.get(reverse("admin:competencies_overrideaudit_change", args=[audit.pk])).content.decode()
    assert 'name="reason"' not in page
    assert agent_client.get(reverse("admin:competencies_overrideaudit_add")).status_code == 403


def test_staff_who_are_not_agents_cannot_reach_overrides(client, org, cloud, agent):
    override = override_apply(organization=org, competency=cloud, level="gold", reason="r", starts_on=D, actor=agent,
                              day=D)
    staff = EmployeeFactory(email="sam@microsoft.example", is_staff=True)
    client.login(username=staff.email, password=PASSWORD)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, form_data(org, cloud)).status_code == 403
    assert client.get(reverse("admin:competencies_override_change", args=[override.pk])).status_code == 403
    assert client.post(reverse("admin:competencies_override_revoke", args=[override.pk]), {"reason": "x"}).status_code == 403
    assert client.get(reverse("admin:competencies_overrideaudit_changelist")).status_code == 403
    override.refresh_from_db()
    assert override.state == "active" and Override.objects.count() == 1


def test_an_employee_who_is_not_staff_is_sent_to_the_admin_sign_in(client, org, cloud):
    employee = EmployeeFactory(email="pat@fabrikam.example")
    client.login(username=employee.email, password=PASSWORD)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_history_list_says_each_cause_in_words_and_finds_it_by_name(agent_client, org, cloud):
    Association.objects.filter(organization=org).update(ends_on=D)
    statuses_refresh(organization_ids=[org.pk], day=D)
    url = reverse("admin:competencies_statuschange_changelist")
    found = agent_client.get(url, {"q": "Jane Doe"})
    assert found.context["cl"].result_count == 1
    assert "Jane Doe left on Nov. 20, 2026" in found.content.decode()
    assert agent_client.get(url, {"q": "Sam Lee"}).context["cl"].result_count == 0


def test_an_agent_looks_up_organizations_and_edits_the_catalog_but_not_users(agent_client, agent, org, cloud):
    membership = MembershipFactory(organization=org)
    assert agent_client.get(reverse("admin:competencies_organization_change", args=[org.pk])).status_code == 200
    assert agent_client.get(reverse("admin:competencies_competencystatus_changelist")).status_code == 200
    assert agent_client.get(reverse("admin:competencies_statuschange_changelist")).status_code == 200
    assert agent_client.get(reverse("admin:memberships_membership_change", args=[membership.pk])).status_code == 200
    # View only: an organization's page has no save button for an agent.
    assert agent_client.post(reverse("admin:competencies_organization_change", args=[org.pk]),
                             {"name": "Renamed", "mpn_id": org.mpn_id}).status_code == 403
    # The catalog is editable.
    option = cloud.options.first()
    assert agent_client.get(reverse("admin:competencies_attainmentoption_change", args=[option.pk])).status_code == 200
    assert agent_client.get(reverse("admin:competencies_credential_add")).status_code == 200
    response = agent_client.post(reverse("admin:competencies_credential_add"),
                                 {"code": "AZ-305", "kind": "exam", "title": "Designing Azure Infrastructure Solutions"})
    assert response.status_code == 302
    # No user editing (employees are read-only for agents), no memberships editing.
    assert agent_client.get(reverse("admin:competencies_employee_changelist")).status_code == 200
    assert agent_client.get(reverse("admin:competencies_employee_add")).status_code == 403
    assert agent_client.post(reverse("admin:competencies_employee_change", args=[agent.pk]),
                             {"email": agent.email, "name": "Renamed", "is_superuser": "on"}).status_code == 403
    agent.refresh_from_db()
    assert agent.name == "Ada Agent" and not agent.is_superuser
    assert agent_client.get(reverse("admin:auth_group_changelist")).status_code == 403
    assert agent_client.post(reverse("admin:memberships_membership_change", args=[membership.pk]),
                             {"level": "gold"}).status_code == 403


def test_the_list_shows_overrides_expiring_within_30_days_and_filters_by_state(agent_client, agent, cloud):
    def override(name, expires_on, state="active"):
        return Override.objects.create(organization=OrganizationFactory(name=name), competency=cloud, level="gold",
                                       reason="r", starts_on=D - 60 * DAY, expires_on=expires_on, state=state)

    override("Tomorrow Inc", D + DAY)
    override("Thirty Days Ltd", D + 30 * DAY)
    override("Thirty One Days plc", D + 31 * DAY)
    override("Revoked Soon AG", D + 5 * DAY, state="revoked")
    override("Expired Yesterday SA", D - DAY, state="expired")

    def names(query):
        response = agent_client.get(CHANGELIST + query)
        assert response.status_code == 200
        return sorted(o.organization.name for o in response.context["cl"].result_list)

    assert names("?expiring=30") == ["Thirty Days Ltd", "Tomorrow Inc"]
    assert names("?state__exact=revoked") == ["Revoked Soon AG"]
    assert names("?state__exact=active") == ["Thirty Days Ltd", "Thirty One Days plc", "Tomorrow Inc"]
    assert "within 30 days" in agent_client.get(CHANGELIST).content.decode()
