"""The what-if planner as an admin uses it, at 1280 and 390 px, in English and both Chinese scripts: a change
added through its form, a shared plan opened from its address with its forecast of the coming year, a bad plan
answered with its message. Nothing
wider than the screen. Screenshots: test-artifacts/what-if-*.png."""

import datetime
import importlib
import io
from urllib.parse import urlencode

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from competencies.models import Association, Organization

from .conftest import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOW = datetime.datetime(2026, 11, 23, 12, tzinfo=datetime.UTC)
PASSWORD = "demo-partner-2026"
LOCALES = {"en": "en-US", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}
URL = "/dashboard/membership/what-if/"


@pytest.fixture
def demo():
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())
    contoso = Organization.objects.get(mpn_id="1000001")
    people = list(Association.objects.filter(organization=contoso, ends_on__isnull=True)
                  .exclude(employee__email="ava.chen@contoso.example").values_list("employee_id", flat=True))
    return people


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("language", list(LOCALES))
def test_an_admin_plans_changes_on_a_desk_and_a_phone(browser, live_server, demo, language, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=LOCALES[language])
    page = context.new_page()
    fits = "document.documentElement.scrollWidth - window.innerWidth"
    with time_machine.travel(NOW, tick=True):
        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "ava.chen@contoso.example")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/")

        page.goto(live_server.url + URL)
        assert page.locator("#what-if-levels").is_visible()
        page.locator("#wi-leave").select_option(str(demo[0]))
        page.locator("#wi-leave").locator("xpath=ancestor::form").locator("button").click()
        page.wait_for_url(f"**leave={demo[0]}**")
        assert page.locator(".plan-changes li").count() == 1
        assert page.evaluate(fits) <= 0
        screenshot(page, f"what-if-{language}-{width}-one-change")

        plan = [("day", "2027-03-01"), *[("leave", pk) for pk in demo[1:3]], ("hire", "new.hire@example.com"),
                ("earn_who", "new.hire@example.com"), ("earn_code", "70-762"), ("earn_on", "2027-02-01")]
        page.goto(live_server.url + URL + "?" + urlencode(plan))
        assert page.locator("#what-if-membership").is_visible()
        forecast = page.locator("#what-if-forecast")
        assert forecast.locator("li").count() >= 1  # the departures on the plan's day, at least
        assert forecast.locator("li").first.locator("a").is_visible()
        assert page.evaluate(fits) <= 0
        screenshot(page, f"what-if-{language}-{width}-shared-plan")
        forecast.scroll_into_view_if_needed()
        forecast.screenshot(path=str(ARTIFACTS / f"what-if-{language}-{width}-forecast.png"))

        response = page.goto(live_server.url + URL + "?" + urlencode([("day", "2020-01-01"), ("earn_who", "x")]))
        assert response.status == 400 and page.locator("#plan-errors").is_visible()
        assert page.evaluate(fits) <= 0
        screenshot(page, f"what-if-{language}-{width}-bad-plan")
    context.close()
