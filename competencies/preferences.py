"""An employee's preferences: the language of their pages and of the emails they receive."""

from django.conf import settings

from .models import Employee


def employee_language_set(*, employee: Employee, language: str) -> None:
    """Save the language an employee chose with the switcher; their pages and emails use it from then on."""
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"unknown language {language!r}")
    if employee.language != language:
        Employee.objects.filter(pk=employee.pk).update(language=language)
        employee.language = language


def employee_sign_in_language(*, employee: Employee, current: str) -> str:
    """The language a sign-in applies: the employee's saved preference.

    An employee who has none yet keeps the language they signed in with
    (the browser's, or the switcher's on the sign-in page), and it is saved
    as their preference, so the emails they receive (at risk, reminders,
    referrals) are in the language they read the dashboard in.
    """
    languages = dict(settings.LANGUAGES)
    if employee.language in languages:
        return employee.language
    language = current if current in languages else settings.LANGUAGE_CODE
    employee_language_set(employee=employee, language=language)
    return language
