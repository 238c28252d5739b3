"""Employees in Django admin (superusers): the email is the login, stored in lower case, unique whatever its case."""

import pytest

from competencies.models import Employee

from .factories import EmployeeFactory

ADD = "/admin/competencies/employee/add/"
NEW_PASSWORD = "Abcdef-12345!"


@pytest.fixture
def superuser_client(client, db):
    client.force_login(Employee.objects.create_superuser("root@partnercenter.example", "a-long-root-password-1"))
    return client


def add(client, email):
    return client.post(ADD, {"email": email, "name": "Jane Doe", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
                             "usable_password": "true"})


def test_it_stores_an_added_employees_email_in_lower_case(superuser_client):
    assert add(superuser_client, "  Jane.Doe@Fabrikam.Example ").status_code == 302
    assert Employee.objects.filter(name="Jane Doe").get().email == "jane.doe@fabrikam.example"


def test_it_refuses_an_email_that_differs_only_by_case_with_a_clear_error(superuser_client):
    EmployeeFactory(email="jane.doe@fabrikam.example")
    response = add(superuser_client, "JANE.DOE@fabrikam.example")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"email": ["An employee with this email already exists."]}
    assert Employee.objects.filter(email__iexact="jane.doe@fabrikam.example").count() == 1


def test_it_refuses_a_change_to_another_employees_email_in_another_case(superuser_client):
    EmployeeFactory(email="jane.doe@fabrikam.example")
    sam = EmployeeFactory(email="sam@fabrikam.example", name="Sam")
    form = superuser_client.get(f"/admin/competencies/employee/{sam.pk}/change/").context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(email="Jane.Doe@Fabrikam.example", is_active="on", groups=[], user_permissions=[])
    response = superuser_client.post(f"/admin/competencies/employee/{sam.pk}/change/", data)
    assert response.context["adminform"].form.errors == {"email": ["An employee with this email already exists."]}
    sam.refresh_from_db()
    assert sam.email == "sam@fabrikam.example"
