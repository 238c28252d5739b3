"""docs/design.md "Displayed competencies": kept until the term ends; Silver members show Silver only."""

import datetime
import json
from io import StringIO

import pytest
from django.core.management import call_command

from competencies.associations import association_end
from competencies.statuses import statuses_refresh
from memberships.displayed import displayed_levels

from .common import DAY, cloud_platform
from .common import TODAY as D
from .factories import (
    CompetencyFactory,
    MembershipFactory,
    OrganizationFactory,
    StatusChangeFactory,
    certified_employee,
)

TERM_START = datetime.date(2026, 7, 1)
TERM_END = datetime.date(2027, 7, 1)


@pytest.fixture
def cloud(db):
    return cloud_platform(["70-533"])


def shown(org, day):
    return {cid: level for (o, cid), level in displayed_levels(organization_ids=[org.pk], day=day).items() if o == org.pk}


def gold_org(cloud):
    org = OrganizationFactory()
    people = [certified_employee(org, "70-533") for _ in range(2)]
    statuses_refresh(organization_ids=[org.pk], day=datetime.date(2026, 6, 1))
    return org, people


def test_a_gold_member_displays_gold(cloud):
    org, _people = gold_org(cloud)
    MembershipFactory(organization=org, level="gold", purchased_on=TERM_START)
    assert shown(org, D) == {cloud.pk: "gold"}


def test_a_silver_member_displays_a_gold_competency_as_silver(cloud):
    org, _people = gold_org(cloud)
    MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    assert shown(org, D) == {cloud.pk: "silver"}


def test_nothing_is_displayed_without_a_membership(cloud):
    org, _people = gold_org(cloud)
    assert shown(org, D) == {}


def test_a_competency_lost_during_the_term_is_displayed_until_the_term_ends(cloud):
    org, people = gold_org(cloud)
    MembershipFactory(organization=org, level="gold", purchased_on=TERM_START)
    for person in people:
        association_end(employee=person, on=datetime.date(2026, 9, 1))
    statuses_refresh(organization_ids=[org.pk], day=datetime.date(2026, 9, 1))
    assert org.status_changes.order_by("-day").first().new_effective == "none"

    assert shown(org, D) == {cloud.pk: "gold"}
    assert shown(org, TERM_END - DAY) == {cloud.pk: "gold"}  # the term's last day
    assert shown(org, TERM_END) == {}  # the anniversary: grace, nothing displayed


def test_a_level_reached_and_lost_within_the_term_is_displayed(cloud):
    org = OrganizationFactory()
    MembershipFactory(organization=org, level="gold", purchased_on=TERM_START)
    certified_employee(org, "70-533", starts_on=datetime.date(2026, 8, 1), ends_on=datetime.date(2026, 9, 1))
    statuses_refresh(organization_ids=[org.pk], day=datetime.date(2026, 8, 1))
    statuses_refresh(organization_ids=[org.pk], day=datetime.date(2026, 9, 1))
    assert shown(org, datetime.date(2026, 7, 31)) == {}
    assert shown(org, D) == {cloud.pk: "silver"}


def test_a_level_lost_before_the_term_started_is_not_displayed(db):
    org, competency = OrganizationFactory(), CompetencyFactory()
    StatusChangeFactory(organization=org, competency=competency, day=datetime.date(2025, 1, 1), new_evaluated="gold")
    StatusChangeFactory(organization=org, competency=competency, day=TERM_START - DAY, old_evaluated="gold",
                        old_effective="gold", new_evaluated="none", cause="association_ended")
    MembershipFactory(organization=org, level="gold", purchased_on=TERM_START)
    assert shown(org, D) == {}


def test_the_level_held_entering_the_term_is_displayed(db):
    org, competency = OrganizationFactory(), CompetencyFactory()
    StatusChangeFactory(organization=org, competency=competency, day=datetime.date(2025, 1, 1), new_evaluated="silver")
    MembershipFactory(organization=org, level="gold", purchased_on=TERM_START)
    assert shown(org, TERM_START - DAY) == {}
    assert shown(org, TERM_START) == {competency.pk: "silver"}


def test_an_upgrade_displays_gold_from_the_upgrade_day(db):
    org, competency = OrganizationFactory(), CompetencyFactory()
    StatusChangeFactory(organization=org, competency=competency, day=datetime.date(2026, 1, 1), new_evaluated="gold")
    silver = MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    gold = MembershipFactory(organization=org, level="gold", purchased_on=D, source="upgrade")
    silver.ends_on, silver.superseded_by = D, gold
    silver.save()
    assert shown(org, D - DAY) == {competency.pk: "silver"}
    assert shown(org, D) == {competency.pk: "gold"}


def test_displayed_levels_is_set_based(db, django_assert_max_num_queries):
    competency = CompetencyFactory()
    orgs = [OrganizationFactory() for _ in range(30)]
    for org in orgs:
        StatusChangeFactory(organization=org, competency=competency, new_evaluated="silver")
        MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    with django_assert_max_num_queries(2):
        levels = displayed_levels(organization_ids=[o.pk for o in orgs], day=D)
    assert len(levels) == 30


def test_export_achievements_prints_the_displayed_level(cloud):
    org, people = gold_org(cloud)
    MembershipFactory(organization=org, level="silver", purchased_on=TERM_START)
    for person in people:
        association_end(employee=person, on=datetime.date(2026, 9, 1))
    statuses_refresh(organization_ids=[org.pk], day=datetime.date(2026, 9, 1))
    out = StringIO()
    call_command("export_achievements", "--date", D.isoformat(), "--mpn-id", org.mpn_id, stdout=out)
    (row,) = json.loads(out.getvalue())
    # Lost on 2026-09-01, still displayed (as Silver: a Silver member) until the term ends.
    assert (row["competency"], row["effective_level"], row["displayed_level"]) == ("cloud-platform", "none", "silver")
