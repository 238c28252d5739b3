"""An admin buys Silver through the review page, confirms, reads the receipt, then redeems several units of an
offer after a confirmation step: in English, Simplified and Traditional Chinese, at 1280 and 390 px wide.
Screenshots land in test-artifacts/checkout-<language>-<step>-<width>.png."""

import pytest
from django.utils import timezone

from competencies.statuses import statuses_refresh
from memberships.models import Order, Redemption

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

LOCALES = {"en": "en-US", "zh-hans": "zh-CN", "zh-hant": "zh-TW"}
WIDTHS = (1280, 390)


@pytest.fixture
def qualifying(org, admin):
    MembershipPlanFactory(level="silver")
    MembershipPlanFactory(level="gold")
    competency = build_competency(
        "cloud-platform", name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 2, "any_of": ["70-533"]}]],
    )
    EarnedCredentialFactory(employee=admin, credential=CredentialFactory(code="70-533"))
    BenefitFactory(slug="azure-credits-silver", name="Azure credits (Cloud Platform Silver)", membership_level="",
                   competency=competency, level="silver", quantity=12, per_period="month", period_limit=1,
                   description="USD 350 of Azure credit a month for internal use, one redemption a month.")
    BenefitFactory(slug="support-incidents-silver", name="Product support incidents (Silver membership)",
                   membership_level="silver", quantity=10, description="Microsoft product support incidents a year.")
    statuses_refresh(organization_ids=[org.pk], day=timezone.localdate())
    return competency


def shoot(page, language, step):
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, (step, width)
        screenshot(page, f"checkout-{language}-{step}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.parametrize("language", list(LOCALES))
def test_an_admin_reviews_confirms_gets_a_receipt_and_redeems_with_a_quantity(browser, live_server, admin, org,
                                                                             qualifying, language):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=LOCALES[language])
    page = context.new_page()
    page.goto(live_server.url + "/dashboard/membership/")
    page.fill("#id_username", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/membership/")
    assert page.locator("html").get_attribute("lang") == language

    page.locator("#actions form[action$='/membership/buy/'] button").first.click()
    page.wait_for_url("**/dashboard/membership/buy/?level=silver")
    assert "1,670" in page.locator("#review").inner_text()
    assert Order.objects.count() == 0
    shoot(page, language, "review")

    page.locator("form.confirm button[type=submit]").click()
    page.wait_for_url("**/dashboard/membership/orders/*/")
    order = Order.objects.get()
    assert order.reference in page.locator("#receipt").inner_text()
    shoot(page, language, "receipt")

    page.goto(live_server.url + "/dashboard/membership/benefits/")
    page.fill("#q-support-incidents-silver", "3")
    page.locator("tr[data-offer=support-incidents-silver] button").click()
    page.wait_for_url("**/support-incidents-silver/redeem/?quantity=3")
    assert Redemption.objects.count() == 0
    shoot(page, language, "redeem-confirm")

    page.locator("form.confirm button[type=submit]").click()
    page.wait_for_url("**/benefits/redemptions/*/")
    assert Redemption.objects.get().units == 3
    shoot(page, language, "activation-record")

    page.goto(live_server.url + "/dashboard/membership/benefits/")
    page.locator("tr[data-offer=azure-credits-silver] button").click()
    page.locator("form.confirm button[type=submit]").click()
    page.wait_for_url("**/benefits/redemptions/*/")
    page.goto(live_server.url + "/dashboard/membership/benefits/")
    assert "12" in page.locator("tr[data-offer=azure-credits-silver]").inner_text()
    shoot(page, language, "benefits")
    context.close()
