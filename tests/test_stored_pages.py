"""Pages from stored state: an organization evaluated as of today is read from its stored statuses, one that is
not is evaluated live, and the page is the same either way."""

import datetime
import random

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from competencies import hooks
from competencies.associations import association_end
from competencies.models import Organization
from competencies.selectors import achieved_competencies, current_levels
from competencies.statuses import statuses_refresh

from .factories import OrganizationFactory, OverrideFactory, build_competency, certified_employee

TODAY = datetime.date(2026, 11, 23)
DAY = datetime.timedelta(days=1)
AZURE = ["70-533", "70-535"]
DATA = ["70-764", "70-765"]


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC), tick=False):
        yield


@pytest.fixture
def catalog(db):
    return [
        build_competency("cloud-platform", name="Cloud Platform",
                         silver=[[{"count": 1, "any_of": AZURE}]], gold=[[{"count": 2, "any_of": AZURE}]]),
        build_competency("data-platform", name="Data Platform",
                         silver=[[{"count": 1, "all_of": DATA}]], gold=[[{"count": 2, "groups": [["70-764"], AZURE]}]]),
        build_competency("messaging", name="Messaging", gold=[[{"count": 1, "any_of": ["70-345"]}]]),
    ]


def generated_organizations(catalog, count=12, seed=2017):
    """Organizations with random people, credentials (some expired, some earned later), departures and overrides;
    each with a signed-in employee who holds nothing. Evaluated 40 days ago and today: some levels were lost."""
    rng = random.Random(seed)
    codes = [*AZURE, *DATA, "70-345"]
    orgs = []
    for i in range(count):
        org = OrganizationFactory(name=f"Generated {i}")
        for j in range(rng.randint(0, 4)):
            held = rng.sample(codes, rng.randint(0, 3))
            ends_on = TODAY - rng.randint(1, 30) * DAY if rng.random() < 0.2 else None
            expires_on = TODAY - rng.randint(1, 30) * DAY if rng.random() < 0.2 else None
            earned_on = TODAY + DAY if rng.random() < 0.1 else datetime.date(2026, 1, 1)
            certified_employee(org, *held, ends_on=ends_on, expires_on=expires_on, earned_on=earned_on,
                               email=f"p{i}-{j}@generated.example")
        if rng.random() < 0.3:
            OverrideFactory(organization=org, competency=rng.choice(catalog), level=rng.choice(["silver", "gold"]),
                            starts_on=TODAY - 10 * DAY, expires_on=TODAY + 80 * DAY)
        certified_employee(org, email=f"reader{i}@generated.example")
        orgs.append(org)
    ids = [o.pk for o in orgs]
    statuses_refresh(organization_ids=ids, day=TODAY - 40 * DAY)
    statuses_refresh(organization_ids=ids, day=TODAY)
    return list(Organization.objects.filter(pk__in=ids).order_by("pk"))


def shown(rows):
    return [(r["competency"].id, r["result"].evaluated_level, r["result"].effective_level, r["result"].override)
            for r in rows]


def test_the_stored_levels_are_the_live_evaluations_for_generated_organizations(catalog):
    orgs = generated_organizations(catalog)
    assert any(achieved_competencies(o, day=TODAY) for o in orgs)  # the data holds levels to compare
    for org in orgs:
        assert org.statuses_as_of == TODAY and current_levels(org, day=TODAY) is not None
        stored = shown(achieved_competencies(org, day=TODAY))
        org.statuses_as_of = TODAY - DAY  # not current: evaluated live
        assert current_levels(org, day=TODAY) is None
        assert stored == shown(achieved_competencies(org, day=TODAY))


def _achieved_section(body: str) -> str:
    start = body.index('<h2>Competencies achieved</h2>')
    return body[start:body.index("</table>", start) if "</table>" in body[start:] else start + 400]


def test_the_dashboard_is_the_same_from_stored_statuses_and_live_with_fewer_queries(client, catalog):
    orgs = generated_organizations(catalog)
    for i, org in enumerate(orgs):
        client.force_login(org.associations.get(employee__email=f"reader{i}@generated.example").employee)
        with CaptureQueriesContext(connection) as stored:
            from_stored = client.get(reverse("dashboard:home")).content.decode()
        Organization.objects.filter(pk=org.pk).update(statuses_as_of=TODAY - DAY)
        with CaptureQueriesContext(connection) as live:
            from_live = client.get(reverse("dashboard:home")).content.decode()
        assert _achieved_section(from_stored) == _achieved_section(from_live)
        assert len(stored.captured_queries) < len(live.captured_queries)


def test_a_change_of_the_day_moves_the_marker_back_as_it_commits_so_pages_evaluate_live(
    catalog, django_capture_on_commit_callbacks, monkeypatch
):
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533", starts_on=TODAY - 100 * DAY)
    statuses_refresh(organization_ids=[org.pk], day=TODAY)
    org.refresh_from_db()
    assert [r["competency"].slug for r in achieved_competencies(org, day=TODAY)] == ["cloud-platform"]
    markers_seen = []
    monkeypatch.setattr(hooks.reevaluation_requested, "send", lambda **kwargs: markers_seen.append(
        Organization.objects.get(pk=org.pk).statuses_as_of))  # the re-evaluation has not run yet
    with django_capture_on_commit_callbacks(execute=True):
        association_end(employee=jane, on=TODAY)
    assert markers_seen == [TODAY - DAY]
    org.refresh_from_db()
    assert current_levels(org, day=TODAY) is None
    assert achieved_competencies(org, day=TODAY) == []  # live: Jane's departure shows at once
    statuses_refresh(organization_ids=[org.pk], day=TODAY)
    org.refresh_from_db()
    assert (org.statuses_as_of, achieved_competencies(org, day=TODAY)) == (TODAY, [])
