"""Every signed-in page and the directory on a phone (390 px wide), in English, Simplified and Traditional
Chinese: nothing is wider than the screen, and the Menu button reaches every page of the side menu.
Screenshots land in test-artifacts/phone-<language>-<page>.png."""

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
PHONE = {"width": 390, "height": 844}
LOCALES = {"en": "en-US", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}
PAGES = [
    ("dashboard", "/dashboard/"),
    ("membership", "/dashboard/membership/"),
    ("competencies", "/dashboard/membership/competencies/"),
    ("competency", "/dashboard/membership/competencies/cloud-platform/"),
    ("benefits", "/dashboard/membership/benefits/"),
    ("profile", "/dashboard/profile/"),
    ("people", "/dashboard/people/"),
    ("certifications", "/dashboard/certifications/"),
    ("directory", "/partners/"),
    ("partner", "/partners/1000001/"),
]


@pytest.fixture
def demo():
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())


def overflow(page) -> int:
    """How many pixels the document is wider than the screen (0: it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("language", list(LOCALES))
def test_every_page_fits_a_phone_and_the_menu_reaches_every_page(browser, live_server, demo, language):
    context = browser.new_context(viewport=PHONE, locale=LOCALES[language], is_mobile=True, has_touch=True)
    page = context.new_page()
    with time_machine.travel(NOW, tick=True):
        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "ava.chen@contoso.example")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/")

        too_wide = {}
        for name, path in PAGES:
            page.goto(live_server.url + path)
            assert page.locator("html").get_attribute("lang") == language
            if overflow(page) > 0:
                too_wide[name] = overflow(page)
            screenshot(page, f"phone-{language}-{name}")
        assert too_wide == {}

        # The side menu is folded away on a phone; the Menu button opens it and each entry leads to its page.
        page.goto(live_server.url + "/dashboard/")
        menu = page.locator("#sidenav")
        assert not menu.is_visible()
        links = menu.locator("a")
        targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert {path for _name, path in PAGES if path.startswith("/dashboard/")} - {"/dashboard/membership/competencies/cloud-platform/"} <= set(targets)
        for href in targets:
            page.goto(live_server.url + "/dashboard/")
            page.click(".menu-toggle")
            assert menu.is_visible()
            menu.locator(f'a[href="{href}"]').click()
            page.wait_for_url("**" + href)
        page.goto(live_server.url + "/dashboard/")
        page.click(".menu-toggle")
        screenshot(page, f"phone-{language}-menu-open")
    context.close()
