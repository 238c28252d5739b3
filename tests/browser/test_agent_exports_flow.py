"""An agent downloads an organization's files from its admin page, and several organizations' competencies from
the list (1280 px screenshot of the page with its downloads)."""

import csv
import datetime
import io

import pytest
import time_machine

from .conftest import screenshot
from .test_agent_admin_flow import agent, at_risk, sign_in  # noqa: F401 - the agent, Fabrikam at risk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def downloaded(page, click) -> tuple[str, str]:
    with page.expect_download() as info:
        click()
    download = info.value
    with open(download.path(), encoding="utf-8-sig") as file:
        return download.suggested_filename, file.read()


def test_an_agent_downloads_an_organization_s_files_and_the_selected_organizations_competencies(page, agent, at_risk):
    org, _cloud = at_risk
    with time_machine.travel(datetime.datetime(2026, 11, 20, 10, tzinfo=datetime.UTC)):
        sign_in(page, agent)
        page.goto(page.base_url + f"/admin/competencies/organization/{org.pk}/change/")
        page.wait_for_selector(".organization-exports")
        links = page.locator(".organization-exports a")
        assert links.count() == 5
        screenshot(page, "agent-9-organization-downloads")

        name, text = downloaded(page, lambda: page.click(".organization-exports a:has-text('Download people (CSV)')"))
        assert name == "1000001-people-2026-11-20.csv"
        assert "John Roe" in text and "Jane Doe" not in text  # Jane left for Northwind today

        page.goto(page.base_url + "/admin/competencies/organization/")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "export_competencies")
        name, text = downloaded(page, lambda: page.click("button[name=index]"))
        assert name == "competencies-2026-11-20.csv"
        found = list(csv.DictReader(io.StringIO(text)))
        assert {row["mpn_id"] for row in found} == {"1000001", "2000002"}
