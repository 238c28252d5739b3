"""An admin goes from a qualifying competency to buying Silver to being found in the public directory."""

import pytest
from django.test import override_settings
from django.utils import timezone

from competencies.statuses import statuses_refresh

from ..common import PASSWORD
from ..factories import (
    BenefitFactory,
    CredentialFactory,
    EarnedCredentialFactory,
    MembershipPlanFactory,
    build_competency,
)
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def qualifying(org, admin):
    """Cloud Platform at Silver through the admin's own 70-533; the history the directory reads exists."""
    MembershipPlanFactory(level="silver")
    MembershipPlanFactory(level="gold")
    competency = build_competency(
        "cloud-platform",
        name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 2, "any_of": ["70-533"]}]],
    )
    EarnedCredentialFactory(employee=admin, credential=CredentialFactory(code="70-533"))
    BenefitFactory(slug="maps", name="Microsoft Action Pack subscription", price_usd=475, value_usd=20000,
                   membership_level="silver", quantity=None,
                   description="About USD 20,000 worth of internal-use rights a year, for internal use only.")
    BenefitFactory(slug="azure-credits-silver", name="Azure credits", membership_level="", competency=competency,
                   level="silver", quantity=12, description="USD 350 of Azure credit a month for internal use.")
    BenefitFactory(slug="support-incidents-silver", name="Product support incidents", membership_level="silver",
                   quantity=10, description="Microsoft product support incidents a year.")
    org.description = "Azure infrastructure consulting in the DACH region."
    org.country = "Germany"
    org.save()
    statuses_refresh(organization_ids=[org.pk], day=timezone.localdate())
    return competency


@override_settings(REFERRAL_MIN_SECONDS=0)
def test_an_admin_buys_silver_and_the_organization_appears_in_the_directory(page, admin, org, qualifying):
    page.goto(page.base_url + "/partners/")
    assert org.name not in page.locator("#partners").inner_text()

    page.goto(page.base_url + "/dashboard/membership/")
    page.fill("#id_username", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/membership/")
    assert "Cloud Platform (Silver) qualifies for Silver" in page.locator("#eligibility").inner_text()
    screenshot(page, "membership-before-purchase")

    page.click("button:has-text('Buy Silver')")
    page.wait_for_url("**/dashboard/membership/buy/?level=silver")
    page.click("button:has-text('Confirm and pay')")
    page.wait_for_url("**/dashboard/membership/orders/*/")
    assert "Paid USD 1,670" in page.locator(".banner.success").inner_text()
    page.goto(page.base_url + "/dashboard/membership/")
    assert "Silver" in page.locator("#current").inner_text()
    screenshot(page, "membership-silver")

    page.goto(page.base_url + "/dashboard/membership/benefits/")
    page.locator("tr[data-offer=azure-credits-silver] button:has-text('Redeem')").click()
    page.click("button:has-text('Confirm: redeem 1')")
    page.wait_for_url("**/benefits/redemptions/*/")
    assert "1 of 12" in page.locator("main").inner_text()
    screenshot(page, "activation-record")
    page.goto(page.base_url + "/dashboard/membership/benefits/")
    assert "11" in page.locator("tr[data-offer=azure-credits-silver]").inner_text()
    screenshot(page, "benefits")

    page.goto(page.base_url + "/dashboard/profile/")
    page.fill("#id_website", "https://fabrikam.example")
    page.click("button:has-text('Save profile')")
    assert "listed in the partner directory" in page.locator("main").inner_text()
    screenshot(page, "marketing-profile")

    page.goto(page.base_url + "/partners/")
    page.select_option("#id_competency", "cloud-platform")
    page.select_option("#id_country", "Germany")
    page.click("button:has-text('Filter')")
    row = page.locator("#partners tbody tr", has_text=org.name)
    assert "Cloud Platform · Silver" in row.inner_text()
    assert "changes every day" in page.locator("#order-note").inner_text()
    screenshot(page, "directory")

    row.locator("a").first.click()
    page.wait_for_url(f"**/partners/{org.mpn_id}/")
    assert "Silver" in page.locator("#competencies").inner_text()
    page.fill("#id_name", "Carol Customer")
    page.fill("#id_email", "carol@example.com")
    page.fill("#id_need", "We want to move our file servers to Azure.")
    screenshot(page, "partner-profile")
    page.click("button:has-text('Send request')")
    assert "will contact you" in page.locator(".banner.success").inner_text()

    page.goto(page.base_url + "/dashboard/membership/")
    assert "Carol Customer" in page.locator("main").inner_text()
