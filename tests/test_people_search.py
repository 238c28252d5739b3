"""People searches, sorts and pages; a competency's contributors and history page; credentials shown with their titles."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from competencies import models as cm

from .common import TODAY
from .factories import StatusChangeFactory, build_competency, certified_employee

TITLE = "Implementing Microsoft Azure Infrastructure Solutions"


pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def cloud(db):
    competency = build_competency(
        "cloud-platform",
        name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 3, "any_of": ["70-533", "70-535"]}]],
    )
    cm.Credential.objects.filter(code="70-533").update(title=TITLE)
    return competency


def many_members(organization, count: int, *, code: str = "70-533") -> None:
    """`count` employees counting for `organization`, each holding `code` (bulk: no password hashing)."""
    start = cm.Employee.objects.count()
    cm.Employee.objects.bulk_create(
        cm.Employee(email=f"bulk{start + n}@example.com", name=f"Bulk {start + n:05d}", password="!")
        for n in range(count)
    )
    employees = list(cm.Employee.objects.filter(email__startswith="bulk").order_by("pk"))[-count:]
    credential = cm.Credential.objects.get(code=code)
    cm.Association.objects.bulk_create(
        cm.Association(employee=e, organization=organization, starts_on=datetime.date(2026, 1, 1)) for e in employees
    )
    cm.EarnedCredential.objects.bulk_create(
        cm.EarnedCredential(employee=e, credential=credential, earned_on=datetime.date(2026, 1, 1)) for e in employees
    )


def test_it_shows_credentials_with_their_titles_on_the_people_page(client, admin, org, cloud):
    certified_employee(org, "70-533", name="Carol Certified")
    client.force_login(admin)
    body = client.get(reverse("dashboard:people")).content.decode()
    assert f"70-533 {TITLE}" in body


def test_it_shows_credentials_with_their_titles_on_the_competency_page(client, admin, org, cloud):
    certified_employee(org, "70-533", name="Carol Certified")
    certified_employee(org, "70-535", name="Dan Almost")
    client.force_login(admin)
    body = client.get(reverse("dashboard:competency", args=["cloud-platform"])).content.decode()
    assert body.count(f"70-533 {TITLE}") >= 3  # the requirement's credentials (folded), a contributor, the one-away line
    assert "70-535 Exam 70-535" in body


def test_it_searches_people_by_name_email_or_credential(client, admin, org, cloud):
    certified_employee(org, "70-533", name="Carol Certified", email="carol@fabrikam.example")
    certified_employee(org, name="Dan Nothing", email="dan@fabrikam.example")
    client.force_login(admin)
    for q in ("carol", "CAROL@fabrikam", "70-533"):
        body = client.get(reverse("dashboard:people"), {"q": q}).content.decode()
        assert "Carol Certified" in body and "Dan Nothing" not in body, q
    body = client.get(reverse("dashboard:people"), {"q": "nobody-like-this"}).content.decode()
    assert "No one matches your search." in body


def test_it_sorts_people_and_falls_back_to_name_on_an_unknown_sort(client, admin, org, cloud):
    certified_employee(org, name="Zed Early", starts_on=datetime.date(2025, 1, 1))
    certified_employee(org, name="Amy Late", starts_on=datetime.date(2026, 6, 1))
    client.force_login(admin)

    def order(sort):
        rows = client.get(reverse("dashboard:people"), {"sort": sort}).context["page"].object_list
        return [row["employee"].name for row in rows if row["employee"].name in ("Zed Early", "Amy Late")]

    assert order("name") == ["Amy Late", "Zed Early"]
    assert order("-name") == ["Zed Early", "Amy Late"]
    assert order("since") == ["Zed Early", "Amy Late"]
    assert order("-since") == ["Amy Late", "Zed Early"]
    assert order("'; drop table") == ["Amy Late", "Zed Early"]


def test_it_pages_people_and_keeps_the_search_in_the_page_links(client, admin, org, cloud):
    many_members(org, 120)
    client.force_login(admin)
    response = client.get(reverse("dashboard:people"), {"q": "bulk", "sort": "-name", "page": 2})
    page = response.context["page"]
    assert page.number == 2 and page.paginator.count == 120 and len(page.object_list) == 50
    assert page.object_list[0]["employee"].name == "Bulk 00070"  # Bulk 00001..00120 (the admin is employee 0), descending
    assert "q=bulk&amp;sort=-name&amp;page=3" in response.content.decode()


@pytest.mark.parametrize("url_name", ["dashboard:people", "dashboard:competency"])
def test_it_reads_a_page_in_the_same_number_of_queries_for_10_or_2000_people(client, admin, org, cloud, url_name):
    args = ["cloud-platform"] if url_name == "dashboard:competency" else []
    client.force_login(admin)
    counts = []
    for total in (10, 2000):
        many_members(org, total - cm.Association.objects.filter(organization=org).count() + 1)
        client.get(reverse(url_name, args=args))  # warm the catalog snapshot and the session
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(url_name, args=args))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_it_pages_a_competency_s_long_contributors_and_history(client, admin, org, cloud):
    many_members(org, 60)
    for n in range(45):
        StatusChangeFactory(organization=org, competency=cloud, day=TODAY - datetime.timedelta(days=n))
    client.force_login(admin)
    url = reverse("dashboard:competency", args=["cloud-platform"])
    response = client.get(url)
    assert len(response.context["options"][0]["requirements"][0]["contributors"].object_list) == 25
    assert response.context["history"].paginator.num_pages == 3
    body = response.content.decode()
    assert "?contributors=2#option-" in body and "?history=2#history" in body
    second = client.get(url, {"contributors": 3, "history": 3})
    assert len(second.context["options"][0]["requirements"][0]["contributors"].object_list) == 10
    assert len(second.context["history"].object_list) == 5


def test_it_shows_the_same_people_page_to_a_teammate_without_admin_tools(client, teammate, org, cloud):
    client.force_login(teammate)
    response = client.get(reverse("dashboard:people"), {"q": "bob"})
    assert response.status_code == 200 and "Bob Teammate" in response.content.decode()
