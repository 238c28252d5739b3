import pytest

from ..common import PASSWORD
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_employee_signs_in_and_sees_the_dashboard(page, admin, org):
    page.goto(page.base_url + "/dashboard/")
    page.fill("#id_username", admin.email)
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    assert "Please enter a correct email and password" in page.content()
    screenshot(page, "sign-in-error")

    page.fill("#id_username", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert org.name in page.locator(".topbar").inner_text()
    screenshot(page, "dashboard")

    page.click("text=Sign out")
    page.wait_for_url("**/accounts/login/")
