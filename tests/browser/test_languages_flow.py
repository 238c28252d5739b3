"""The main pages in English, Simplified and Traditional Chinese, in a real browser, with screenshots.

The browser's language (Playwright's `locale`, sent as Accept-Language)
chooses the page's language; the switcher changes it; signing in keeps it
as the employee's preference. Screenshots land in
test-artifacts/lang-<language>-<page>.png for a person to look at.
"""

import importlib
import io

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from competencies.models import Employee, Override

from ..common import NOW
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo-partner-2026"
# browser locale, the page's <html lang>, and words each page must show in that language
LANGUAGES = {
    "en": ("en-US", {"dashboard": "put your membership renewal eligibility at risk", "competencies": "Competencies",
                     "membership": "Membership fees", "benefits": "Offers", "directory": "Find a partner",
                     "admin": "Achievement override", "login": "Sign in to Partner Center"}),
    "zh-hans": ("zh-CN", {"dashboard": "你的能力成就的最新变化已使你的成员身份续订资格面临风险。", "competencies": "能力",
                          "membership": "成员身份费用", "benefits": "权益", "directory": "查找合作伙伴",
                          "admin": "成就替代", "login": "登录合作伙伴中心"}),
    "zh-hant": ("zh-TW", {"dashboard": "您的專長認證成就最近的變更，已經對您的會員續約資格產生風險。",
                          "competencies": "專長認證", "membership": "會員資格費用", "benefits": "權益",
                          "directory": "尋找合作夥伴", "admin": "成就覆寫", "login": "登入合作夥伴中心"}),
}


@pytest.fixture
def demo():
    # A transactional test database is flushed between tests: the agent group of migration 0003 comes back first.
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())


def sign_in(page, email):
    page.goto(page.base_url + "/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_main_pages_in_each_language(browser, live_server, demo, language):
    locale, words = LANGUAGES[language]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = context.new_page()
    page.base_url = live_server.url
    base = live_server.url

    def shot(name, expected):
        assert page.locator("html").get_attribute("lang") == language, name
        assert expected in page.locator("body").inner_text(), name
        screenshot(page, f"lang-{language}-{name}")

    def visit(*pages):
        for path, name, word in pages:
            page.goto(base + path)
            shot(name, words[word])

    with time_machine.travel(NOW, tick=True):
        visit(("/accounts/login/", "login", "login"), ("/partners/", "directory", "directory"),
              ("/partners/1000001/", "partner-profile", "directory"))

        sign_in(page, "sam.lee@fabrikam.example")
        page.wait_for_url("**/dashboard/")
        shot("dashboard-at-risk", words["dashboard"])
        visit(("/dashboard/membership/competencies/", "competencies", "competencies"),
              ("/dashboard/membership/competencies/cloud-platform/", "competency-detail", "competencies"),
              ("/dashboard/certifications/", "certifications", "competencies"),
              ("/dashboard/profile/", "profile", "directory" if language == "en" else "competencies"))
        # signing in saves nothing: the pages followed the browser, and the employee still has no preference
        assert Employee.objects.get(email="sam.lee@fabrikam.example").language == ""

        context.clear_cookies()
        sign_in(page, "ava.chen@contoso.example")
        page.wait_for_url("**/dashboard/")
        visit(("/dashboard/membership/", "membership", "membership"),
              ("/dashboard/membership/benefits/", "benefits", "benefits"))

        context.clear_cookies()
        sign_in(page, "agent@partnercenter.example")
        override = Override.objects.get(organization__mpn_id="1000003")
        visit((f"/admin/competencies/override/{override.pk}/change/", "admin-override", "admin"))
    context.close()


def test_the_switcher_changes_the_language_and_a_signed_in_choice_is_saved(browser, live_server, demo):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.base_url = live_server.url
    with time_machine.travel(NOW, tick=True):
        page.goto(live_server.url + "/partners/")
        page.select_option("#language-select", "zh-hant")
        page.wait_for_selector("html[lang=zh-hant]")
        assert "尋找合作夥伴" in page.locator("h1").inner_text()

        page.select_option("#language-select", "en")
        page.wait_for_selector("html[lang=en]")
        sign_in(page, "zoe.martin@tailspin.example")
        page.wait_for_url("**/dashboard/")
        page.select_option("#language-select", "zh-hans")
        page.wait_for_selector("html[lang=zh-hans]")
        assert page.locator("h1").inner_text() == "仪表板"
        screenshot(page, "lang-switched-zh-hans-dashboard")
        assert Employee.objects.get(email="zoe.martin@tailspin.example").language == "zh-hans"
    context.close()
