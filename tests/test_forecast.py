"""The forecast: each kind of future change at its boundary day, stored per organization, set-based, and equal
to evaluating every coming day directly (hypothesis)."""

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from competencies.engine import evaluate
from competencies.forecast import forecast, forecast_words, upcoming_changes
from competencies.forecast_store import forecast_refresh
from competencies.models import Credential, ForecastChange, Override

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

TODAY = datetime.date(2026, 12, 2)
ONE_DAY = datetime.timedelta(days=1)
BOUNDARY = datetime.date(2027, 2, 3)


@pytest.fixture
def cloud(db):
    """Silver: one person with 70-533; gold: that and 500 USD of consumption in a 30-day window."""
    return build_competency(
        "cloud-platform",
        name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[
            {"kind": "certified_people", "count": 1, "any_of": ["70-533"]},
            {"kind": "metric", "metric": "azure_consumption_usd", "window_days": 30, "at_least": 500},
        ]],
    )


def levels_on(org, competency, day):
    result = evaluate(organization_ids=[org.pk], day=day)[(org.pk, competency.pk)]
    return result.evaluated_level, result.effective_level


def test_it_forecasts_a_credential_valid_through_the_day_before_its_expiry(cloud):
    org = OrganizationFactory()
    certified_employee(org, "70-533", name="Jane Doe", expires_on=BOUNDARY)

    changes = forecast(organization_ids=[org.pk], day=TODAY)

    assert [(c.day, c.old_evaluated, c.new_evaluated, c.cause) for c in changes] == [
        (BOUNDARY, "silver", "none", "expires")
    ]
    assert changes[0].cause_params["name"] == "Jane Doe" and changes[0].cause_params["code"] == "70-533"
    assert levels_on(org, cloud, BOUNDARY - ONE_DAY) == ("silver", "silver")
    assert levels_on(org, cloud, BOUNDARY) == ("none", "none")


def test_it_forecasts_a_metric_value_leaving_its_window(cloud):
    org = OrganizationFactory()
    certified_employee(org, "70-533")
    period_end = BOUNDARY - datetime.timedelta(days=30)  # inside (D-1 - 30, D-1], outside (D - 30, D]
    MetricValueFactory(organization=org, period_end=period_end, value=600)
    assert period_end > TODAY

    changes = forecast(organization_ids=[org.pk], day=TODAY)

    assert [(c.day, c.new_evaluated, c.cause) for c in changes] == [
        (period_end, "gold", "metric_enters"), (BOUNDARY, "silver", "metric_leaves")
    ]
    assert changes[1].cause_params == {
        "kind": "metric_leaves", "metric_id": changes[1].cause_params["metric_id"], "metric": "Azure consumption",
        "period": period_end.isoformat(), "days": 30,
    }
    assert levels_on(org, cloud, BOUNDARY - ONE_DAY)[0] == "gold"
    assert levels_on(org, cloud, BOUNDARY)[0] == "silver"


def test_it_forecasts_the_day_after_an_overrides_last_day(cloud):
    org = OrganizationFactory()
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=TODAY, expires_on=BOUNDARY)

    changes = forecast(organization_ids=[org.pk], day=TODAY)

    assert [(c.day, c.old_effective, c.new_effective, c.old_evaluated, c.new_evaluated, c.cause) for c in changes] == [
        (BOUNDARY, "gold", "none", "none", "none", "override_ends")
    ]
    assert levels_on(org, cloud, BOUNDARY - ONE_DAY) == ("none", "gold")


def test_it_forecasts_a_retired_credentials_last_accepted_day(cloud):
    org = OrganizationFactory()
    certified_employee(org, "70-533", name="Jane Doe")
    Credential.objects.filter(code="70-533").update(retired_on=TODAY, accepted_until=BOUNDARY)

    changes = forecast(organization_ids=[org.pk], day=TODAY)

    assert [(c.day, c.new_evaluated, c.cause, c.cause_params["code"]) for c in changes] == [
        (BOUNDARY, "none", "retires", "70-533")
    ]
    assert levels_on(org, cloud, BOUNDARY - ONE_DAY)[0] == "silver"


def test_it_forecasts_a_person_leaving_and_names_the_fact_that_concerns_the_competency(cloud):
    org = OrganizationFactory()
    certified_employee(org, "70-533", name="Jane Doe", ends_on=BOUNDARY)
    certified_employee(org, "AZ-900", name="Someone Else", expires_on=BOUNDARY)  # not a credential of cloud

    [change] = forecast(organization_ids=[org.pk], day=TODAY)

    assert (change.day, change.cause, change.cause_params["name"]) == (BOUNDARY, "leaves", "Jane Doe")


def test_it_says_nothing_when_nothing_changes_in_the_year(cloud):
    org = OrganizationFactory()
    certified_employee(org, "70-533", expires_on=TODAY + datetime.timedelta(days=400))

    assert forecast(organization_ids=[org.pk], day=TODAY) == []


def test_it_says_the_cause_in_the_readers_language(cloud):
    org = OrganizationFactory()
    certified_employee(org, "70-533", name="Jane Doe", expires_on=BOUNDARY)
    [change] = forecast(organization_ids=[org.pk], day=TODAY)

    assert forecast_words(change.cause_params) == "Jane Doe's 70-533 expires"
    with translation.override("zh-hans"):
        assert "70-533" in forecast_words(change.cause_params)
        assert forecast_words(change.cause_params) != "Jane Doe's 70-533 expires"
    assert forecast_words({"kind": "expires"}) == ""  # a row edited beyond reading shows nothing, not a 500


def test_it_stores_the_forecast_replacing_the_organizations_previous_one(cloud):
    org, other = OrganizationFactory(), OrganizationFactory()
    jane = certified_employee(org, "70-533", name="Jane Doe", expires_on=BOUNDARY)
    certified_employee(other, "70-533", expires_on=BOUNDARY)

    assert forecast_refresh(organization_ids=[org.pk, other.pk], day=TODAY) == 2
    assert forecast_refresh(organization_ids=[org.pk, other.pk], day=TODAY) == 0  # idempotent: nothing to write
    assert ForecastChange.objects.count() == 2
    assert forecast_refresh(organization_ids=[org.pk, other.pk], day=TODAY, whole=True) == 2  # the same, again
    assert ForecastChange.objects.count() == 2

    jane.earned_credentials.update(expires_on=None)
    assert forecast_refresh(organization_ids=[org.pk], day=TODAY, whole=True) == 0
    assert list(ForecastChange.objects.values_list("organization_id", flat=True)) == [other.pk]
    [row] = upcoming_changes(organization_id=other.pk, day=TODAY)
    assert (row.day, row.competency, row.new_effective) == (BOUNDARY, cloud, "none")
    assert upcoming_changes(organization_id=other.pk, day=BOUNDARY) == []


def _organizations_with_the_same_days(count, cloud):
    orgs = []
    for _ in range(count):
        org = OrganizationFactory()
        certified_employee(org, "70-533", expires_on=BOUNDARY)
        MetricValueFactory(organization=org, period_end=TODAY, value=600)
        OverrideFactory(organization=org, competency=cloud, starts_on=TODAY, expires_on=BOUNDARY)
        orgs.append(org.pk)
    return orgs


def test_it_costs_the_same_queries_for_5_or_50_organizations(cloud):
    few, many = _organizations_with_the_same_days(5, cloud), _organizations_with_the_same_days(50, cloud)
    counts = []
    for ids in (few, many):
        forecast(organization_ids=ids, day=TODAY)  # the catalog snapshot, compiled once
        with CaptureQueriesContext(connection) as queries:
            assert len(forecast(organization_ids=ids, day=TODAY)) == len(ids) * 2
        counts.append(len(queries))
    assert counts[0] == counts[1]


HORIZON = 60


def facts(*, around: int = 0, through: int = HORIZON):
    """An organization's facts as offsets in days from TODAY (negative: in the past), the changes gathered from
    about `around` to `through` (by default the first HORIZON days)."""
    offset = st.integers(around - 40, through + 5)
    person = st.fixed_dictionaries({
        "starts": st.integers(-100, through), "ends": st.none() | offset,
        "earned": st.integers(-100, through), "expires": st.none() | offset,
        "code": st.sampled_from(["70-533", "70-534"]),
    })
    return st.fixed_dictionaries({
        "people": st.lists(person, max_size=3),
        "values": st.lists(st.tuples(st.integers(around - 35, through), st.sampled_from([200, 600])), max_size=3),
        "override": st.none() | st.tuples(
            st.integers(around - 30, around + 10), st.integers(1, through - around + 5), st.booleans()
        ),
    })


def organization_from(spec, cloud):
    """The organization `facts` describes, created; its id."""
    day = lambda offset: TODAY + datetime.timedelta(days=offset)  # noqa: E731
    org = OrganizationFactory()
    for p in spec["people"]:
        employee = EmployeeFactory()
        ends = p["ends"] if p["ends"] is None or p["ends"] >= p["starts"] else p["starts"]
        AssociationFactory(employee=employee, organization=org, starts_on=day(p["starts"]),
                           ends_on=None if ends is None else day(ends))
        expires = p["expires"] if p["expires"] is None or p["expires"] > p["earned"] else p["earned"] + 1
        EarnedCredentialFactory(employee=employee, credential=Credential.objects.get_or_create(code=p["code"])[0],
                                earned_on=day(p["earned"]), expires_on=None if expires is None else day(expires))
    for offset, value in {o: v for o, v in spec["values"]}.items():
        MetricValueFactory(organization=org, period_end=day(offset), value=value)
    if spec["override"]:
        start, length, revoked = spec["override"]
        OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=day(start),
                        expires_on=day(start + length), state="revoked" if revoked else "active",
                        revoked_on=day(start + length // 2) if revoked else None)
    return org.pk


@settings(max_examples=8)
@given(specs=st.lists(facts(), min_size=20, max_size=36))
def test_the_forecast_equals_evaluating_every_coming_day(cloud, specs):
    Credential.objects.get_or_create(code="70-534", defaults={"accepted_until": TODAY + datetime.timedelta(days=20)})
    Credential.objects.filter(code="70-534").update(accepted_until=TODAY + datetime.timedelta(days=20))
    with transaction.atomic():
        ids = [organization_from(spec, cloud) for spec in specs]
        expected = []
        before = {k: (r.evaluated_level, r.effective_level) for k, r in evaluate(organization_ids=ids, day=TODAY).items()}
        for offset in range(1, HORIZON + 1):
            on = TODAY + datetime.timedelta(days=offset)
            for key, r in sorted(evaluate(organization_ids=ids, day=on).items()):
                levels = (r.evaluated_level, r.effective_level)
                if levels != before[key]:
                    expected.append((key[0], key[1], on, *before[key], *levels))
                    before[key] = levels
        got = [
            (c.organization_id, c.competency_id, c.day, c.old_evaluated, c.old_effective, c.new_evaluated,
             c.new_effective)
            for c in forecast(organization_ids=ids, day=TODAY, horizon_days=HORIZON)
        ]
        assert sorted(got) == sorted(expected)
        transaction.set_rollback(True)
    assert not Override.objects.exists()
