"""The at-risk admin follows the banner's link to the competency and finds the activity feed on the dashboard,
in English, Simplified and Traditional Chinese, at 1280 and 390 px. Screenshots: test-artifacts/alerts-*.png."""

import importlib
import io

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from ..common import NOW
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo-partner-2026"
LOCALES = {"en": "en-US", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}
WIDTHS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}


@pytest.fixture
def demo():
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", list(LOCALES))
def test_the_at_risk_admin_follows_the_banner_to_the_competency_and_sees_the_feed(
    browser, live_server, demo, language, width
):
    phone = width < 760
    context = browser.new_context(viewport=WIDTHS[width], locale=LOCALES[language], is_mobile=phone, has_touch=phone)
    page = context.new_page()
    with time_machine.travel(NOW, tick=True):
        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "sam.lee@fabrikam.example")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/")
        assert page.locator("html").get_attribute("lang") == language
        banner = page.locator(".notification-at_risk").first
        assert banner.is_visible()
        assert banner.locator('a[href="/dashboard/people/"]').count() >= 1  # invite someone
        feed = page.locator("#activity + .activity-feed")
        assert feed.is_visible() and feed.locator("li").count() >= 1
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        screenshot(page, f"alerts-{language}-{width}-dashboard")

        link = banner.locator("a.alert-competency").first
        href = link.get_attribute("href")
        assert href.startswith("/dashboard/membership/competencies/")
        link.click()
        page.wait_for_url("**" + href)
        assert page.locator("h1").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        screenshot(page, f"alerts-{language}-{width}-competency")
    context.close()
