"""One convention for dates ("until <last day>"), one word for no level, and the competency pages' small things."""

import datetime

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from competencies.statuses import statuses_refresh

from .common import TODAY
from .factories import (
    AssociationFactory,
    EmployeeFactory,
    MembershipFactory,
    OverrideFactory,
    build_competency,
    certified_employee,
)

pytestmark = pytest.mark.usefixtures("frozen")


def test_it_shows_a_stored_end_as_the_last_day_it_still_holds_in_each_language():
    template = Template('{% load localized %}{{ end|until }}|{{ none|level_name }}')
    for language, expected in (("en", "Feb. 22, 2027|Not attained"), ("zh-hans", "2027年2月22日|未达成"),
                               ("zh-hant", "2027年2月22日|未達成")):
        with translation.override(language):
            assert template.render(Context({"end": datetime.date(2027, 2, 23), "none": "none"})) == expected


def test_an_override_badge_says_until_its_last_day(client, teammate, org, db):
    cloud = build_competency("cloud-platform", name="Cloud Platform", silver=[[{"count": 1, "any_of": ["70-533"]}]])
    OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=TODAY,
                    expires_on=datetime.date(2027, 2, 23))
    client.force_login(teammate)
    for url in (reverse("dashboard:competencies"), reverse("dashboard:competency", args=["cloud-platform"])):
        body = client.get(url).content.decode()
        assert "Override until Feb. 22, 2027" in body, url
        assert "Feb. 23, 2027" not in body, url


def test_a_gold_only_competency_shows_its_progress_to_gold(client, teammate, db):
    build_competency("erp", name="ERP", gold=[[{"count": 2, "any_of": ["MB-800"]}]])
    certified_employee(teammate.associations.get().organization, "MB-800", name="Ana")
    client.force_login(teammate)
    body = client.get(reverse("dashboard:competencies")).content.decode()
    assert 'class="small option-progress"' in body and "gold 0" in body
    assert '<progress class="progress" max="100" value="50"' in body


def test_one_credential_away_names_only_someone_near_else_any_of_your_people(client, teammate, org, db):
    build_competency("cloud-platform", name="Cloud Platform", silver=[[{"count": 1, "any_of": ["70-533", "70-535"]}]],
                     gold=[[{"count": 1, "all_of": ["70-533", "70-535"]}]])
    certified_employee(org, "70-533", name="Zoe Near")
    AssociationFactory(employee=EmployeeFactory(name="Sam Far"), organization=org, starts_on=datetime.date(2026, 1, 1))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:competency", args=["cloud-platform"])).content.decode()
    assert "One credential away:" in body and "Zoe Near (70-535" in body
    assert "Sam Far (" not in body


def test_any_of_your_people_when_no_one_is_near(client, teammate, org, db):
    build_competency("cloud-platform", name="Cloud Platform", silver=[[{"count": 1, "any_of": ["70-533", "70-535"]}]])
    AssociationFactory(employee=EmployeeFactory(name="Sam Far"), organization=org, starts_on=datetime.date(2026, 1, 1))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:competency", args=["cloud-platform"])).content.decode()
    assert "One credential away" not in body
    assert "Any of your 2 people who do not count yet could earn it." in body  # Sam and the teammate


def test_history_says_not_attained_for_no_level(client, teammate, org, db):
    build_competency("cloud-platform", name="Cloud Platform", silver=[[{"count": 1, "any_of": ["70-533"]}]])
    statuses_refresh(organization_ids=[org.pk], day=TODAY - datetime.timedelta(days=2))
    certified_employee(org, "70-533", name="Zoe", starts_on=TODAY - datetime.timedelta(days=1))
    statuses_refresh(organization_ids=[org.pk], day=TODAY - datetime.timedelta(days=1))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:competency", args=["cloud-platform"])).content.decode()
    assert "Not attained → Silver" in body and "None →" not in body


def test_a_carried_over_membership_does_not_say_so_beside_no_orders(client, admin, org, db):
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 1, 1), source="import")
    client.force_login(admin)
    body = client.get(reverse("dashboard:membership")).content.decode()
    assert "No orders yet." in body and "Carried over" not in body
