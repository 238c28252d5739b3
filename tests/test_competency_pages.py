import datetime

import pytest
from django.urls import reverse

from competencies.models import Association

from .common import TODAY
from .factories import (
    AssociationFactory,
    CompetencyFactory,
    CredentialFactory,
    EarnedCredentialFactory,
    EmployeeFactory,
    OptionFactory,
    OverrideFactory,
    RequirementFactory,
)

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def cloud(db):
    competency = CompetencyFactory(slug="cloud-platform", name="Cloud Platform")
    CredentialFactory(code="70-533", title="Implementing Microsoft Azure Infrastructure Solutions")
    CredentialFactory(code="70-535", title="Architecting Microsoft Azure Solutions")
    silver = OptionFactory(competency=competency, level="silver", name="Certified people")
    RequirementFactory(option=silver, params={"count": 1, "any_of": ["70-533", "70-535"]})
    gold = OptionFactory(competency=competency, level="gold", name="Two certified people")
    RequirementFactory(option=gold, params={"count": 2, "any_of": ["70-533", "70-535"]})
    return competency


def test_the_list_groups_competencies_by_center_with_level_and_progress(client, teammate, cloud):
    EarnedCredentialFactory(employee=teammate, credential=CredentialFactory(code="70-533"))
    client.force_login(teammate)
    response = client.get(reverse("dashboard:competencies"))
    body = response.content.decode()
    assert cloud.center.name in body and "Cloud Platform" in body
    assert 'class="badge silver">Silver' in body
    assert "Two certified people" in body  # the gold option's progress bar
    assert '<progress class="progress" max="100" value="50"' in body


def test_the_list_shows_an_override_with_its_end_date(client, teammate, org, cloud):
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=TODAY, expires_on=datetime.date(2027, 2, 23))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:competencies")).content.decode()
    assert "Override until" in body and "Feb. 22, 2027" in body  # its last day (expires on Feb. 23)


def test_the_detail_shows_contributors_gap_and_key_people(client, teammate, admin, cloud):
    EarnedCredentialFactory(employee=teammate, credential=CredentialFactory(code="70-535"))
    client.force_login(admin)
    body = client.get(reverse("dashboard:competency", args=["cloud-platform"])).content.decode()
    assert "Bob Teammate" in body and "70-535" in body
    assert "1 more person" in body
    assert "If Bob Teammate leaves, Cloud Platform drops to" in body


def test_the_detail_never_shows_another_organizations_people(client, teammate, outsider, cloud):
    EarnedCredentialFactory(employee=outsider, credential=CredentialFactory(code="70-533"))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:competency", args=["cloud-platform"])).content.decode()
    assert "Olga Outsider" not in body


def test_an_unknown_competency_is_404(client, teammate, cloud):
    client.force_login(teammate)
    assert client.get(reverse("dashboard:competency", args=["no-such-thing"])).status_code == 404


def test_certifications_show_the_employees_own_credentials_and_what_they_count_for(client, teammate, outsider, cloud):
    EarnedCredentialFactory(employee=teammate, credential=CredentialFactory(code="70-533"), earned_on=datetime.date(2026, 3, 1))
    EarnedCredentialFactory(employee=outsider, credential=CredentialFactory(code="70-535"))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:certifications")).content.decode()
    assert "70-533" in body and "Cloud Platform" in body
    assert "70-535" not in body


def test_associating_with_another_organization_than_ones_own_is_refused(client, teammate, other_org):
    client.force_login(teammate)
    response = client.post(reverse("dashboard:associate"), {"mpn_id": other_org.mpn_id})
    assert response.status_code == 404
    assert not Association.objects.filter(employee=teammate, organization=other_org).exists()


def _page_queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_each_page_costs_the_same_queries_for_a_small_and_a_large_organization_and_at_most_15(
    client, teammate, org, other_org, cloud
):
    from .factories import InvitationFactory, certified_employee

    big = EmployeeFactory(email="big@northwind.example")
    AssociationFactory(employee=big, organization=other_org)
    for _ in range(60):
        certified_employee(other_org, "70-533", starts_on=datetime.date(2025, 1, 1))
    InvitationFactory(email=big.email)  # an invitation waiting shows on the dashboard: within the budget too
    urls = [reverse("dashboard:home"), reverse("dashboard:competencies"),
            reverse("dashboard:competency", args=["cloud-platform"])]
    counts = {}
    for who in (teammate, big):
        client.force_login(who)
        counts[who.pk] = [_page_queries(client, url) for url in urls]
    assert counts[teammate.pk] == counts[big.pk]
    assert max(counts[big.pk]) <= 15  # docs/performance.md: the page budget
