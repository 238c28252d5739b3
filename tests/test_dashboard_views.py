import pytest
from django.urls import reverse

from .common import PASSWORD
from .factories import EmployeeFactory, MembershipFactory


def test_it_signs_in_with_email_in_any_case(client, admin):
    response = client.post(reverse("login"), {"username": "ALICE@Fabrikam.example", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("dashboard:home")


@pytest.mark.parametrize("email", ["alice@fabrikam.example", "nobody@fabrikam.example"])
def test_a_wrong_sign_in_does_not_say_which_part_was_wrong(client, admin, email):
    response = client.post(reverse("login"), {"username": email, "password": "wrong password"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Please enter a correct email and password" in body
    assert "_auth_user_id" not in client.session


def test_it_signs_out(client, admin):
    client.force_login(admin)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("name", ["home", "membership", "benefits", "competencies", "certifications"])
def test_dashboard_pages_need_a_sign_in(client, db, name):
    response = client.get(reverse(f"dashboard:{name}"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_dashboard_shows_the_employees_own_organization(client, teammate, org, outsider, other_org):
    MembershipFactory(organization=org, level="gold")
    client.force_login(teammate)
    body = client.get(reverse("dashboard:home")).content.decode()
    assert org.name in body and org.mpn_id in body
    assert other_org.name not in body and other_org.mpn_id not in body
    assert "Gold" in body


def test_the_navigation_reads_dashboard_membership_competencies_benefits(client, teammate):
    client.force_login(teammate)
    body = client.get(reverse("dashboard:home")).content.decode()
    positions = [body.index(reverse(f"dashboard:{n}")) for n in ["home", "membership", "competencies", "benefits"]]
    assert positions == sorted(positions)


def test_an_employee_with_no_organization_is_told_so(client, db):
    loner = EmployeeFactory()
    client.force_login(loner)
    response = client.get(reverse("dashboard:home"))
    assert "not associated with an organization" in response.content.decode()
    assert client.get(reverse("dashboard:membership")).status_code == 404


def test_it_sends_browsers_asking_for_favicon_ico_to_the_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


def test_an_organization_holding_no_competency_is_told_none_is_at_silver_today(client, teammate):
    """Not "yet": the organization may just have lost its only one (the at-risk banner says which)."""
    client.force_login(teammate)
    body = client.get(reverse("dashboard:home")).content.decode()
    assert "No competency is at Silver or above today." in body
