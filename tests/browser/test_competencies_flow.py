import datetime
import importlib
import io

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo():
    # A transactional test before this one flushed the agents' group its data migration made: make it again.
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(datetime.datetime(2026, 11, 23, 12, tzinfo=datetime.UTC), tick=False):
        call_command("seed_demo", stdout=io.StringIO())
    return "demo-partner-2026"


def test_an_admin_at_risk_follows_the_banner_to_the_competency_and_its_history(page, demo):
    with time_machine.travel(datetime.datetime(2026, 11, 23, 12, tzinfo=datetime.UTC), tick=True):
        page.goto(page.base_url + "/accounts/login/")
        page.fill("#id_username", "sam.lee@fabrikam.example")
        page.fill("#id_password", demo)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/")
        banner = page.locator(".banner").first.inner_text()
        assert "put your membership renewal eligibility at risk" in banner
        screenshot(page, "demo-dashboard-at-risk")

        page.click("nav >> text=Competencies")
        assert page.locator("h1").inner_text() == "Competencies"
        screenshot(page, "demo-competencies")

        page.click("main >> text=Cloud Platform")
        assert "Jane Doe associated with another organization on Nov. 20, 2026" in page.locator("main").inner_text()
        assert "1 more person with one of" in page.locator("main").inner_text()
        screenshot(page, "demo-competency-detail")

        page.click("nav >> text=My certifications")
        assert page.locator("h1").inner_text() == "My certifications"
        screenshot(page, "demo-certifications")
