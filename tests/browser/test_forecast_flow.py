"""The forecast as a reader sees it, at 1280 and 390 px, in English and both Chinese scripts: the dashboard's
coming changes, the competency page's chart and coming year, the membership page's renewal outlook. Nothing
wider than the screen, the chart drawn server-side. Screenshots: test-artifacts/forecast-*.png."""

import datetime
import importlib
import io

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from competencies.forecast_store import forecast_refresh
from competencies.models import EarnedCredential, ForecastChange, Organization

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOW = datetime.datetime(2026, 11, 23, 12, tzinfo=datetime.UTC)
PASSWORD = "demo-partner-2026"
LOCALES = {"en": "en-US", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}
PAGES = [
    ("dashboard", "/dashboard/", "#forecast"),
    ("competency", "/dashboard/membership/competencies/cloud-platform/", "#level-chart svg"),
    ("membership", "/dashboard/membership/", "#renewal-outlook"),
]


@pytest.fixture
def demo():
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())
    # Something to foresee: the certifications of Contoso's people expire in the spring.
    contoso = Organization.objects.get(mpn_id="1000001")
    EarnedCredential.objects.filter(employee__associations__organization=contoso).update(
        expires_on=datetime.date(2027, 3, 1)
    )
    forecast_refresh(organization_ids=[contoso.pk], day=NOW.date())
    assert ForecastChange.objects.filter(organization=contoso).exists()


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("language", list(LOCALES))
def test_the_forecast_reads_well_on_a_desk_and_a_phone(browser, live_server, demo, language, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=LOCALES[language])
    page = context.new_page()
    with time_machine.travel(NOW, tick=True):
        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "ava.chen@contoso.example")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/")
        for name, path, shown in PAGES:
            page.goto(live_server.url + path)
            assert page.locator(shown).first.is_visible(), name
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, name
            screenshot(page, f"forecast-{language}-{width}-{name}")
    context.close()
