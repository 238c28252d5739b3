"""Benefits: entitlements by membership level and competency × level, redemptions within quantity, MAPS."""

import datetime
import threading

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse

from memberships.benefits import entitlements
from memberships.models import BenefitAllowance, BenefitSubscription, Order, Redemption
from memberships.services import RedemptionRefused, benefit_redeem

from .common import DAY, NOW
from .common import TODAY as D
from .confirming import confirm
from .factories import (
    BenefitFactory,
    CompetencyFactory,
    MembershipFactory,
    MembershipPlanFactory,
    OrganizationFactory,
    StatusChangeFactory,
)

TERM_START = datetime.date(2026, 7, 1)


@pytest.fixture
def catalog(db):
    cloud = CompetencyFactory(slug="cloud-platform", name="Cloud Platform")
    return {
        "cloud": cloud,
        "support": BenefitFactory(slug="support-silver", name="Support incidents", membership_level="silver", quantity=2),
        "advisory": BenefitFactory(slug="advisory-gold", name="Advisory hours", membership_level="gold", quantity=5),
        "credits-silver": BenefitFactory(slug="credits-silver", name="Azure credits", membership_level="",
                                         competency=cloud, level="silver", quantity=3),
        "credits-gold": BenefitFactory(slug="credits-gold", name="More Azure credits", membership_level="",
                                       competency=cloud, level="gold", quantity=12),
        "maps": BenefitFactory(slug="maps", name="Microsoft Action Pack subscription", price_usd=475, value_usd=20000,
                               membership_level="silver", quantity=None),
    }


def achieved(org, competency, level):
    StatusChangeFactory(organization=org, competency=competency, day=datetime.date(2026, 1, 1), new_evaluated=level)


def offers(org, day=D):
    return {o.benefit.slug: o.quantity for o in entitlements(org, day=day).offers}


def test_a_silver_member_is_entitled_to_silver_offers_and_its_competencies_at_silver(org, catalog):
    achieved(org, catalog["cloud"], "gold")
    MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    # A Silver member shows its Gold competency as Silver, so it gets the Silver competency offers.
    assert offers(org) == {"support-silver": 2, "credits-silver": 3, "maps": None}


def test_a_gold_member_is_entitled_to_every_level_below_too(org, catalog):
    achieved(org, catalog["cloud"], "gold")
    MembershipFactory(organization=org, level="gold", purchased_on=TERM_START)
    assert offers(org) == {"support-silver": 2, "advisory-gold": 5, "credits-silver": 3, "credits-gold": 12, "maps": None}


def test_without_a_membership_there_is_no_offer(org, catalog):
    achieved(org, catalog["cloud"], "gold")
    assert offers(org) == {}


def test_benefits_continue_during_the_grace_and_stop_when_it_ends(org, catalog):
    achieved(org, catalog["cloud"], "silver")
    m = MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2025, 11, 1))
    assert "credits-silver" in offers(org, m.ends_on + 29 * DAY)
    assert entitlements(org, day=m.ends_on + 29 * DAY).in_grace
    assert offers(org, m.ends_on + 30 * DAY) == {}


def test_a_redemption_gives_an_activation_code_and_counts_against_the_quantity(org, admin, catalog):
    term = MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    redemption = benefit_redeem(organization=org, benefit=catalog["support"], by=admin, day=D)
    assert len(redemption.code) == 19 and redemption.redeemed_by == admin and redemption.day == D
    allowance = BenefitAllowance.objects.get()
    assert (allowance.membership, allowance.quantity, allowance.redeemed) == (term, 2, 1)
    assert entitlements(org, day=D).offer(catalog["support"].pk).remaining == 1


def test_a_redemption_past_the_quantity_is_refused_and_changes_nothing(org, admin, catalog):
    MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    for _ in range(2):
        benefit_redeem(organization=org, benefit=catalog["support"], by=admin, day=D)
    with pytest.raises(RedemptionRefused, match="All 2 of Support incidents have been redeemed this term"):
        benefit_redeem(organization=org, benefit=catalog["support"], by=admin, day=D)
    assert Redemption.objects.count() == 2
    assert BenefitAllowance.objects.get().redeemed == 2


def test_the_quantity_starts_again_with_the_next_term(org, admin, catalog):
    first = MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2025, 7, 1))
    MembershipFactory(organization=org, level="silver", purchased_on=first.ends_on, source="renewal")
    for _ in range(2):
        benefit_redeem(organization=org, benefit=catalog["support"], by=admin, day=first.ends_on - DAY)
    assert benefit_redeem(organization=org, benefit=catalog["support"], by=admin, day=first.ends_on).allowance.redeemed == 1


def test_an_offer_the_organization_is_not_entitled_to_is_refused(org, admin, catalog):
    MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    with pytest.raises(RedemptionRefused, match="not entitled"):
        benefit_redeem(organization=org, benefit=catalog["advisory"], by=admin, day=D)
    with pytest.raises(RedemptionRefused, match="bought, not redeemed"):
        benefit_redeem(organization=org, benefit=catalog["maps"], by=admin, day=D)
    assert (Redemption.objects.count(), BenefitAllowance.objects.count()) == (0, 0)


def test_the_database_refuses_an_allowance_past_its_quantity(org, catalog):
    term = MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    allowance = BenefitAllowance.objects.create(organization=org, benefit=catalog["support"], membership=term,
                                                quantity=2, redeemed=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        BenefitAllowance.objects.filter(pk=allowance.pk).update(redeemed=F("redeemed") + 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL; SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_never_exceed_the_quantity():
    org = OrganizationFactory()
    benefit = BenefitFactory(slug="support-silver", membership_level="silver", quantity=3)
    MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    barrier = threading.Barrier(8)
    redeemed, refused, errors = [], [], []

    def redeem():
        try:
            barrier.wait()
            redeemed.append(benefit_redeem(organization=org, benefit=benefit, by=None, day=D).code)
        except RedemptionRefused as exc:
            refused.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert (len(redeemed), len(refused)) == (3, 5)
    assert Redemption.objects.count() == 3
    assert BenefitAllowance.objects.get().redeemed == 3


# --- the page ------------------------------------------------------------------


@pytest.fixture
def silver_member(org, catalog):
    achieved(org, catalog["cloud"], "silver")
    MembershipPlanFactory(level="silver")
    return MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)


@time_machine.travel(NOW, tick=False)
def test_the_page_lists_maps_and_each_offer_with_its_quantity(client, admin, silver_member, catalog):
    client.force_login(admin)
    body = client.get(reverse("dashboard:benefits")).content.decode()
    assert "USD 475 a year for about USD 20,000 of internal-use rights" in body
    assert 'data-offer="support-silver"' in body and 'data-offer="credits-silver"' in body
    assert 'data-offer="advisory-gold"' not in body
    assert "Redeem" in body and "Subscribe for USD 475" in body


@time_machine.travel(NOW, tick=False)
def test_an_admin_redeems_and_sees_the_activation_record(client, admin, silver_member, catalog):
    client.force_login(admin)
    url = reverse("dashboard:redeem", args=["support-silver"])
    response = confirm(client, url, {"organization": admin_org(admin), "quantity": 1}, {"quantity": 1})
    redemption = Redemption.objects.get()
    assert response.status_code == 302 and response.url == reverse("dashboard:redemption", args=[redemption.pk])
    page = client.get(response.url).content.decode()
    assert redemption.code in page and "1 of 2" in page


@time_machine.travel(NOW, tick=False)
def test_a_redemption_past_the_quantity_is_refused_on_the_page(client, admin, silver_member, catalog):
    client.force_login(admin)
    url = reverse("dashboard:redeem", args=["support-silver"])
    for _ in range(2):
        confirm(client, url, {"organization": admin_org(admin), "quantity": 1}, {"quantity": 1})
    assert "Nothing is left to redeem this term" in client.get(url, {"quantity": 1}).content.decode()
    response = client.post(url, {"organization": admin_org(admin), "quantity": 1, "token": "forged"})
    assert response.status_code == 400
    with pytest.raises(RedemptionRefused) as refused:
        benefit_redeem(organization=admin.administered_organizations.get(), benefit=catalog["support"], by=admin, day=D)
    assert "All 2 of Support incidents have been redeemed this term" in str(refused.value)
    assert Redemption.objects.count() == 2


@time_machine.travel(NOW, tick=False)
def test_a_teammate_cannot_redeem_or_buy_maps(client, teammate, silver_member, catalog, org):
    client.force_login(teammate)
    assert client.post(reverse("dashboard:redeem", args=["support-silver"]), {"organization": org.mpn_id}).status_code == 403
    assert client.post(reverse("dashboard:maps-buy"), {"organization": org.mpn_id}).status_code == 403
    assert (Redemption.objects.count(), Order.objects.count()) == (0, 0)
    assert "Redeem</button>" not in client.get(reverse("dashboard:benefits")).content.decode()


@time_machine.travel(NOW, tick=False)
def test_another_organizations_ids_get_404(client, admin, silver_member, catalog, outsider, other_org):
    client.force_login(admin)
    assert client.post(reverse("dashboard:redeem", args=["support-silver"]), {"organization": other_org.mpn_id}).status_code == 404
    assert client.post(reverse("dashboard:maps-buy"), {"organization": other_org.mpn_id}).status_code == 404
    theirs = MembershipFactory(organization=other_org, level="silver", purchased_on=TERM_START)
    client.force_login(outsider)
    benefit_redeem(organization=other_org, benefit=catalog["support"], by=outsider, day=D)
    assert theirs.allowances.count() == 1
    client.force_login(admin)
    assert client.get(reverse("dashboard:redemption", args=[Redemption.objects.get().pk])).status_code == 404


@time_machine.travel(NOW, tick=False)
def test_an_admin_subscribes_to_maps(client, admin, silver_member, catalog):
    client.force_login(admin)
    response = confirm(client, reverse("dashboard:maps-buy"), {"organization": admin_org(admin)}, follow=True)
    assert "Paid USD 475" in response.content.decode()
    sub = BenefitSubscription.objects.get()
    assert (sub.starts_on, sub.ends_on) == (D, datetime.date(2027, 11, 23))
    assert "Receipt for order" in response.content.decode()
    assert "Subscribed" in client.get(reverse("dashboard:benefits")).content.decode()


def test_maps_refused_on_the_page_without_a_membership(client, admin, catalog):
    client.force_login(admin)
    response = client.post(reverse("dashboard:maps-buy"), {"organization": admin_org(admin)})
    assert response.status_code == 400
    assert "comes with a Silver membership or above" in response.content.decode()
    assert Order.objects.count() == 0


@time_machine.travel(NOW, tick=False)
def test_it_asks_for_confirmation_before_redeeming(client, admin, silver_member, catalog):
    client.force_login(admin)
    page = client.get(reverse("dashboard:redeem", args=["support-silver"]), {"quantity": 2})
    assert page.status_code == 200 and "Redeem 2 × Support incidents? This cannot be undone." in page.content.decode()
    assert Redemption.objects.count() == 0


def admin_org(admin):
    return admin.administered_organizations.get().mpn_id
