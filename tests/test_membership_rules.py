"""docs/design.md "Membership": buy, term, upgrade, renew, MAPS — the services and their boundaries."""

import datetime
import io
import json
import threading
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from competencies.associations import association_end
from competencies.statuses import statuses_refresh
from memberships.eligibility import membership_state
from memberships.models import BenefitSubscription, Membership, Order, OutboundEmail
from memberships.payments import PaymentResult, SimulatedProvider
from memberships.reminders import renewal_reminders_send
from memberships.services import (
    PurchaseRefused,
    maps_buy,
    membership_buy,
    membership_renew,
    membership_upgrade,
)
from memberships.terms import membership_on, term_ends_on, upgrade_price

from .common import DAY, cloud_platform
from .common import TODAY as D
from .factories import (
    BenefitFactory,
    MembershipFactory,
    MembershipPlanFactory,
    OrganizationFactory,
    OverrideFactory,
    build_competency,
    certified_employee,
)


@pytest.fixture
def cloud(db):
    """Cloud Platform: Silver with one person holding 70-533, Gold with two."""
    MembershipPlanFactory(level="silver")
    MembershipPlanFactory(level="gold")
    return cloud_platform(["70-533"])


def reach(org, level):
    """Give `org` the people Cloud Platform needs at `level`."""
    return [certified_employee(org, "70-533") for _ in range({"silver": 1, "gold": 2}[level])]


def counts():
    return Order.objects.count(), Membership.objects.count()


# --- the term ---------------------------------------------------------------


def test_a_term_lasts_one_year_from_the_purchase_day():
    assert term_ends_on(datetime.date(2026, 11, 23)) == datetime.date(2027, 11, 23)


def test_a_term_bought_on_29_february_ends_on_28_february():
    assert term_ends_on(datetime.date(2028, 2, 29)) == datetime.date(2029, 2, 28)


def export_row(org, day):
    out = io.StringIO()
    call_command("export_achievements", "--mpn-id", org.mpn_id, "--date", day.isoformat(), stdout=out)
    [row] = json.loads(out.getvalue())
    return row


def test_a_term_bought_on_29_february_ends_on_28_february_on_the_page_in_the_export_and_in_the_reminder(
    client, org, admin, cloud
):
    reach(org, "silver")
    leap_day = datetime.date(2028, 2, 29)
    membership_buy(organization=org, level="silver", by=admin, day=leap_day)
    statuses_refresh(organization_ids=[org.pk], day=leap_day)

    with time_machine.travel(datetime.datetime(2028, 3, 1, 12, tzinfo=datetime.UTC), tick=False):
        client.force_login(admin)
        body = client.get(reverse("dashboard:membership")).content.decode()
    assert "Feb. 29, 2028 to Feb. 27, 2029" in body  # the term until its last day (docs/rules.md, "Dates")
    assert "Feb. 28, 2029" in body  # the anniversary

    assert export_row(org, datetime.date(2029, 2, 27))["displayed_level"] == "silver"  # the term's last day
    assert export_row(org, datetime.date(2029, 2, 28))["displayed_level"] == "none"  # the anniversary: over

    renewal_reminders_send(organization_ids=[org.pk], day=datetime.date(2029, 2, 12))
    assert not OutboundEmail.objects.filter(key__startswith="renewal_reminder:").exists()  # (the receipt is there)
    renewal_reminders_send(organization_ids=[org.pk], day=datetime.date(2029, 2, 13))  # 15 days before
    [reminder] = OutboundEmail.objects.filter(key__startswith="renewal_reminder:")
    assert "reaches its anniversary on Feb. 28, 2029" in reminder.body_text


def test_a_term_is_active_from_its_first_day_until_the_day_before_its_end(org):
    m = MembershipFactory(organization=org, purchased_on=D)
    assert membership_on(org, day=D - DAY) is None
    assert membership_on(org, day=D) == m
    assert membership_on(org, day=m.ends_on - DAY) == m
    assert membership_on(org, day=m.ends_on) is None


# --- buy --------------------------------------------------------------------


def test_it_sells_silver_with_a_competency_at_silver(org, admin, cloud):
    reach(org, "silver")
    order = membership_buy(organization=org, level="silver", by=admin, day=D)

    assert (order.status, order.kind, order.level, order.amount_usd) == ("paid", "buy", "silver", Decimal("1670"))
    assert order.created_by == admin and order.reference.startswith("SIM-")
    m = order.membership
    assert (m.level, m.purchased_on, m.starts_on, m.ends_on) == ("silver", D, D, datetime.date(2027, 11, 23))
    assert membership_on(org, day=D) == m


def test_it_refuses_silver_without_any_competency_and_writes_nothing(org, admin, cloud):
    before = counts()
    with pytest.raises(PurchaseRefused, match="No competency is at Silver or above") as refused:
        membership_buy(organization=org, level="silver", by=admin, day=D)
    assert "The closest is Cloud Platform: 1 more person" in str(refused.value)
    assert counts() == before


def test_it_refuses_gold_with_only_silver_and_sells_it_with_gold(org, admin, cloud):
    reach(org, "silver")
    with pytest.raises(PurchaseRefused, match="No competency is at Gold or above"):
        membership_buy(organization=org, level="gold", by=admin, day=D)
    assert counts() == (0, 0)

    certified_employee(org, "70-533")
    order = membership_buy(organization=org, level="gold", by=admin, day=D)
    assert (order.membership.level, order.amount_usd) == ("gold", Decimal("4730"))


def test_it_counts_the_effective_level_so_an_override_qualifies(org, admin, cloud):
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D - 10 * DAY, expires_on=D + DAY)
    assert membership_buy(organization=org, level="gold", by=admin, day=D).status == "paid"


def test_an_override_that_expired_the_day_before_does_not_qualify(org, admin, cloud):
    OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=D - 10 * DAY, expires_on=D)
    with pytest.raises(PurchaseRefused):
        membership_buy(organization=org, level="silver", by=admin, day=D)


def test_it_refuses_to_sell_a_second_term_to_a_member(org, admin, cloud):
    reach(org, "gold")
    MembershipFactory(organization=org, level="silver", purchased_on=D - 100 * DAY)
    before = counts()
    with pytest.raises(PurchaseRefused, match="upgrade to Gold instead"):
        membership_buy(organization=org, level="gold", by=admin, day=D)
    with pytest.raises(PurchaseRefused, match="already a Silver member"):
        membership_buy(organization=org, level="silver", by=admin, day=D)
    assert counts() == before


def test_in_grace_it_refuses_to_sell_and_says_to_renew(org, admin, cloud):
    reach(org, "silver")
    m = MembershipFactory(organization=org, purchased_on=datetime.date(2025, 11, 1))
    with pytest.raises(PurchaseRefused, match="renew it until"):
        membership_buy(organization=org, level="silver", by=admin, day=m.ends_on + 29 * DAY)


def test_past_the_grace_the_membership_has_lapsed_and_is_bought_anew(org, admin, cloud):
    reach(org, "silver")
    m = MembershipFactory(organization=org, purchased_on=datetime.date(2025, 10, 1))
    day = m.ends_on + 30 * DAY
    order = membership_buy(organization=org, level="silver", by=admin, day=day)
    assert (order.membership.starts_on, order.membership.ends_on) == (day, term_ends_on(day))


def test_a_declined_payment_keeps_a_failed_order_and_creates_no_membership(org, admin, cloud):
    reach(org, "silver")
    order = membership_buy(organization=org, level="silver", by=admin, day=D, provider=SimulatedProvider(decline=True))
    assert order.status == "failed" and "declined" in order.failure_reason
    assert Membership.objects.count() == 0


class RecordingProvider:
    name = "recording"
    charged = []

    def charge(self, *, order):
        RecordingProvider.charged.append((order.pk, order.amount_usd))
        return PaymentResult(paid=True, reference="REC-1")


@override_settings(PAYMENT_PROVIDER="tests.test_membership_rules.RecordingProvider")
def test_the_payment_provider_is_chosen_by_a_setting(org, admin, cloud):
    reach(org, "silver")
    order = membership_buy(organization=org, level="silver", by=admin, day=D)
    assert (order.provider, order.reference) == ("recording", "REC-1")
    assert RecordingProvider.charged[-1] == (order.pk, Decimal("1670"))


# --- upgrade ----------------------------------------------------------------


def test_the_upgrade_price_is_the_gold_fee_less_25_percent():
    assert upgrade_price(Decimal("4730")) == Decimal("3547.50")


def test_an_upgrade_starts_the_gold_term_that_day_and_ends_the_silver_one(org, admin, cloud):
    reach(org, "gold")
    silver = MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 6, 1))
    order = membership_upgrade(organization=org, by=admin, day=D)

    assert (order.kind, order.amount_usd, order.replaces) == ("upgrade", Decimal("3547.50"), silver)
    gold = order.membership
    assert (gold.level, gold.starts_on, gold.ends_on, gold.source) == ("gold", D, datetime.date(2027, 11, 23), "upgrade")
    silver.refresh_from_db()
    assert (silver.ends_on, silver.superseded_by) == (D, gold)  # history kept, the Silver term ends that day
    assert membership_on(org, day=D - DAY) == silver
    assert membership_on(org, day=D) == gold


def test_an_upgrade_on_the_purchase_day_keeps_the_silver_term_in_history(org, admin, cloud):
    reach(org, "gold")
    membership_buy(organization=org, level="silver", by=admin, day=D)
    membership_upgrade(organization=org, by=admin, day=D)
    assert list(Membership.objects.filter(organization=org).order_by("pk").values_list("level", "starts_on", "ends_on")) == [
        ("silver", D, D),
        ("gold", D, datetime.date(2027, 11, 23)),
    ]
    assert membership_on(org, day=D).level == "gold"


def test_an_upgrade_needs_a_gold_achievement(org, admin, cloud):
    reach(org, "silver")
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 6, 1))
    before = counts()
    with pytest.raises(PurchaseRefused, match="No competency is at Gold or above"):
        membership_upgrade(organization=org, by=admin, day=D)
    assert counts() == before


def test_an_upgrade_needs_an_active_silver_term(org, admin, cloud):
    reach(org, "gold")
    with pytest.raises(PurchaseRefused, match="buy Gold instead"):
        membership_upgrade(organization=org, by=admin, day=D)
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 6, 1))
    with pytest.raises(PurchaseRefused, match="already a Gold member"):
        membership_upgrade(organization=org, by=admin, day=D)


# --- renew ------------------------------------------------------------------

TERM_START = datetime.date(2026, 3, 1)
ANNIVERSARY = datetime.date(2027, 3, 1)


@pytest.fixture
def silver_term(org, cloud):
    (holder,) = reach(org, "silver")
    term = MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    term.holder = holder  # the one person holding Silver up
    return term


def test_renewal_opens_90_days_before_the_anniversary(org, admin, silver_term):
    with pytest.raises(PurchaseRefused, match="Renewal opens on"):
        membership_renew(organization=org, by=admin, day=ANNIVERSARY - 91 * DAY)
    assert counts() == (0, 1)
    order = membership_renew(organization=org, by=admin, day=ANNIVERSARY - 90 * DAY)
    renewed = order.membership
    assert (renewed.level, renewed.purchased_on, renewed.starts_on, renewed.ends_on, renewed.source) == (
        "silver", ANNIVERSARY - 90 * DAY, ANNIVERSARY, datetime.date(2028, 3, 1), "renewal",
    )
    assert order.replaces == silver_term and order.amount_usd == Decimal("1670")


def test_renewal_stays_open_29_days_after_the_anniversary_and_keeps_it(org, admin, silver_term):
    day = ANNIVERSARY + 29 * DAY
    renewed = membership_renew(organization=org, by=admin, day=day).membership
    # The new term starts on the anniversary, in the past: the grace days are covered, the anniversary kept.
    assert (renewed.starts_on, renewed.ends_on) == (ANNIVERSARY, datetime.date(2028, 3, 1))
    assert membership_on(org, day=day) == renewed


def test_renewal_closes_30_days_after_the_anniversary(org, admin, silver_term):
    with pytest.raises(PurchaseRefused, match="lapsed"):
        membership_renew(organization=org, by=admin, day=ANNIVERSARY + 30 * DAY)
    assert counts() == (0, 1)


def test_renewal_needs_the_level_again_on_the_renewal_day(org, admin, silver_term, cloud):
    association_end(employee=silver_term.holder, on=ANNIVERSARY - 10 * DAY)
    with pytest.raises(PurchaseRefused, match="You cannot renew at Silver"):
        membership_renew(organization=org, by=admin, day=ANNIVERSARY - 5 * DAY)
    assert counts() == (0, 1)


def test_it_renews_once(org, admin, silver_term):
    membership_renew(organization=org, by=admin, day=ANNIVERSARY - 10 * DAY)
    with pytest.raises(PurchaseRefused, match="Already renewed"):
        membership_renew(organization=org, by=admin, day=ANNIVERSARY - 9 * DAY)
    assert counts() == (1, 2)


def test_a_gold_member_may_renew_at_silver_when_gold_is_lost(org, admin, cloud):
    reach(org, "silver")
    MembershipFactory(organization=org, level="gold", purchased_on=TERM_START)
    with pytest.raises(PurchaseRefused, match="You cannot renew at Gold"):
        membership_renew(organization=org, by=admin, day=ANNIVERSARY - DAY)
    renewed = membership_renew(organization=org, by=admin, day=ANNIVERSARY - DAY, level="silver").membership
    assert (renewed.level, renewed.starts_on) == ("silver", ANNIVERSARY)


def test_the_anniversary_never_drifts_across_renewals(org, admin, cloud):
    reach(org, "silver")
    leap_day = datetime.date(2028, 2, 29)
    first = MembershipFactory(organization=org, purchased_on=leap_day, ends_on=term_ends_on(leap_day))
    second = membership_renew(organization=org, by=admin, day=datetime.date(2029, 1, 15)).membership
    third = membership_renew(organization=org, by=admin, day=datetime.date(2030, 3, 20)).membership
    assert [(m.starts_on, m.ends_on) for m in (first, second, third)] == [
        (datetime.date(2028, 2, 29), datetime.date(2029, 2, 28)),
        (datetime.date(2029, 2, 28), datetime.date(2030, 2, 28)),
        (datetime.date(2030, 2, 28), datetime.date(2031, 2, 28)),
    ]


def test_an_upgrade_is_refused_while_a_renewal_is_waiting_to_start(org, admin, silver_term):
    membership_renew(organization=org, by=admin, day=ANNIVERSARY - 10 * DAY)
    reach(org, "silver")  # a second person: gold
    with pytest.raises(PurchaseRefused, match="already paid: upgrade once it starts"):
        membership_upgrade(organization=org, by=admin, day=ANNIVERSARY - 5 * DAY)


def test_there_is_nothing_to_renew_without_a_membership(org, admin, cloud):
    with pytest.raises(PurchaseRefused, match="no membership to renew"):
        membership_renew(organization=org, by=admin, day=D)


# --- MAPS -------------------------------------------------------------------


@pytest.fixture
def maps(db):
    return BenefitFactory(slug="maps", name="Microsoft Action Pack subscription", price_usd=475, value_usd=20000,
                          membership_level="silver", quantity=None)


def test_maps_is_sold_to_silver_members_for_a_year(org, admin, cloud, maps):
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 6, 1))
    order = maps_buy(organization=org, by=admin, day=D)
    assert (order.kind, order.status, order.amount_usd, order.level) == ("maps", "paid", Decimal("475"), "")
    sub = order.subscription
    assert (sub.starts_on, sub.ends_on, sub.benefit) == (D, datetime.date(2027, 11, 23), maps)


def test_maps_is_refused_without_a_membership_and_while_subscribed(org, admin, cloud, maps):
    with pytest.raises(PurchaseRefused, match="comes with a Silver membership or above"):
        maps_buy(organization=org, by=admin, day=D)
    assert (Order.objects.count(), BenefitSubscription.objects.count()) == (0, 0)
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 6, 1))
    maps_buy(organization=org, by=admin, day=D)
    with pytest.raises(PurchaseRefused, match="already subscribe"):
        maps_buy(organization=org, by=admin, day=D + DAY)
    assert BenefitSubscription.objects.count() == 1


# --- what the page shows comes from the same rules ---------------------------


def test_the_state_says_why_each_action_is_allowed_or_not(org, cloud):
    reach(org, "silver")
    state = membership_state(org, day=D)
    assert state.buy("silver").allowed and state.buy("silver").price_usd == Decimal("1670")
    assert not state.buy("gold").allowed
    assert "Cloud Platform (Silver) qualifies for Silver" in state.qualifications["silver"].words()
    assert not state.upgrade().allowed and not state.renew().allowed


def test_a_renewal_at_an_unknown_level_is_refused(org, admin, silver_term):
    with pytest.raises(PurchaseRefused, match="Choose Silver or Gold"):
        membership_renew(organization=org, by=admin, day=ANNIVERSARY - DAY, level="platinum")
    assert counts() == (0, 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL; SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_purchases_buy_one_term():
    MembershipPlanFactory(level="silver")
    build_competency("cloud-platform", silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]])
    org = OrganizationFactory()
    certified_employee(org, "70-533")
    barrier = threading.Barrier(2)
    paid, refused, errors = [], [], []

    def buy():
        try:
            barrier.wait()
            paid.append(membership_buy(organization=org, level="silver", by=None, day=D).pk)
        except PurchaseRefused as exc:
            refused.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert (len(paid), len(refused)) == (1, 1) and "already a Silver member" in refused[0]
    assert (Order.objects.count(), Membership.objects.count()) == (1, 1)
