"""Shared fixtures: three personas (admin, teammate, outsider) of two organizations."""

import os

import pytest
from hypothesis import HealthCheck, settings

from . import figures
from .factories import AssociationFactory, EmployeeFactory, OrganizationFactory

# Property-based tests (hypothesis): no deadline (the machine is shared, timings belong in benchmarks); the
# database fixture is shared by the examples on purpose, each asserting it is left unchanged. HYPOTHESIS_EXAMPLES
# sets how many inputs each property tries (`make stress` asks for more).
settings.register_profile(
    "project",
    deadline=None,
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile("project")


def pytest_sessionfinish(session, exitstatus):
    from django.conf import settings as django_settings

    if not django_settings.configured:
        return
    engine = django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = django_settings.CELERY_BROKER_URL.split("://", 1)[0]
    figures.write(database=engine, broker=broker)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Fabrikam", mpn_id="1000001")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Northwind", mpn_id="2000002")


@pytest.fixture
def admin(org):
    """An admin of `org`, associated with it."""
    employee = EmployeeFactory(email="alice@fabrikam.example", name="Alice Admin")
    AssociationFactory(employee=employee, organization=org)
    org.admins.add(employee)
    return employee


@pytest.fixture
def teammate(org):
    employee = EmployeeFactory(email="bob@fabrikam.example", name="Bob Teammate")
    AssociationFactory(employee=employee, organization=org)
    return employee


@pytest.fixture
def outsider(other_org):
    employee = EmployeeFactory(email="olga@northwind.example", name="Olga Outsider")
    AssociationFactory(employee=employee, organization=other_org)
    other_org.admins.add(employee)
    return employee


@pytest.fixture(scope="session", autouse=True)
def compiled_translations():
    """The compiled catalogs (.mo, gitignored) are what the .po files say, however the suite was started."""
    from partnercenter.translations import compile_catalogs

    compile_catalogs()


@pytest.fixture(autouse=True)
def english_after_each_test():
    """A request activates its language in this thread and leaves it there: the next test starts in English."""
    yield
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
