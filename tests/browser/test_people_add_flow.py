"""An admin adds people from a file (preview, then confirm), searches People, links an MCP ID; the directory says
when a filter is invalid. At 1280 and 390 px in the three languages: nothing wider than the screen.
Screenshots: test-artifacts/add-people-<language>-<width>-<step>.png.

(Named to run after test_competencies_flow.py: a transactional test flushes the agent group the migrations made.)"""

import importlib
import io

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from competencies.models import Employee

from ..common import NOW
from .conftest import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo-partner-2026"
LOCALES = {"en": "en-US", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}
SIZES = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}


@pytest.fixture
def demo():
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())


def sign_in(page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", "ava.chen@contoso.example")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("language", list(LOCALES))
@pytest.mark.parametrize("width", list(SIZES))
def test_an_admin_adds_people_from_a_file_and_finds_them(browser, live_server, demo, language, width):
    context = browser.new_context(viewport=SIZES[width], locale=LOCALES[language], is_mobile=width == "390")
    page = context.new_page()
    name = f"add-people-{language}-{width}"
    too_wide = {}

    def shot(step):
        if overflow(page) > 0:
            too_wide[step] = overflow(page)
        screenshot(page, f"{name}-{step}")

    with time_machine.travel(NOW, tick=True):
        sign_in(page, live_server.url)
        page.goto(live_server.url + "/dashboard/people/")
        page.click("#add-people")
        page.wait_for_url("**/dashboard/people/add/")
        bad = ARTIFACTS / f"{name}-bad.csv"
        bad.write_text("name,email\nMia Wu,mia@contoso.example\nMia Again,MIA@contoso.example\nNo Email\n")
        page.set_input_files("#add-file input[type=file]", str(bad))
        page.click("#add-file button[type=submit]")
        page.wait_for_selector("#add-errors")
        shot("errors")

        good = ARTIFACTS / f"{name}-good.csv"
        good.write_text(f"name,email\nMia Wu,mia.{language}.{width}@contoso.example\n"
                        f"Quinn Zephyr,quinn.{language}.{width}@contoso.example\n")
        page.set_input_files("#add-file input[type=file]", str(good))
        page.click("#add-file button[type=submit]")
        page.wait_for_selector("#preview")
        shot("preview")
        page.click("#preview button[type=submit]")
        page.wait_for_url("**/dashboard/people/")
        assert Employee.objects.filter(email=f"quinn.{language}.{width}@contoso.example").exists()

        page.fill("#people-q", "zephyr")
        page.click(".people-search button[type=submit]")
        page.wait_for_selector("#people-found")
        assert page.locator("table.people tbody tr").count() == 1
        shot("people-search")

        page.goto(live_server.url + "/dashboard/certifications/")
        page.fill("#id_mcp_id", "9876543")
        page.click("#certification-profile button[type=submit]")
        page.wait_for_url("**/dashboard/certifications/")
        shot("certifications")

        page.goto(live_server.url + "/partners/?q=contoso&level=platinum")
        page.wait_for_selector("#filter-errors")
        shot("directory")
    context.close()
    assert too_wide == {}
