"""The forecast on the pages: the dashboard's next changes, the competency page's coming year and chart, the
membership page's renewal on the anniversary if nothing changes."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from competencies.forecast_store import forecast_refresh
from competencies.statuses import statuses_refresh
from memberships.eligibility import renewal_outlook

from .factories import MembershipFactory, build_competency, certified_employee

TODAY = datetime.date(2026, 12, 2)
EXPIRY = datetime.date(2027, 2, 3)


@pytest.fixture
def gold_until_february(org, admin):
    """Fabrikam: Cloud Platform at Gold today (two people) and Silver from 3 Feb 2027, when Jane Doe's 70-534
    expires; a Gold member until 1 Jun 2027."""
    cloud = build_competency(
        "cloud-platform", name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]},
               {"kind": "certified_people", "count": 1, "any_of": ["70-534"]}]],
    )
    certified_employee(org, "70-533", name="John Roe")
    certified_employee(org, "70-534", name="Jane Doe", expires_on=EXPIRY)
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 6, 1))
    statuses_refresh(organization_ids=[org.pk], day=TODAY)
    forecast_refresh(organization_ids=[org.pk], day=TODAY)
    return cloud


def page(client, user, name, *args, language="en"):
    client.force_login(user)
    with time_machine.travel(datetime.datetime(2026, 12, 2, 12, 0), tick=False):
        return client.get(reverse(name, args=args), HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_the_dashboard_shows_the_next_change_with_its_cause(client, admin, gold_until_february):
    body = page(client, admin, "dashboard:home")
    assert "Coming changes" in body
    assert "Cloud Platform" in body and "Gold → Silver" in body
    assert "Jane Doe&#x27;s 70-534 expires" in body or "Jane Doe's 70-534 expires" in body


def test_the_dashboard_says_when_nothing_is_expected_to_change(client, admin, org):
    assert "No level is expected to change in the coming year." in page(client, admin, "dashboard:home")


def test_the_competency_page_draws_the_coming_year_without_javascript(client, admin, gold_until_february):
    body = page(client, admin, "dashboard:competency", "cloud-platform")
    assert "<svg" in body and 'stroke-dasharray="6 4"' in body and "style=" not in body.split("<svg", 1)[1].split("</svg>")[0]
    assert 'id="forecast-timeline"' in body and "Jane Doe" in body


def test_the_membership_page_says_the_membership_is_not_renewable_at_gold_if_nothing_changes(
    client, admin, org, gold_until_february
):
    outlook = renewal_outlook(org, day=TODAY)
    assert (outlook.renewable, outlook.anniversary, outlook.decisive_day) == (False, datetime.date(2027, 6, 1), EXPIRY)
    [drop] = outlook.drops
    assert (drop.old_effective, drop.new_effective, drop.cause) == ("gold", "silver", "expires")
    body = page(client, admin, "dashboard:membership")
    assert "Not renewable" in body and "cannot be renewed at Gold" in body


def test_a_membership_whose_levels_hold_is_renewable_on_its_anniversary(client, admin, org, gold_until_february):
    org.metric_values.all()  # nothing else
    from competencies.models import EarnedCredential

    EarnedCredential.objects.filter(credential__code="70-534").update(expires_on=None)
    forecast_refresh(organization_ids=[org.pk], day=TODAY, whole=True)  # a change of the day
    assert renewal_outlook(org, day=TODAY).renewable
    assert "can be renewed at Gold" in page(client, admin, "dashboard:membership")


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_the_forecast_speaks_the_readers_language(client, admin, gold_until_february, language):
    body = page(client, admin, "dashboard:home", language=language)
    assert "Coming changes" not in body and "expires" not in body
