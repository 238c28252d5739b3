"""Departures and arrivals: the dashboard's activity feed, and the one email a harmful departure sends the admins."""

import datetime

import pytest
import time_machine
from django.utils import translation

from competencies.associations import association_end, association_start
from competencies.overrides import override_apply
from competencies.statuses import statuses_refresh
from memberships.activity_feed import activity_feed
from memberships.models import OutboundEmail
from memberships.receivers import departure_email_queue
from memberships.services import membership_buy

from .common import DAY, PASSWORD, D
from .factories import AssociationFactory, EmployeeFactory, MembershipPlanFactory, certified_employee

NOON = datetime.datetime(2026, 11, 20, 12, tzinfo=datetime.UTC)


@pytest.fixture
def team(org, other_org, admin, cloud):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    john = certified_employee(org, "70-535", name="John Roe")
    statuses_refresh(organization_ids=[org.pk, other_org.pk], day=datetime.date(2026, 1, 1))
    return {"jane": jane, "john": john}


def departure_emails():
    return list(OutboundEmail.objects.filter(key__startswith="departure:").order_by("to_email"))


def test_a_departure_that_lowers_a_level_emails_each_admin_once_in_their_language(
    org, other_org, admin, team, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://partner.example"
    org.admins.add(EmployeeFactory(email="zhang@fabrikam.example", name="Zhang Wei", language="zh-hans"))
    with django_capture_on_commit_callbacks(execute=True):
        association_start(employee=team["jane"], organization=other_org, on=D)
    english, chinese = departure_emails()
    assert (english.to_email, english.status) == (admin.email, "sent")
    assert english.subject == "Fabrikam: Jane Doe no longer counts for your competencies"
    assert "Jane Doe no longer counts for Fabrikam from Nov. 20, 2026." in english.body_text
    assert "Cloud Platform: Gold → Silver." in english.body_text
    assert "https://partner.example/dashboard/membership/competencies/cloud-platform/" in english.body_html
    assert "https://partner.example/dashboard/people/" in english.body_text
    assert chinese.language == "zh-hans" and "Cloud Platform：金牌 → 银牌。" in chinese.body_text
    # The same departure announced again (a retry) queues nothing more.
    association = team["jane"].associations.get(organization=org)
    departure_email_queue(association=association, how="moved", by=None)
    assert len(departure_emails()) == 2


def test_a_departure_that_leaves_a_competency_resting_on_key_people_emails_the_admins(org, admin, team):
    certified_employee(org, "70-533", name="Ann Third")  # Gold with three people: nobody is key
    statuses_refresh(organization_ids=[org.pk], day=D - DAY)
    association_end(employee=team["jane"], on=D, by=None)
    [email] = departure_emails()
    assert "Cloud Platform (Gold) now rests on " in email.body_text
    assert "John Roe" in email.body_text and "Ann Third" in email.body_text


def test_a_departure_that_changes_nothing_sends_nothing(org, admin, cloud):
    bystander = EmployeeFactory(name="No Credentials")
    AssociationFactory(employee=bystander, organization=org, starts_on=datetime.date(2026, 1, 1))
    certified_employee(org, "70-533", name="Jane Doe")
    association_end(employee=bystander, on=D, by=None)
    assert departure_emails() == []


def test_the_feed_lists_joins_departures_level_changes_overrides_and_purchases_newest_first(
    org, other_org, admin, team, cloud, django_capture_on_commit_callbacks
):
    MembershipPlanFactory(level="silver")
    with django_capture_on_commit_callbacks(execute=True):
        association_start(employee=team["jane"], organization=other_org, on=D - 2 * DAY)
    with django_capture_on_commit_callbacks(execute=True):
        override_apply(organization=org, competency=cloud, level="gold", reason="Audit", starts_on=D - DAY,
                       expires_on=datetime.date(2027, 3, 2), actor=EmployeeFactory(is_staff=True), day=D - DAY)
    with django_capture_on_commit_callbacks(execute=True):
        membership_buy(organization=org, level="silver", by=admin, day=D)
    texts = [e.text for e in activity_feed(org, day=D, per_page=50).entries]
    assert texts[0] == "Bought a Silver membership (USD 1,670)."
    assert "Cloud Platform: a Gold override was placed, until March 1, 2027." in texts
    assert "Jane Doe left the organization." in texts
    assert any(t.startswith("Cloud Platform: Gold → Silver. Cause: Jane Doe associated with another") for t in texts)
    assert "John Roe joined the organization." in texts
    assert texts.index("Jane Doe left the organization.") < texts.index("John Roe joined the organization.")
    with translation.override("zh-hant"):
        chinese = [e.text for e in activity_feed(org, day=D, per_page=50).entries]
    assert chinese[0] != texts[0] and "1,670" in chinese[0]
    # Another organization's activity is not in it.
    assert all("Jane Doe joined" not in e.text for e in activity_feed(other_org, day=D - 3 * DAY).entries)


def test_the_feed_is_paginated_and_a_bad_page_gives_the_nearest_one(org, cloud):
    for n in range(7):
        AssociationFactory(employee=EmployeeFactory(name=f"Person {n}"), organization=org,
                           starts_on=datetime.date(2026, 1, 1) + n * DAY)
    first = activity_feed(org, day=D, per_page=3)
    assert (first.number, first.pages, first.has_next, first.has_previous) == (1, 3, True, False)
    assert [e.text for e in first.entries] == [f"Person {n} joined the organization." for n in (6, 5, 4)]
    last = activity_feed(org, day=D, page=3, per_page=3)
    assert [e.text for e in last.entries] == ["Person 0 joined the organization."]
    for bad in ("0", "-1", "10000000000", "abc", None):
        page = activity_feed(org, day=D, page=bad, per_page=3)
        assert page.number in (1, 3) and page.entries


def test_the_dashboard_shows_the_feed_to_admins_only(client, org, admin, teammate, team):
    with time_machine.travel(NOON, tick=False):
        client.login(username=admin.email, password=PASSWORD)
        page = client.get("/dashboard/?activity=abc").content.decode()
        assert 'id="activity"' in page and "Jane Doe joined the organization." in page
        client.logout()
        client.login(username=teammate.email, password=PASSWORD)
        assert 'id="activity"' not in client.get("/dashboard/").content.decode()
