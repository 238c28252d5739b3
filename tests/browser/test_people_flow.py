"""An admin invites a certified person of another organization; she reviews what her organization would lose,
accepts, and both organizations' competency pages show the move on the next load."""

import pytest
from django.utils import timezone

from competencies.statuses import statuses_refresh

from ..common import PASSWORD
from ..factories import build_competency, certified_employee
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, email, path):
    page.goto(page.base_url + path)
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**" + path)


def test_an_admin_invites_and_the_invitee_moves_her_certifications(page, browser, live_server, org, admin, other_org):
    build_competency(
        "cloud-platform",
        name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 2, "any_of": ["70-533"]}]],
    )
    jane = certified_employee(other_org, "70-533", email="jane@northwind.example", name="Jane Doe")
    statuses_refresh(organization_ids=[org.pk, other_org.pk], day=timezone.localdate())

    sign_in(page, admin.email, "/dashboard/people/")
    page.fill("#id_email", "jane@northwind.example")
    page.click("text=Send invitation")
    page.wait_for_url("**/dashboard/people/")
    assert "jane@northwind.example is invited until" in page.locator("main").inner_text()
    screenshot(page, "people-invited")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    jane_page = context.new_page()
    jane_page.base_url = live_server.url
    sign_in(jane_page, jane.email, "/dashboard/")
    jane_page.click("text=Review the invitation")
    body = jane_page.locator("main").inner_text()
    assert "Accepting ends your association with Northwind" in body
    assert "What Northwind would lose" in body and "Cloud Platform" in body
    screenshot(jane_page, "invitation-review")
    jane_page.click("text=Leave Northwind and associate with Fabrikam")
    jane_page.wait_for_url("**/dashboard/certifications/")
    assert "Your certifications now count for Fabrikam" in jane_page.locator("main").inner_text()
    assert "Fabrikam" in jane_page.locator(".topbar").inner_text()
    context.close()

    page.goto(page.base_url + "/dashboard/membership/competencies/cloud-platform/")
    detail = page.locator("main").inner_text()
    assert "Jane Doe" in detail and "Association started" in detail  # the history row of the move, written at once
    screenshot(page, "competency-after-invitation")
