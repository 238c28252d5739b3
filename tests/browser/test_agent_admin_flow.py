"""An agent's day in Django admin, with a screenshot of each task: find an organization, see why it is at risk,
place an override, see the email that went out (1280 px; the organization page also in Chinese and at 390 px)."""

import datetime
import importlib

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import Group

from competencies.associations import association_start
from competencies.statuses import statuses_refresh
from memberships.models import Notification, OutboundEmail
from partnercenter.night import run_nightly

from ..common import PASSWORD, D
from ..factories import EmployeeFactory, MembershipFactory, OrganizationFactory, build_competency, certified_employee
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def agent(db):
    for migration in ("0003_agent_group", "0010_agent_view_permissions"):  # a transactional test emptied the group
        module = importlib.import_module(f"competencies.migrations.{migration}")
        getattr(module, "agent_group_sync", None) and module.agent_group_sync(apps)
        getattr(module, "agent_views_add", None) and module.agent_views_add(apps)
    agent = EmployeeFactory(email="ada@microsoft.example", name="Ada Agent", is_staff=True)
    agent.groups.add(Group.objects.get(name="agent"))
    return agent


@pytest.fixture
def at_risk(db):
    people = {"kind": "certified_people", "any_of": ["70-533", "70-535"]}
    cloud = build_competency("cloud-platform", name="Cloud Platform", silver=[[{**people, "count": 1}]],
                             gold=[[{**people, "count": 2}]])
    org = OrganizationFactory(name="Fabrikam", mpn_id="1000001")
    other = OrganizationFactory(name="Northwind Traders", mpn_id="2000002")
    admin = EmployeeFactory(email="alice@fabrikam.example", name="Alice Admin")
    org.admins.add(admin)
    jane = certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, "70-535", name="John Roe")
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 1, 1))
    statuses_refresh(organization_ids=[org.pk, other.pk], day=datetime.date(2026, 1, 1))
    run_nightly(day=D - datetime.timedelta(days=1))
    association_start(employee=jane, organization=other, on=D)
    run_nightly(day=D)
    return org, cloud


def sign_in(page, agent):
    page.goto(page.base_url + "/admin/")
    page.fill("#id_username", agent.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def test_an_agent_finds_an_organization_sees_why_it_is_at_risk_overrides_and_reads_the_email(page, agent, at_risk):
    org, cloud = at_risk
    with time_machine.travel(datetime.datetime(2026, 11, 20, 10, tzinfo=datetime.UTC)):
        sign_in(page, agent)
        page.goto(page.base_url + "/admin/competencies/organization/?q=fabrikam")
        assert page.locator("#result_list").inner_text().count("Fabrikam") == 1
        screenshot(page, "agent-1-find-organization")

        page.click("#result_list a:has-text('Fabrikam')")
        page.wait_for_selector(".organization-links")
        assert page.locator(".organization-links a").count() == 10
        screenshot(page, "agent-2-organization-page")

        page.click(".organization-links a:has-text('Status history')")
        page.wait_for_selector("#result_list")
        assert "Gold → Silver" in page.locator("#result_list").inner_text()
        screenshot(page, "agent-3-why-at-risk-history")

        notification = Notification.objects.get(organization=org, kind="at_risk")
        page.goto(page.base_url + f"/admin/memberships/notification/{notification.pk}/change/")
        assert "Gold lost (now Silver)" in page.content()
        screenshot(page, "agent-4-at-risk-notification")

        email = OutboundEmail.objects.filter(notification=notification).first()
        page.goto(page.base_url + f"/admin/memberships/outboundemail/{email.pk}/change/")
        assert email.subject in page.content()
        screenshot(page, "agent-5-email-that-went-out")

        page.goto(page.base_url + "/admin/competencies/override/add/")
        page.click(".field-organization .select2-selection")
        page.fill(".select2-search__field", "Fabrikam")
        page.locator(".select2-results__option", has_text="Fabrikam").first.click()
        page.click(".field-competency .select2-selection")
        page.fill(".select2-search__field", "Cloud")
        page.locator(".select2-results__option", has_text="Cloud Platform").first.click()
        page.select_option("#id_level", "gold")
        page.fill("#id_reason", "Jane's replacement passes 70-533 next week")
        page.click("input[name=_preview]")
        page.wait_for_selector(".override-preview")
        screenshot(page, "agent-6-override-preview")
        page.click("input[name=_save]")
        page.wait_for_selector("#result_list")
        assert "Fabrikam — Cloud Platform Gold until" in page.content()
        screenshot(page, "agent-7-override-placed")

        page.goto(page.base_url + "/admin/competencies/overrideaudit/")
        page.locator("#result_list tbody a").first.click()
        page.wait_for_selector("table.audit-changes")
        assert page.locator("table.audit-changes").count() == 1
        screenshot(page, "agent-8-audit-entry")


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_the_organization_page_reads_in_chinese_and_on_a_phone(page, agent, at_risk, language):
    org, _cloud = at_risk
    sign_in(page, agent)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": page.base_url}])
    page.goto(page.base_url + f"/admin/competencies/organization/{org.pk}/change/")
    assert "Everything about this organization" not in page.content()
    screenshot(page, f"agent-organization-{language}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.base_url + "/admin/competencies/statuschange/")
    screenshot(page, f"agent-history-{language}-390")
