"""The API tokens and webhooks page in a browser, at 1280 and 390 px, in English, Simplified and Traditional Chinese:
an admin creates a token (shown once), registers an endpoint (its secret shown once), and nothing is wider than the
screen. Screenshots land in test-artifacts/api-tokens-<language>-<width>.png."""

import pytest

from competencies.models import Employee

from ..common import PASSWORD
from ..factories import AssociationFactory, EmployeeFactory, OrganizationFactory
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"en": "en-US", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}


@pytest.fixture
def admin_user():
    organization = OrganizationFactory(name="Fabrikam", mpn_id="1000001")
    employee = EmployeeFactory(email="alice@fabrikam.example", name="Alice Admin")
    employee.set_password(PASSWORD)
    employee.save()
    AssociationFactory(employee=employee, organization=organization)
    organization.admins.add(employee)
    return employee


@pytest.mark.parametrize("language", list(LOCALES))
@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_creates_a_token_and_a_webhook_and_the_page_fits(browser, live_server, admin_user, language, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=LOCALES[language])
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", admin_user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")
    page.goto(live_server.url + "/dashboard/api-tokens/")
    page.fill("#token-name", "Reporting")
    page.select_option("#token-scope", "write")
    page.click("form.inline-form button[type=submit]")
    assert page.locator("code.secret").inner_text().startswith("pc_")
    page.fill("#webhook-url", "https://hooks.fabrikam.example/partner-center")
    page.click("form[action$='/webhooks/'] button[type=submit]")
    assert page.locator("code.secret").inner_text().startswith("whsec_")
    screenshot(page, f"api-tokens-{language}-{width}")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert Employee.objects.filter(pk=admin_user.pk).exists()
    context.close()
