"""Shared fixtures: three personas (admin, teammate, outsider) of two organizations, the Cloud Platform competency,
the pages' frozen clock. The constants they use are in common.py."""

import os

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import cache
from hypothesis import HealthCheck, settings

from . import figures
from .common import NOW, cloud_platform
from .factories import PASSWORD, AssociationFactory, EmployeeFactory, OrganizationFactory

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


@pytest.fixture
def agent(db):
    """A Microsoft agent: staff, in the agents' group (its permissions are the migrations')."""
    agent = EmployeeFactory(email="ada@microsoft.example", name="Ada Agent", is_staff=True)
    agent.groups.add(Group.objects.get(name="agent"))
    return agent


@pytest.fixture
def agent_client(client, agent):
    client.login(username=agent.email, password=PASSWORD)
    return client


@pytest.fixture
def cloud(db):
    """Cloud Platform: Silver with one person holding 70-533 or 70-535, Gold with two."""
    return cloud_platform()


@pytest.fixture
def frozen():
    """The pages' clock stopped at NOW (a module asks for it with `pytestmark = pytest.mark.usefixtures("frozen")`)."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def empty_cache():
    """No count left by another test in the cache (the limits per hour and per minute)."""
    cache.clear()


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
