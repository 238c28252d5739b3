"""The public partner directory and profiles: exactly the displayed competencies, filters, fair paging, referrals."""

import datetime
import re

import pytest
from django.test import override_settings
from django.urls import reverse

from memberships.directory import directory_listings
from memberships.forms import ReferralForm
from memberships.models import OutboundEmail, Referral

from .common import DAY, NOW
from .common import TODAY as D
from .factories import (
    CompetencyFactory,
    EmployeeFactory,
    MembershipFactory,
    OrganizationFactory,
    StatusChangeFactory,
)

TERM_START = datetime.date(2026, 7, 1)

pytestmark = pytest.mark.usefixtures("empty_cache", "frozen")


@pytest.fixture
def competencies(db):
    return {
        "cloud": CompetencyFactory(slug="cloud-platform", name="Cloud Platform"),
        "data": CompetencyFactory(slug="data-platform", name="Data Platform"),
        "apps": CompetencyFactory(slug="application-development", name="Application Development"),
    }


def history(org, competency, *levels_by_day):
    """Effective levels as the engine recorded them: (day, level), ..."""
    old = "none"
    for day, level in levels_by_day:
        StatusChangeFactory(organization=org, competency=competency, day=day, old_evaluated=old, old_effective=old,
                            new_evaluated=level, new_effective=level)
        old = level


def member(name, level="silver", country="Germany", **fields):
    org = OrganizationFactory(name=name, country=country, **fields)
    MembershipFactory(organization=org, level=level, purchased_on=TERM_START)
    return org


def listed_names(response):
    return re.findall(r'<a href="/partners/\d+/"><strong>([^<]+)</strong>', response.content.decode())


@pytest.fixture
def world(competencies):
    c = competencies
    gold = member("Contoso Gold", level="gold", country="United States")
    history(gold, c["cloud"], (datetime.date(2026, 1, 1), "gold"))
    history(gold, c["data"], (datetime.date(2026, 8, 1), "silver"), (datetime.date(2026, 9, 1), "none"))  # lost: kept
    silver = member("Fabrikam Silver", level="silver", country="Germany")
    history(silver, c["cloud"], (datetime.date(2026, 1, 1), "gold"))  # shown as Silver
    private = member("Hidden Partner", public_profile=False)
    history(private, c["cloud"], (datetime.date(2026, 1, 1), "silver"))
    outsider = OrganizationFactory(name="No Membership", country="Germany")  # levels but no membership
    history(outsider, c["apps"], (datetime.date(2026, 1, 1), "gold"))
    lapsed = OrganizationFactory(name="In Grace", country="Germany")
    MembershipFactory(organization=lapsed, purchased_on=datetime.date(2025, 11, 20))  # ended 2026-11-20
    history(lapsed, c["apps"], (datetime.date(2025, 1, 1), "silver"))
    empty = member("Nothing Displayed")  # a member with no competency
    return {"gold": gold, "silver": silver, "private": private, "outsider": outsider, "lapsed": lapsed, "empty": empty}


def test_it_lists_public_members_with_a_displayed_competency(client, world):
    response = client.get(reverse("partners"))
    assert response.status_code == 200
    assert sorted(listed_names(response)) == ["Contoso Gold", "Fabrikam Silver"]


def test_it_shows_exactly_the_displayed_competencies(client, world):
    body = client.get(reverse("partners")).content.decode()
    rows = {name: row for name, row in re.findall(r"<strong>([^<]+)</strong>.*?</td>.*?<td>.*?</td>\s*<td>(.*?)</td>", body, re.S)}
    badges = lambda row: sorted(re.findall(r'<span class="badge (\w+)"[^>]*>([^<]+) ·', row))  # noqa: E731
    assert badges(rows["Contoso Gold"]) == [("gold", "Cloud Platform"), ("silver", "Data Platform")]
    assert badges(rows["Fabrikam Silver"]) == [("silver", "Cloud Platform")]
    assert "Application Development" not in body.split('id="partners"')[1]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"competency": "data-platform"}, ["Contoso Gold"]),
        ({"competency": "cloud-platform"}, ["Contoso Gold", "Fabrikam Silver"]),
        ({"level": "gold"}, ["Contoso Gold"]),
        ({"level": "silver"}, ["Contoso Gold", "Fabrikam Silver"]),
        ({"competency": "data-platform", "level": "gold"}, []),
        ({"country": "Germany"}, ["Fabrikam Silver"]),
        ({"country": "Germany", "level": "gold"}, []),
    ],
)
def test_it_filters_by_competency_level_and_country(client, world, query, expected):
    assert sorted(listed_names(client.get(reverse("partners"), query))) == expected


def test_it_states_its_order_and_rotates_it_daily(competencies, client, django_assert_max_num_queries):
    for n in range(30):
        org = member(f"Partner {n:02d}")
        history(org, competencies["cloud"], (datetime.date(2026, 1, 1), "silver"))
    with django_assert_max_num_queries(12):
        first = client.get(reverse("partners"))
    assert "an order that changes every day" in first.content.decode()
    page1 = listed_names(first)
    page2 = listed_names(client.get(reverse("partners"), {"page": 2}))
    assert (len(page1), len(page2)) == (25, 5)
    assert sorted(page1 + page2) == [f"Partner {n:02d}" for n in range(30)]
    today = [item.mpn_id for item in directory_listings(day=D)]
    tomorrow = [item.mpn_id for item in directory_listings(day=D + DAY)]
    assert sorted(today) == sorted(tomorrow) and today != tomorrow
    assert today == [item.mpn_id for item in directory_listings(day=D)]  # stable within the day


def test_a_profile_shows_badges_of_the_displayed_competencies(client, world):
    body = client.get(reverse("partner", args=[world["gold"].mpn_id])).content.decode()
    section = body.split('id="competencies"')[1].split("</section>")[0]
    assert re.findall(r'badge (\w+)">\w+</span> ([^<]+)</li>', section) == [
        ("gold", "Cloud Platform"), ("silver", "Data Platform")]
    body = client.get(reverse("partner", args=[world["silver"].mpn_id])).content.decode()
    assert '<span class="badge silver">Silver</span> Cloud Platform' in body and "badge gold" not in body


@pytest.mark.parametrize("who", ["private", "outsider", "lapsed", "empty"])
def test_a_profile_the_directory_does_not_list_is_404(client, world, who):
    assert client.get(reverse("partner", args=[world[who].mpn_id])).status_code == 404


def test_an_unknown_profile_is_404(client, db):
    assert client.get(reverse("partner", args=["999999"])).status_code == 404


# --- referrals ---------------------------------------------------------------------


def referral(**fields):
    return {"name": "Carol Customer", "email": "carol@example.com", "need": "Move our ERP to Azure", "homepage": "",
            "started": ReferralForm.stamp(NOW.timestamp() - 60), **fields}


@pytest.fixture
def admins(world):
    org = world["gold"]
    first = EmployeeFactory(email="ava@contoso.example", name="Ava", language="zh-hans")
    second = EmployeeFactory(email="liam@contoso.example", name="Liam")
    org.admins.add(first, second)
    return [first, second]


def test_a_referral_is_stored_and_queued_to_each_admin(client, world, admins):
    org = world["gold"]
    response = client.post(reverse("partner", args=[org.mpn_id]), referral())
    assert response.status_code == 302
    r = Referral.objects.get()
    assert (r.organization, r.name, r.email, r.need, r.received_on) == (org, "Carol Customer", "carol@example.com",
                                                                        "Move our ERP to Azure", D)
    emails = OutboundEmail.objects.order_by("to_email")
    assert [(e.to_email, e.language, e.status) for e in emails] == [
        ("ava@contoso.example", "zh-hans", "pending"), ("liam@contoso.example", "en", "pending")]
    assert "Carol Customer" in emails[1].subject and "Move our ERP to Azure" in emails[1].body_text
    # each admin in their own language, whatever the customer's
    assert emails[0].subject == "来自 Carol Customer 的推荐请求"
    assert "一位客户在合作伙伴目录中找到了 Contoso" in emails[0].body_text and "客户需求" in emails[0].body_html
    assert "Thank you" in client.get(response.url).content.decode()


def test_a_referral_with_an_invalid_email_is_refused_and_changes_nothing(client, world, admins):
    response = client.post(reverse("partner", args=[world["gold"].mpn_id]), referral(email="carol-at-example"))
    assert response.status_code == 400
    assert "Enter a valid email address" in response.content.decode()
    assert (Referral.objects.count(), OutboundEmail.objects.count()) == (0, 0)


def test_a_filled_honeypot_is_dropped_silently(client, world, admins):
    response = client.post(reverse("partner", args=[world["gold"].mpn_id]), referral(homepage="http://spam.example"))
    assert response.status_code == 302
    assert (Referral.objects.count(), OutboundEmail.objects.count()) == (0, 0)


def test_a_form_sent_too_fast_is_refused(client, world, admins):
    response = client.post(reverse("partner", args=[world["gold"].mpn_id]), referral(started=ReferralForm.stamp(NOW.timestamp() - 1)))
    assert response.status_code == 400
    assert "That was quick" in response.content.decode()
    assert Referral.objects.count() == 0


def test_a_forged_timestamp_is_refused(client, world, admins):
    response = client.post(reverse("partner", args=[world["gold"].mpn_id]), referral(started="1700000000:forged"))
    assert response.status_code == 400
    assert Referral.objects.count() == 0


@override_settings(REFERRAL_MIN_SECONDS=0)
def test_one_address_is_throttled_after_five_requests_an_hour(client, world, admins):
    url = reverse("partner", args=[world["gold"].mpn_id])
    statuses = [client.post(url, referral(email=f"c{n}@example.com")).status_code for n in range(6)]
    assert statuses == [302] * 5 + [400]
    assert Referral.objects.count() == 5


def test_the_directory_and_profiles_need_no_sign_in_but_the_dashboard_does(client, world):
    assert client.get(reverse("partners")).status_code == 200
    assert client.get(reverse("partner", args=[world["gold"].mpn_id])).status_code == 200
    assert client.get(reverse("dashboard:profile")).status_code == 302
