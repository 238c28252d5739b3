"""Benefit limits: a per-period limit ("one a month", "per term") enforced by the database like the quantity,
several units redeemed at once, bad quantities refused with a clear message and nothing changed."""

import datetime
import threading

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse

from competencies.catalog import load_catalog
from competencies.catalog_file import read_catalog_file
from memberships.benefits import entitlements
from memberships.models import Benefit, BenefitAllowance, BenefitPeriodUse, Redemption
from memberships.services import AlreadyDone, RedemptionRefused, benefit_redeem

from .common import NOW
from .common import TODAY as D
from .confirming import confirm, token_of
from .factories import BenefitFactory, MembershipFactory, OrganizationFactory

TERM_START = datetime.date(2026, 7, 15)


@pytest.fixture
def monthly(db):
    return BenefitFactory(slug="credits", name="Azure credits (Silver membership)", membership_level="silver",
                          quantity=12, per_period="month", period_limit=1)


@pytest.fixture
def hours(db):
    return BenefitFactory(slug="hours", name="Advisory hours", membership_level="silver", quantity=50)


@pytest.fixture
def term(org):
    return MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)


def used(org):
    return (Redemption.objects.count(), sum(BenefitAllowance.objects.values_list("redeemed", flat=True)),
            sum(BenefitPeriodUse.objects.values_list("used", flat=True)))


def test_one_a_month_refuses_the_second_in_the_same_month_and_says_when(org, admin, term, monthly):
    benefit_redeem(organization=org, benefit=monthly, by=admin, day=D)
    with pytest.raises(RedemptionRefused, match="at most 1 a month, 0 left this month; the next month starts on Dec. 15, 2026"):
        benefit_redeem(organization=org, benefit=monthly, by=admin, day=D + datetime.timedelta(days=1))
    assert used(org) == (1, 1, 1)
    offer = entitlements(org, day=D).offer(monthly.pk)
    assert (offer.remaining, offer.period_remaining, offer.redeemable, offer.next_period_on) == (
        11, 0, False, datetime.date(2026, 12, 15))


def test_the_months_count_from_the_term_start(org, admin, term, monthly):
    benefit_redeem(organization=org, benefit=monthly, by=admin, day=datetime.date(2026, 12, 14))
    assert benefit_redeem(organization=org, benefit=monthly, by=admin, day=datetime.date(2026, 12, 15)).units == 1
    assert sorted(BenefitPeriodUse.objects.values_list("starts_on", "ends_on")) == [
        (datetime.date(2026, 11, 15), datetime.date(2026, 12, 15)),
        (datetime.date(2026, 12, 15), datetime.date(2027, 1, 15)),
    ]


def test_a_per_term_limit_counts_over_the_whole_term(org, admin, term):
    yearly = BenefitFactory(slug="yearly", name="Workshop", membership_level="silver", quantity=5, per_period="term",
                            period_limit=2)
    benefit_redeem(organization=org, benefit=yearly, by=admin, day=D, units=2)
    with pytest.raises(RedemptionRefused, match="at most 2 a term, 0 left"):
        benefit_redeem(organization=org, benefit=yearly, by=admin, day=D + datetime.timedelta(days=60))


def test_several_units_are_redeemed_at_once(org, admin, term, hours):
    redemption = benefit_redeem(organization=org, benefit=hours, by=admin, day=D, units=20)
    assert (redemption.units, redemption.allowance.redeemed) == (20, 20)
    with pytest.raises(RedemptionRefused, match="Only 30 of Advisory hours remain this term"):
        benefit_redeem(organization=org, benefit=hours, by=admin, day=D, units=31)
    assert used(org) == (1, 20, 0)


@pytest.mark.parametrize("units, words", [
    (0, "Enter a quantity of at least 1."), (-1, "Enter a quantity of at least 1."),
    (10**9, "Only 50 of Advisory hours remain this term"), ("3", "Enter the quantity as a whole number."),
    (True, "Enter the quantity as a whole number."),
])
def test_a_bad_quantity_is_refused_by_the_service_and_changes_nothing(org, admin, term, hours, units, words):
    with pytest.raises(RedemptionRefused, match=words):
        benefit_redeem(organization=org, benefit=hours, by=admin, day=D, units=units)
    assert used(org) == (0, 0, 0)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("quantity, words", [
    ("0", "Enter a quantity of at least 1."), ("-1", "Enter a quantity of at least 1."),
    ("1000000000", "That is more than any offer has: enter a smaller quantity."),
    ("ten", "Enter the quantity as a whole number."), ("", "Enter a quantity."),
])
def test_a_bad_quantity_on_the_page_gets_a_clear_message_and_changes_nothing(client, admin, org, term, hours,
                                                                            quantity, words):
    client.force_login(admin)
    url = reverse("dashboard:redeem", args=["hours"])
    shown = client.get(url, {"quantity": quantity})
    posted = client.post(url, {"organization": org.mpn_id, "quantity": quantity, "token": "x"})
    for response in (shown, posted):
        assert response.status_code == 400 and words in response.content.decode()
    assert used(org) == (0, 0, 0)


@time_machine.travel(NOW, tick=False)
def test_more_than_is_left_on_the_page_is_refused_with_what_is_left(client, admin, org, term, hours):
    client.force_login(admin)
    url = reverse("dashboard:redeem", args=["hours"])
    benefit_redeem(organization=org, benefit=hours, by=admin, day=D, units=45)
    token = token_of(client.get(url, {"quantity": 5}))
    response = client.post(url, {"organization": org.mpn_id, "quantity": 6, "token": token})
    assert response.status_code == 400  # the token was for 5, not 6
    response = client.post(url, {"organization": org.mpn_id, "quantity": 5, "token": token})
    assert response.status_code == 302 and used(org) == (2, 50, 0)


@time_machine.travel(NOW, tick=False)
def test_a_double_submitted_redemption_redeems_once_and_says_so(client, admin, org, term, hours):
    client.force_login(admin)
    url = reverse("dashboard:redeem", args=["hours"])
    token = token_of(client.get(url, {"quantity": 3}))
    first = client.post(url, {"organization": org.mpn_id, "quantity": 3, "token": token})
    second = client.post(url, {"organization": org.mpn_id, "quantity": 3, "token": token}, follow=True)
    redemption = Redemption.objects.get()
    assert first.url == second.redirect_chain[-1][0] == reverse("dashboard:redemption", args=[redemption.pk])
    assert "This redemption was already confirmed: nothing more was redeemed." in second.content.decode()
    assert used(org) == (1, 3, 0)
    with pytest.raises(AlreadyDone):
        benefit_redeem(organization=org, benefit=hours, by=admin, day=D, token=redemption.request_token)


@time_machine.travel(NOW, tick=False)
def test_the_page_shows_the_monthly_limit_and_when_the_next_one_comes(client, admin, org, term, monthly):
    client.force_login(admin)
    confirm(client, reverse("dashboard:redeem", args=["credits"]), {"organization": org.mpn_id, "quantity": 1},
            {"quantity": 1})
    body = client.get(reverse("dashboard:benefits")).content.decode()
    assert "at most 1 a month, 1 used this month" in body and "Next from Dec. 15, 2026" in body


def test_the_database_refuses_a_period_use_past_its_limit(org, term, monthly):
    allowance = BenefitAllowance.objects.create(organization=org, benefit=monthly, membership=term, quantity=12)
    use = BenefitPeriodUse.objects.create(allowance=allowance, starts_on=D, ends_on=D, period_limit=1, used=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        BenefitPeriodUse.objects.filter(pk=use.pk).update(used=F("used") + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Benefit.objects.filter(pk=monthly.pk).update(period_limit=None)


def test_the_bundled_catalog_limits_azure_credits_to_one_a_month_and_names_offers_distinctly(db):
    from django.conf import settings

    path = settings.BASE_DIR / "competencies" / "catalog_data" / "default.yaml"
    load_catalog(data=read_catalog_file(path), source="default.yaml")
    credits = Benefit.objects.get(slug="azure-credits-gold")
    assert (credits.per_period, credits.period_limit, credits.quantity) == ("month", 1, 12)
    names = list(Benefit.objects.values_list("name", flat=True))
    assert len(names) == len(set(names))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL; SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_never_pass_the_monthly_limit():
    org = OrganizationFactory()
    benefit = BenefitFactory(slug="credits", name="Credits", membership_level="silver", quantity=12,
                             per_period="month", period_limit=1)
    MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    barrier = threading.Barrier(6)
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

    threads = [threading.Thread(target=redeem) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and (len(redeemed), len(refused)) == (1, 5)
    assert BenefitPeriodUse.objects.get().used == 1 and BenefitAllowance.objects.get().redeemed == 1
