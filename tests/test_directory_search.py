"""The directory's search (`q`: name and keywords), its word on invalid filters, and its pages at any size."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from competencies import models as cm
from memberships import models as mm

from .factories import CompetencyFactory

TERM_START = datetime.date(2026, 7, 1)


pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def cloud(db):
    return CompetencyFactory(slug="cloud-platform", name="Cloud Platform")


def listed(count: int, competency, *, start: int = 0, **fields) -> None:
    """`count` public members displaying `competency` at Silver (bulk, a few queries)."""
    organizations = cm.Organization.objects.bulk_create(
        cm.Organization(mpn_id=str(7_000_000 + n), name=fields.get("name", f"Partner {n:05d}"),
                        description=fields.get("description", ""), country=fields.get("country", "Germany"))
        for n in range(start, start + count)
    )
    organizations = list(cm.Organization.objects.filter(mpn_id__in=[o.mpn_id for o in organizations]))
    mm.Membership.objects.bulk_create(
        mm.Membership(organization=o, level="silver", purchased_on=TERM_START, starts_on=TERM_START,
                      ends_on=datetime.date(2027, 7, 1))
        for o in organizations
    )
    cm.StatusChange.objects.bulk_create(
        cm.StatusChange(organization=o, competency=competency, day=datetime.date(2026, 8, 1), old_evaluated="none",
                        new_evaluated="silver", old_effective="none", new_effective="silver", cause="first_evaluation")
        for o in organizations
    )


def names(response) -> list[str]:
    return re.findall(r'<a href="/partners/\d+/"><strong>([^<]+)</strong>', response.content.decode())


def test_it_searches_partners_by_name_and_keywords(client, cloud):
    listed(1, cloud, name="Contoso Cloud Experts", description="Azure migrations in Munich")
    listed(1, cloud, start=1, name="Fabrikam Data", description="Power BI dashboards for retail")
    data = CompetencyFactory(slug="data-analytics", name="Data Analytics")
    listed(1, data, start=2, name="Northwind", description="")
    for q, expected in [
        ("contoso", ["Contoso Cloud Experts"]),
        ("MUNICH azure", ["Contoso Cloud Experts"]),  # every word, any case, name or description
        ("retail", ["Fabrikam Data"]),
        ("analytics", ["Northwind"]),  # the name of a competency it displays
        ("7000001", ["Fabrikam Data"]),  # the MPN ID
        ("azure retail", []),
    ]:
        assert sorted(names(client.get(reverse("partners"), {"q": q}))) == expected, q


def test_it_names_an_invalid_filter_and_applies_the_valid_ones(client, cloud):
    listed(2, cloud)
    response = client.get(reverse("partners"), {"competency": "no-such-thing", "level": "platinum", "q": "00001"})
    body = response.content.decode()
    assert response.status_code == 200 and 'id="filter-errors"' in body
    assert "“no-such-thing” is not a competency of the directory." in body
    assert "“platinum” is not a level: choose Silver or Gold." in body
    assert names(response) == ["Partner 00001"]  # the search still applies
    assert 'id="filter-errors"' not in client.get(reverse("partners"), {"level": "gold"}).content.decode()


def test_it_names_an_invalid_filter_in_chinese(client, cloud):
    listed(1, cloud)
    body = client.get(reverse("partners"), {"level": "platinum"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "“platinum”不是级别" in body


def test_it_pages_search_results_and_keeps_the_search_in_the_links(client, cloud):
    listed(60, cloud)
    response = client.get(reverse("partners"), {"q": "partner", "page": 2})
    assert len(names(response)) == 25 and response.context["total"] == 60
    assert "?q=partner&amp;page=3" in response.content.decode()


def test_it_reads_a_page_of_the_directory_in_the_same_number_of_queries_for_10_or_2000_partners(client, cloud):
    counts = []
    for total in (10, 2000):
        listed(total - cm.Organization.objects.count(), cloud, start=cm.Organization.objects.count())
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("partners"), {"q": "partner", "level": "silver"})
        assert response.context["total"] == total
        counts.append(len(queries))
    assert counts[0] == counts[1]
