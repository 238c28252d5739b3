"""Which language an employee reads: pages follow the switcher's choice, else the browser; emails the saved
language, else the language of the organization's country, else English."""

import datetime

import pytest
from django.utils import translation

from competencies.countries import country_code, country_language, country_name
from competencies.invitations import invitation_send
from competencies.preferences import email_language, employee_language_set, employee_sign_in_language
from memberships.models import OutboundEmail
from tests.factories import EmployeeFactory, OrganizationFactory

TODAY = datetime.date(2026, 3, 2)


@pytest.mark.parametrize(("country", "language"), [
    ("China", "zh-hans"), ("Taiwan", "zh-hant"), ("Hong Kong SAR China", "zh-hant"), ("Macao SAR China", "zh-hant"),
    ("Singapore", "en"), ("United States", "en"), ("Germany", None), ("Atlantis", None), ("", None),
])
def test_it_speaks_the_first_official_language_of_a_country_the_product_has(country, language):
    assert country_language(country) == language


def test_it_names_countries_as_cldr_does_in_the_readers_language():
    assert (country_code("taiwan"), country_code(" United States "), country_code("Atlantis")) == ("TW", "US", None)
    assert country_name("China", "zh-hans") == "中国"
    assert country_name("Taiwan", "zh-hant") == "台灣"
    assert country_name("Germany", "zh-hant") == "德國"
    with translation.override("zh-hans"):
        assert country_name("United States") == "美国"
    assert country_name("Atlantis", "zh-hans") == "Atlantis"  # unknown: as stored


@pytest.mark.django_db
def test_an_email_goes_in_the_saved_language_else_the_countrys_else_english():
    taipei = OrganizationFactory(country="Taiwan")
    berlin = OrganizationFactory(country="Germany")
    chosen = EmployeeFactory(language="zh-hans")
    unchosen = EmployeeFactory(language="")
    assert email_language(employee=chosen, organization=taipei) == "zh-hans"
    assert email_language(employee=unchosen, organization=taipei) == "zh-hant"
    assert email_language(employee=unchosen, organization=berlin) == "en"
    assert email_language(employee=unchosen, organization=None) == "en"


@pytest.mark.django_db
def test_signing_in_applies_only_a_chosen_language_and_saves_none():
    employee = EmployeeFactory(language="")
    assert employee_sign_in_language(employee=employee) is None
    employee.refresh_from_db()
    assert employee.language == ""
    employee_language_set(employee=employee, language="zh-hant")
    assert employee_sign_in_language(employee=employee) == "zh-hant"
    with pytest.raises(ValueError):
        employee_language_set(employee=employee, language="klingon")
    employee.refresh_from_db()
    assert employee.language == "zh-hant"


@pytest.mark.django_db
def test_an_invitation_to_someone_without_a_preference_goes_in_the_inviting_countrys_language(
    django_capture_on_commit_callbacks,
):
    taipei = OrganizationFactory(country="Taiwan", name="Tailspin")
    inviter = EmployeeFactory(language="en")
    taipei.admins.add(inviter)
    EmployeeFactory(email="mei@example.com", language="")
    with django_capture_on_commit_callbacks(execute=True):
        invitation_send(organization=taipei, email="mei@example.com", invited_by=inviter, day=TODAY)
    email = OutboundEmail.objects.get(to_email="mei@example.com")
    assert email.language == "zh-hant"
