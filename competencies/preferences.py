"""An employee's preferences: the language of their pages and of the emails they receive."""

from django.conf import settings

from .countries import country_language
from .models import Employee, Organization


def employee_language_set(*, employee: Employee, language: str) -> None:
    """Save the language an employee chose with the switcher; their pages and emails use it from then on."""
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"unknown language {language!r}")
    if employee.language != language:
        Employee.objects.filter(pk=employee.pk).update(language=language)
        employee.language = language


def employee_sign_in_language(*, employee: Employee) -> str | None:
    """The language a sign-in applies: the employee's saved preference, or None when they have not chosen one.

    Signing in saves nothing: only the switcher does (`employee_language_set`). Until an
    employee chooses, the browser's Accept-Language (or the switcher's cookie) decides each page.
    """
    return employee.language if employee.language in dict(settings.LANGUAGES) else None


def email_language(*, employee: Employee, organization: Organization | None) -> str:
    """The language of an email to an employee about an organization: the employee's saved language, else the
    language the product speaks in the organization's country (`countries.country_language`), else English."""
    languages = dict(settings.LANGUAGES)
    if employee.language in languages:
        return employee.language
    spoken = country_language(organization.country) if organization is not None and organization.country else None
    return spoken or "en"
