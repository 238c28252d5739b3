"""The membership page: status, renewal eligibility in plain words, and the admins' actions."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from memberships.models import Membership, Order
from memberships.services import benefit_redeem

from .common import TODAY as D
from .common import cloud_platform
from .confirming import confirm
from .factories import (
    BenefitFactory,
    MembershipFactory,
    MembershipPlanFactory,
    ReferralFactory,
    certified_employee,
)

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def cloud(db):
    MembershipPlanFactory(level="silver")
    MembershipPlanFactory(level="gold")
    return cloud_platform(["70-533"])


def counts():
    return Order.objects.count(), Membership.objects.count()


def test_it_shows_the_level_term_and_anniversary(client, teammate, org, cloud):
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 3, 1))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:membership")).content.decode()
    assert "Silver</span> membership" in body
    assert "March 1, 2026 to Feb. 28, 2027" in body
    assert "Anniversary" in body


def test_it_says_which_competency_qualifies_the_renewal(client, teammate, org, cloud):
    certified_employee(org, "70-533")
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 3, 1))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:membership")).content.decode()
    assert "You can renew from Dec. 1, 2026" in body and "until March 30, 2027" in body
    assert "Cloud Platform (Silver) qualifies for Silver" in body


def test_it_says_what_is_missing_for_the_renewal(client, teammate, org, cloud):
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 3, 1))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:membership")).content.decode()
    assert "Does not qualify today" in body
    assert "No competency is at Silver or above" in body and "The closest is Cloud Platform: 1 more person" in body


def test_it_shows_the_upgrade_price(client, admin, org, cloud):
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 3, 1))
    client.force_login(admin)
    assert "USD 3,547.50 instead of USD 4,730" in client.get(reverse("dashboard:membership")).content.decode()


def test_an_admin_buys_silver(client, admin, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(admin)
    url = reverse("dashboard:membership-buy")
    response = confirm(client, url, {"organization": org.mpn_id, "level": "silver"}, {"level": "silver"})
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == reverse("dashboard:order", args=[order.pk])
    m = Membership.objects.get()
    assert (m.organization, m.level, m.starts_on, m.ends_on) == (org, "silver", D, datetime.date(2027, 11, 23))
    body = client.get(response.url).content.decode()
    assert "Paid USD 1,670" in body and "your Silver membership runs from Nov. 23, 2026 to Nov. 22, 2027" in body


def test_a_purchase_without_eligibility_is_refused_with_the_reason(client, admin, org, cloud):
    client.force_login(admin)
    response = client.post(reverse("dashboard:membership-buy"), {"organization": org.mpn_id, "level": "silver"})
    assert response.status_code == 400
    assert "You cannot buy Silver yet. No competency is at Silver or above" in response.content.decode()
    assert counts() == (0, 0)


def test_a_renewal_outside_the_window_is_refused_with_the_reason(client, admin, org, cloud):
    certified_employee(org, "70-533")
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 6, 1))
    client.force_login(admin)
    response = client.post(reverse("dashboard:membership-renew"), {"organization": org.mpn_id})
    assert response.status_code == 400
    assert "Renewal opens on March 3, 2027, 90 days before the anniversary (June 1, 2027)" in response.content.decode()
    assert counts() == (0, 1)


def test_an_admin_renews_in_the_window(client, admin, org, cloud):
    certified_employee(org, "70-533")
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2025, 12, 1))
    client.force_login(admin)
    url = reverse("dashboard:membership-renew")
    response = confirm(client, url, {"organization": org.mpn_id, "level": "silver"}, {"level": "silver"})
    assert response.status_code == 302
    renewed = Membership.objects.latest("starts_on")
    assert (renewed.starts_on, renewed.ends_on) == (datetime.date(2026, 12, 1), datetime.date(2027, 12, 1))


def test_an_admin_upgrades(client, admin, org, cloud):
    certified_employee(org, "70-533")
    certified_employee(org, "70-533")
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 3, 1))
    client.force_login(admin)
    response = confirm(client, reverse("dashboard:membership-upgrade"), {"organization": org.mpn_id}, follow=True)
    assert "Paid USD 3,547.50" in response.content.decode()
    assert Membership.objects.get(level="gold").starts_on == D


def test_a_teammate_sees_no_action_and_gets_403(client, teammate, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(teammate)
    body = client.get(reverse("dashboard:membership")).content.decode()
    assert "Only your organization's admins can buy" in body and 'type="submit" class="btn">Buy Silver' not in body
    for name, data in [("membership-buy", {"level": "silver"}), ("membership-upgrade", {}), ("membership-renew", {})]:
        assert client.post(reverse(f"dashboard:{name}"), {"organization": org.mpn_id, **data}).status_code == 403
    assert counts() == (0, 0)


def test_another_organizations_id_in_the_form_gets_404(client, admin, org, other_org, cloud):
    certified_employee(other_org, "70-533")
    certified_employee(org, "70-533")
    client.force_login(admin)
    response = client.post(reverse("dashboard:membership-buy"), {"organization": other_org.mpn_id, "level": "silver"})
    assert response.status_code == 404
    assert client.post(reverse("dashboard:membership-buy"), {"level": "silver"}).status_code == 404
    assert counts() == (0, 0)


def test_another_organizations_order_gets_404(client, admin, outsider, org, other_org, cloud):
    certified_employee(other_org, "70-533")
    from memberships.services import membership_buy

    theirs = membership_buy(organization=other_org, level="silver", by=outsider, day=D)
    client.force_login(admin)
    assert client.get(reverse("dashboard:order", args=[theirs.pk])).status_code == 404
    client.force_login(outsider)
    assert "SIM-" in client.get(reverse("dashboard:order", args=[theirs.pk])).content.decode()


def test_review_pages_charge_nothing(client, admin, org, cloud):
    certified_employee(org, "70-533")
    client.force_login(admin)
    for name, query in [("membership-buy", {"level": "silver"}), ("membership-upgrade", {}), ("membership-renew", {})]:
        assert client.get(reverse(f"dashboard:{name}"), query).status_code in (200, 400)
    assert counts() == (0, 0)


def test_actions_need_a_sign_in(client, org):
    response = client.post(reverse("dashboard:membership-buy"), {"organization": org.mpn_id, "level": "silver"})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_actions_check_the_csrf_token(admin, org, cloud):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    certified_employee(org, "70-533")
    assert client.post(reverse("dashboard:membership-buy"), {"organization": org.mpn_id, "level": "silver"}).status_code == 403
    assert counts() == (0, 0)


def test_the_grace_is_explained(client, teammate, org, cloud):
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2025, 11, 1))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:membership")).content.decode()
    assert "Your Silver term ended on Nov. 1, 2026. Benefits continue until Nov. 30, 2026" in body


def test_referrals_show_on_the_membership_page(client, teammate, org, other_org):
    ReferralFactory(organization=org, name="Carol Customer", email="carol@example.com", need="Azure migration")
    ReferralFactory(organization=other_org, name="Someone Else", email="else@example.com", need="Other")
    client.force_login(teammate)
    body = client.get(reverse("dashboard:membership")).content.decode()
    assert "Carol Customer" in body and "Azure migration" in body
    assert "Someone Else" not in body


def queries_of(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def add_rows(org, admin, count):
    """`count` more of every kind of row the membership pages list: people, referrals, offers and redemptions."""
    for n in range(count):
        certified_employee(org, "70-533")
        ReferralFactory(organization=org, name=f"Customer {n}")
        benefit = BenefitFactory(membership_level="silver", quantity=5)
        benefit_redeem(organization=org, benefit=benefit, by=admin, day=D)


@pytest.mark.parametrize("page", ["dashboard:membership", "dashboard:benefits"])
def test_the_pages_cost_the_same_queries_for_one_row_or_forty(client, admin, org, cloud, page):
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 3, 1))
    add_rows(org, admin, 1)
    client.force_login(admin)
    client.get(reverse(page))  # the session and the catalog snapshot are read once per process
    few = queries_of(client, reverse(page))
    add_rows(org, admin, 39)
    assert queries_of(client, reverse(page)) == few <= 30
