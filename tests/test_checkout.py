"""Checkout: a review page, a confirm with a one-time token (a double submission charges once and says so),
a receipt page and an emailed receipt in the buyer's language."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from memberships.models import Membership, Order, OutboundEmail
from memberships.services import AlreadyDone, PurchaseRefused, membership_buy

from .common import TODAY as D
from .confirming import confirm, token_of
from .factories import MembershipFactory, certified_employee
from .test_membership_views import cloud  # noqa: F401 - the same plans and competency

pytestmark = pytest.mark.usefixtures("frozen")




def test_it_reviews_what_is_bought_before_charging(client, admin, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(admin)
    page = client.get(reverse("dashboard:membership-buy"), {"level": "silver"})
    body = page.content.decode()
    assert page.status_code == 200
    for expected in ["Review your order", "Buy a Silver membership", "USD 1,670", "Nov. 23, 2026 to Nov. 22, 2027",
                     "Simulated card payment", "What it unlocks", "Cloud Platform", "Confirm and pay USD 1,670"]:
        assert expected in body, expected
    assert Order.objects.count() == 0


def test_a_confirm_without_the_review_token_charges_nothing(client, admin, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(admin)
    url = reverse("dashboard:membership-buy")
    silver_token = token_of(client.get(url, {"level": "silver"}))
    for level, token in [("silver", ""), ("silver", "forged"), ("gold", silver_token)]:
        response = client.post(url, {"organization": org.mpn_id, "level": level, "token": token})
        assert response.status_code == 400
        assert "Review the order, then confirm it: nothing was charged." in response.content.decode()
    assert (Order.objects.count(), Membership.objects.count()) == (0, 0)


def test_a_double_submitted_confirm_charges_once_and_says_so(client, admin, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(admin)
    url = reverse("dashboard:membership-buy")
    token = token_of(client.get(url, {"level": "silver"}))
    first = client.post(url, {"organization": org.mpn_id, "level": "silver", "token": token})
    second = client.post(url, {"organization": org.mpn_id, "level": "silver", "token": token}, follow=True)
    order = Order.objects.get()
    assert first.url == reverse("dashboard:order", args=[order.pk])
    assert second.redirect_chain[-1][0] == reverse("dashboard:order", args=[order.pk])
    assert "This order was already placed: it was charged once, not again." in second.content.decode()
    assert (Order.objects.count(), Membership.objects.count(), OutboundEmail.objects.count()) == (1, 1, 1)


def test_the_service_places_one_order_per_token(admin, org, cloud):
    certified_employee(org, "70-533")
    order = membership_buy(organization=org, level="silver", by=admin, day=D, token="n1")
    with pytest.raises(AlreadyDone) as again:
        membership_buy(organization=org, level="silver", by=admin, day=D, token="n1")
    assert again.value.done == order and Order.objects.count() == 1


def test_a_price_changed_since_the_review_is_refused(admin, org, cloud):
    certified_employee(org, "70-533")
    with pytest.raises(PurchaseRefused, match="The price changed since you reviewed the order"):
        membership_buy(organization=org, level="silver", by=admin, day=D, token="n2", reviewed_price=Decimal("1000"))
    assert Order.objects.count() == 0


def test_the_receipt_page_shows_number_date_amount_and_reference(client, admin, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(admin)
    response = confirm(client, reverse("dashboard:membership-buy"), {"organization": org.mpn_id, "level": "silver"},
                       {"level": "silver"}, follow=True)
    order = Order.objects.get()
    body = response.content.decode()
    for expected in [f"Receipt for order {order.pk}", "Order number", "Nov. 23, 2026", "USD 1,670", order.reference,
                     f"This receipt was also emailed to {admin.email}"]:
        assert expected in body, expected


def test_the_receipt_is_emailed_to_the_buyer_in_their_language(admin, org, cloud):
    admin.language = "zh-hans"
    admin.save(update_fields=["language"])
    certified_employee(org, "70-533")
    order = membership_buy(organization=org, level="silver", by=admin, day=D, token="n3")
    email = OutboundEmail.objects.get(key=f"receipt:{order.pk}")
    assert (email.to_email, email.language) == (admin.email, "zh-hans")
    assert order.reference in email.body_text and "1,670" in email.body_text
    assert "收据" in email.subject and f"/dashboard/membership/orders/{order.pk}/" in email.body_text


def test_a_declined_payment_sends_no_receipt(admin, org, cloud):
    from memberships.payments import SimulatedProvider

    certified_employee(org, "70-533")
    order = membership_buy(organization=org, level="silver", by=admin, day=D, provider=SimulatedProvider(decline=True))
    assert order.status == Order.Status.FAILED and OutboundEmail.objects.count() == 0


def test_upgrade_renew_and_maps_go_through_the_review(client, admin, org, cloud):
    from .factories import BenefitFactory

    BenefitFactory(slug="maps", name="Microsoft Action Pack subscription", price_usd=475, value_usd=20000,
                   membership_level="silver", quantity=None)
    certified_employee(org, "70-533")
    certified_employee(org, "70-533")
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2025, 12, 1))
    client.force_login(admin)
    review = client.get(reverse("dashboard:membership-upgrade")).content.decode()
    assert "Upgrade to Gold" in review and "USD 3,547.50" in review and "Your Silver term ends on the day" in review
    assert "Renew at Silver" in client.get(reverse("dashboard:membership-renew")).content.decode()
    maps = client.get(reverse("dashboard:maps-buy")).content.decode()
    assert "About USD 20,000 of internal-use rights a year." in maps and "Confirm and pay USD 475" in maps
    confirm(client, reverse("dashboard:maps-buy"), {"organization": org.mpn_id})
    confirm(client, reverse("dashboard:membership-upgrade"), {"organization": org.mpn_id})
    assert sorted(Order.objects.values_list("kind", flat=True)) == ["maps", "upgrade"]


def test_a_teammate_reviews_but_cannot_confirm(client, teammate, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(teammate)
    body = client.get(reverse("dashboard:membership-buy"), {"level": "silver"}).content.decode()
    assert "Only your organization's admins can buy" in body and 'name="token"' not in body
    assert client.post(reverse("dashboard:membership-buy"), {"organization": org.mpn_id, "level": "silver",
                                                             "token": "x"}).status_code == 403


def test_a_review_for_an_unknown_level_says_to_choose(client, admin, org, cloud):
    client.force_login(admin)
    response = client.get(reverse("dashboard:membership-buy"), {"level": "platinum"})
    assert response.status_code == 400 and "Choose Silver or Gold." in response.content.decode()
