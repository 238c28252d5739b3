"""An agent applies an override in Django admin (preview first), sees it in the list, then revokes it."""

import datetime
import importlib

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import Group

from competencies.models import CompetencyStatus, Override, OverrideAudit
from competencies.statuses import statuses_refresh

from ..common import PASSWORD, D
from ..factories import EmployeeFactory, OrganizationFactory, build_competency, certified_employee
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def agent(db):
    # A transactional test empties the tables the migrations filled: set the group up again, the migration's way.
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    agent = EmployeeFactory(email="ada@microsoft.example", name="Ada Agent", is_staff=True)
    agent.groups.add(Group.objects.get(name="agent"))
    return agent


@pytest.fixture
def fabrikam(db):
    cloud = build_competency(
        "cloud-platform", name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 2, "any_of": ["70-533"]}]],
    )
    org = OrganizationFactory(name="Fabrikam", mpn_id="1000001")
    OrganizationFactory(name="Fourth Coffee", mpn_id="1000004")
    certified_employee(org, "70-533", name="Jane Doe")
    statuses_refresh(organization_ids=[org.pk], day=D)
    return org, cloud


def choose(page, field, text):
    """Pick `text` in an admin autocomplete (select2) field."""
    page.click(f".field-{field} .select2-selection")
    page.fill(".select2-search__field", text)
    page.locator(".select2-results__option", has_text=text).first.click()


def test_an_agent_previews_applies_and_revokes_an_override(page, agent, fabrikam):
    org, cloud = fabrikam
    with time_machine.travel(datetime.datetime(2026, 11, 20, 10, tzinfo=datetime.UTC)):
        page.goto(page.base_url + "/admin/")
        page.fill("#id_username", agent.email)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.click("text=Achievement overrides")
        page.click("a.addlink")

        choose(page, "organization", "Fabrikam")
        choose(page, "competency", "Cloud Platform")
        page.select_option("#id_level", "gold")
        page.fill("#id_reason", "")
        page.click("input[name=_preview]")
        page.wait_for_selector(".errorlist")
        assert page.locator(".errorlist").all_inner_texts() == [
            "A reason is required: say why the organization gets this level."]
        screenshot(page, "override-admin-refused-without-reason")

        page.fill("#id_reason", "Two exam results pending at Pearson VUE; confirmed by the partner's PDM")
        page.click("input[name=_preview]")
        preview = page.locator("#override-preview-line").inner_text()
        assert "Fabrikam is evaluated at Silver in Cloud Platform" in preview
        assert "With this override the effective level becomes Gold until Feb. 20, 2027" in preview
        assert page.input_value("#id_expires_on") == "2027-02-20"
        assert not Override.objects.exists()
        screenshot(page, "override-admin-preview")

        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist")
        override = Override.objects.get()
        assert (override.level, override.created_by, override.expires_on) == ("gold", agent, datetime.date(2027, 2, 20))
        assert "Today (Nov. 20, 2026): evaluated Silver, effective Gold." in page.locator(".override-today").inner_text()
        assert page.locator(".override-audit td", has_text="Applied").count() == 1
        screenshot(page, "override-admin-applied")
        assert CompetencyStatus.objects.get(organization=org, competency=cloud).effective_level == "gold"

        page.goto(page.base_url + "/admin/competencies/override/?expiring=30")
        assert page.locator("#result_list tbody tr").count() == 0
        page.goto(page.base_url + "/admin/competencies/override/?state__exact=active")
        assert page.locator("#result_list tbody tr").count() == 1
        screenshot(page, "override-admin-list")

        page.goto(page.base_url + f"/admin/competencies/override/{override.pk}/change/")
        page.click("a.revoke-link")
        page.click("input[type=submit][value=Revoke]")
        assert page.locator(".errorlist").inner_text() == "A reason is required: say why the override is revoked."
        page.fill("#id_reason", "The exams were failed")
        page.click("input[type=submit][value=Revoke]")
        page.wait_for_selector(".messagelist")
        assert "1 override revoked." in page.locator(".messagelist").inner_text()
        screenshot(page, "override-admin-revoked")
        override.refresh_from_db()
        assert (override.state, override.revoked_on) == ("revoked", D)
        assert list(OverrideAudit.objects.order_by("id").values_list("action", flat=True)) == ["apply", "revoke"]
        assert CompetencyStatus.objects.get(organization=org, competency=cloud).effective_level == "silver"


def test_the_at_risk_banner_shows_on_the_organization_dashboard(page, fabrikam):
    """Not the admin, but what the night's notification looks like to the partner: screenshot for a person to check."""
    from competencies.associations import association_start
    from partnercenter.night import run_nightly

    from ..factories import MembershipFactory

    org, cloud = fabrikam
    admin = EmployeeFactory(email="alice@fabrikam.example", name="Alice Admin")
    org.admins.add(admin)
    certified_employee(org, "70-533", name="John Roe")
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 1, 1))
    run_nightly(day=D)
    jane = org.associations.get(employee__name="Jane Doe").employee
    association_start(employee=jane, organization=OrganizationFactory(name="Northwind"), on=D + datetime.timedelta(days=1))
    run_nightly(day=D + datetime.timedelta(days=1))
    with time_machine.travel(datetime.datetime(2026, 11, 21, 10, tzinfo=datetime.UTC)):
        page.goto(page.base_url + "/dashboard/")
        page.fill("#id_username", admin.email)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        banner = page.locator(".notification-at_risk")
        assert "put your membership renewal eligibility at risk" in banner.inner_text()
        assert "Cloud Platform: Gold lost (now Silver)." in banner.inner_text()
        assert "Jane Doe associated with another organization on Nov. 21, 2026" in banner.inner_text()
        screenshot(page, "dashboard-at-risk-banner")
