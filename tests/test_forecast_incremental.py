"""The stored forecast, brought from one day to the next: computed whole only where something may have moved.

An organization's forecast stored as of D' still holds from D on when none of its facts changed since: only
the days the horizon gained can hold new changes. Each kind of fact changing on the day the horizon gains
is found; a change of the day is marked in its own transaction and never lost; and whatever the mix, the
stored forecast equals the forecast computed whole (hypothesis).
"""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from competencies import forecast as forecast_module
from competencies.forecast import HORIZON_DAYS, forecast
from competencies.forecast_store import forecast_refresh
from competencies.models import Credential, ForecastChange, ForecastPending, Organization
from competencies.statuses import reevaluate_on_commit

from .factories import (
    AssociationFactory,
    EarnedCredentialFactory,
    EmployeeFactory,
    MetricValueFactory,
    OrganizationFactory,
    OverrideFactory,
    build_competency,
    certified_employee,
)
from .test_forecast import facts, organization_from

TODAY = datetime.date(2026, 12, 2)
ONE_DAY = datetime.timedelta(days=1)
TOMORROW = TODAY + ONE_DAY
GAINED = TOMORROW + datetime.timedelta(days=HORIZON_DAYS)  # the day tomorrow's horizon has and today's has not


@pytest.fixture
def cloud(db):
    """Silver: one person with 70-533 (or 70-534); gold: that and 500 USD of consumption in a 30-day window."""
    people = {"kind": "certified_people", "count": 1, "any_of": ["70-533", "70-534"]}
    return build_competency(
        "cloud-platform",
        name="Cloud Platform",
        silver=[[people]],
        gold=[[people, {"kind": "metric", "metric": "azure_consumption_usd", "window_days": 30, "at_least": 500}]],
    )


def stored(ids):
    return sorted(
        (c.organization_id, c.competency_id, c.day, c.old_evaluated, c.new_evaluated, c.old_effective,
         c.new_effective, c.cause)
        for c in ForecastChange.objects.filter(organization_id__in=ids)
    )


def computed(ids, day):
    return sorted(
        (c.organization_id, c.competency_id, c.day, c.old_evaluated, c.new_evaluated, c.old_effective,
         c.new_effective, c.cause)
        for c in forecast(organization_ids=ids, day=day)
    )


@pytest.fixture
def computed_whole(monkeypatch):
    """The organizations `forecast_refresh` computes whole, call by call."""
    calls = []
    real = forecast_module.forecast

    def spy(*, organization_ids, **kwargs):
        calls.append(sorted(organization_ids))
        return real(organization_ids=organization_ids, **kwargs)

    monkeypatch.setattr(forecast_module, "forecast", spy)
    return calls


def test_a_forecast_with_nothing_new_is_moved_on_without_computing_it(cloud, computed_whole):
    org = OrganizationFactory()
    certified_employee(org, "70-533", expires_on=TOMORROW)
    later = OrganizationFactory()
    certified_employee(later, "70-533", expires_on=TODAY + datetime.timedelta(days=40))
    forecast_refresh(organization_ids=[org.pk, later.pk], day=TODAY)
    assert [c[2] for c in stored([org.pk, later.pk])] == [TOMORROW, TODAY + datetime.timedelta(days=40)]

    computed_whole.clear()
    assert forecast_refresh(organization_ids=[org.pk, later.pk], day=TOMORROW) == 0

    assert computed_whole == []  # no fact of either changes on the day the horizon gained
    assert stored([org.pk, later.pk]) == computed([org.pk, later.pk], TOMORROW)  # the passed change is gone
    assert set(Organization.objects.values_list("forecast_as_of", flat=True)) == {TOMORROW}


def test_a_night_run_again_redoes_nothing(cloud, computed_whole):
    org = OrganizationFactory()
    certified_employee(org, "70-533", expires_on=TODAY + datetime.timedelta(days=40))
    forecast_refresh(organization_ids=[org.pk], day=TODAY)
    computed_whole.clear()
    assert forecast_refresh(organization_ids=[org.pk], day=TODAY) == 0
    assert computed_whole == []
    assert stored([org.pk]) == computed([org.pk], TODAY)


# Facts of an organization that change on `day` (and move a level then): the forecast's day the horizon gains
# here, the night's day in tests/test_carry_forward.py.


def expiring(org, day):
    certified_employee(org, "70-533", expires_on=day)


def leaving(org, day):
    employee = EmployeeFactory()
    AssociationFactory(employee=employee, organization=org, starts_on=TODAY - datetime.timedelta(days=10), ends_on=day)
    EarnedCredentialFactory(employee=employee, credential=Credential.objects.get(code="70-533"),
                            earned_on=TODAY - datetime.timedelta(days=10), expires_on=None)


def joining(org, day):
    employee = EmployeeFactory()
    AssociationFactory(employee=employee, organization=org, starts_on=day, ends_on=None)
    EarnedCredentialFactory(employee=employee, credential=Credential.objects.get(code="70-533"),
                            earned_on=TODAY - datetime.timedelta(days=10), expires_on=None)


def earning(org, day):
    employee = EmployeeFactory()
    AssociationFactory(employee=employee, organization=org, starts_on=TODAY - datetime.timedelta(days=10))
    EarnedCredentialFactory(employee=employee, credential=Credential.objects.get(code="70-533"),
                            earned_on=day, expires_on=None)


def metric_leaving(org, day):
    certified_employee(org, "70-533")
    MetricValueFactory(organization=org, period_end=day - datetime.timedelta(days=30), value=600)


def retiring(org, day):
    certified_employee(org, "70-534")
    Credential.objects.filter(code="70-534").update(accepted_until=day)  # as a catalog edit made beside the load


@pytest.mark.parametrize("fact", [expiring, leaving, joining, earning, metric_leaving, retiring],
                         ids=lambda f: f.__name__)
def test_a_fact_changing_on_the_day_the_horizon_gains_is_forecast(cloud, fact):
    Credential.objects.get_or_create(code="70-534")
    org, quiet = OrganizationFactory(), OrganizationFactory()
    certified_employee(quiet, "70-533")
    fact(org, GAINED)
    forecast_refresh(organization_ids=[org.pk, quiet.pk], day=TODAY)
    assert GAINED not in [c[2] for c in stored([org.pk])]

    forecast_refresh(organization_ids=[org.pk, quiet.pk], day=TOMORROW)

    assert GAINED in [c[2] for c in stored([org.pk])]
    assert stored([org.pk, quiet.pk]) == computed([org.pk, quiet.pk], TOMORROW)


def test_an_override_ending_on_the_day_the_horizon_gains_is_forecast(cloud):
    org = OrganizationFactory()
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=GAINED - datetime.timedelta(days=60),
                    expires_on=GAINED)
    forecast_refresh(organization_ids=[org.pk], day=TODAY)
    assert [(c[2], c[6]) for c in stored([org.pk])] == [(GAINED - datetime.timedelta(days=60), "gold")]

    forecast_refresh(organization_ids=[org.pk], day=TOMORROW)

    assert [(c[2], c[6]) for c in stored([org.pk])] == [
        (GAINED - datetime.timedelta(days=60), "gold"), (GAINED, "none")
    ]


def test_a_change_of_the_day_is_marked_in_its_transaction_and_read_whole_even_if_its_refresh_is_lost(
    cloud, django_capture_on_commit_callbacks
):
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533", expires_on=TODAY + datetime.timedelta(days=40))
    forecast_refresh(organization_ids=[org.pk], day=TODAY)
    assert len(stored([org.pk])) == 1

    with django_capture_on_commit_callbacks(execute=False):  # the re-evaluation it queues never runs
        with transaction.atomic():
            jane.earned_credentials.update(expires_on=None)
            reevaluate_on_commit(organization_ids=[org.pk], day=TODAY)
    assert list(ForecastPending.objects.values_list("organization_id", flat=True)) == [org.pk]

    forecast_refresh(organization_ids=[org.pk], day=TOMORROW)

    assert stored([org.pk]) == [] == computed([org.pk], TOMORROW)
    assert not ForecastPending.objects.exists()


def test_a_change_that_rolls_back_leaves_no_mark(cloud):
    org = OrganizationFactory()
    with transaction.atomic():
        reevaluate_on_commit(organization_ids=[org.pk], day=TODAY)
        transaction.set_rollback(True)
    assert not ForecastPending.objects.exists()


def test_a_catalog_change_marks_every_organization(cloud, django_capture_on_commit_callbacks):
    orgs = [OrganizationFactory() for _ in range(3)]
    ForecastPending.objects.create(organization=orgs[0], marked_on=TODAY - ONE_DAY)
    with django_capture_on_commit_callbacks(execute=False):
        reevaluate_on_commit(organization_ids=None, day=TODAY)
    assert sorted(ForecastPending.objects.values_list("organization_id", "marked_on")) == [
        (o.pk, TODAY) for o in orgs
    ]


# Whatever the facts and however many days pass, the forecast moved on equals the forecast computed whole.

NEAR = HORIZON_DAYS  # the facts gather around the end of the horizon, where the days it gains are


@settings(max_examples=10, deadline=None)
@given(specs=st.lists(facts(around=NEAR, through=NEAR + 12), min_size=10, max_size=25), steps=st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_the_forecast_moved_on_day_by_day_equals_the_forecast_computed_whole(cloud, specs, steps):
    Credential.objects.get_or_create(code="70-534")
    Credential.objects.filter(code="70-534").update(accepted_until=TODAY + datetime.timedelta(days=NEAR + 3))
    with transaction.atomic():
        ids = [organization_from(spec, cloud) for spec in specs]
        day = TODAY
        forecast_refresh(organization_ids=ids, day=day)
        for step in steps:
            day += datetime.timedelta(days=step)
            forecast_refresh(organization_ids=ids, day=day)
            assert stored(ids) == computed(ids, day)
        transaction.set_rollback(True)


def test_the_command_computes_every_forecast_whole_when_asked(cloud):
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533", expires_on=TODAY + datetime.timedelta(days=40))
    call_command("run_nightly", "--date", TODAY.isoformat(), "--no-send", stdout=io.StringIO())
    assert len(stored([org.pk])) == 1
    jane.earned_credentials.update(expires_on=None)  # written around the product: no change marks it

    call_command("run_nightly", "--date", TOMORROW.isoformat(), "--no-send", stdout=io.StringIO())
    assert len(stored([org.pk])) == 1  # the stored forecast moved on: nothing said the facts changed
    call_command("run_nightly", "--date", TOMORROW.isoformat(), "--no-send", "--forecast-whole", stdout=io.StringIO())

    assert stored([org.pk]) == [] == computed([org.pk], TOMORROW)
