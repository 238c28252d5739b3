"""The what-if planner: hypothetical changes evaluated in memory by the engine's own code, the plan in the URL,
bad plans answered with a message, another organization's people answered with 404, a fixed number of queries."""

import datetime
from urllib.parse import urlencode

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from competencies.engine import evaluate
from competencies.forecast import forecast, upcoming_changes
from competencies.forecast_store import forecast_refresh
from competencies.models import CompetencyStatus, EarnedCredential, ForecastChange, Metric, StatusChange
from competencies.what_if import Plan, what_if_evaluate

from .factories import (
    EmployeeFactory,
    InvitationFactory,
    MembershipFactory,
    MembershipPlanFactory,
    MetricValueFactory,
    build_competency,
    certified_employee,
)
from .test_forecast import cloud, facts, organization_from  # noqa: F401 (the fixture and the generator the property reuses)

TODAY = datetime.date(2026, 12, 2)
URL = reverse("dashboard:what-if")


@pytest.fixture
def silver_org(org, admin):
    """Fabrikam, a Silver member: Cloud Platform at Silver (John Roe's 70-533); Gold also needs a 70-534 holder;
    Data Analytics at Silver needs 1,000 USD of revenue in 90 days."""
    build_competency(
        "cloud-platform", name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]},
               {"kind": "certified_people", "count": 1, "any_of": ["70-534"]}]],
    )
    build_competency(
        "data-analytics", name="Data Analytics",
        silver=[[{"kind": "metric", "metric": "revenue_usd", "window_days": 90, "at_least": 1000}]],
    )
    john = certified_employee(org, "70-533", name="John Roe")
    MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 6, 1))
    MembershipPlanFactory(level="silver", price_usd=1000)
    MembershipPlanFactory(level="gold", price_usd=4000)
    org.john = john
    return org


def get(client, user, params=(), language="en"):
    client.force_login(user)
    query = urlencode(list(params))
    with time_machine.travel(datetime.datetime(2026, 12, 2, 12, 0), tick=False):
        return client.get(f"{URL}?{query}" if query else URL, HTTP_ACCEPT_LANGUAGE=language)


def levels(response) -> dict[str, tuple[str, str]]:
    return {row["competency"].name: (row["today"], row["plan"]) for row in response.context["rows"]}


def test_it_shows_todays_levels_and_the_plans_when_nothing_changes(client, admin, silver_org):
    response = get(client, admin)
    assert response.status_code == 200
    assert levels(response) == {"Cloud Platform": ("silver", "silver"), "Data Analytics": ("none", "none")}


def test_it_drops_a_level_when_its_only_certified_person_leaves(client, admin, silver_org):
    response = get(client, admin, [("leave", silver_org.john.pk)])
    assert levels(response)["Cloud Platform"] == ("silver", "none")
    assert "John Roe leaves." in response.content.decode()
    renew = dict(response.context["decisions"])["Renew at Silver"]
    assert not renew.allowed


def test_it_raises_a_level_when_a_person_earns_a_credential_and_the_upgrade_becomes_possible(client, admin, silver_org):
    response = get(client, admin, [("earn_who", silver_org.john.pk), ("earn_code", "70-534"), ("earn_on", "2026-12-20"),
                                   ("day", "2026-12-20")])
    assert response.status_code == 200
    assert levels(response)["Cloud Platform"] == ("silver", "gold")
    decisions = dict(response.context["decisions"])
    assert decisions["Upgrade to Gold"].allowed and not decisions["Buy Gold"].allowed


def test_an_invited_person_brings_their_credentials_and_a_new_hire_brings_none(client, admin, silver_org, other_org):
    jane = certified_employee(other_org, "70-534", name="Jane Doe", email="jane@example.com")
    invitation = InvitationFactory(organization=silver_org, email=jane.email, expires_on=datetime.date(2027, 1, 1))
    assert levels(get(client, admin, [("invite", invitation.pk)]))["Cloud Platform"] == ("silver", "gold")
    hired = [("hire", "new@example.com")]
    assert levels(get(client, admin, hired))["Cloud Platform"] == ("silver", "silver")
    earned = [*hired, ("earn_who", "new@example.com"), ("earn_code", "70-534"), ("earn_on", "2026-12-02")]
    assert levels(get(client, admin, earned))["Cloud Platform"] == ("silver", "gold")


def test_a_metric_gain_counts_in_its_window(client, admin, silver_org):
    MetricValueFactory(organization=silver_org, metric=Metric.objects.get(slug="revenue_usd"),
                       period_end=datetime.date(2026, 11, 1), value=600)
    assert levels(get(client, admin, [("metric", "revenue_usd"), ("gain", "399")]))["Data Analytics"] == ("none", "none")
    assert levels(get(client, admin, [("metric", "revenue_usd"), ("gain", "400")]))["Data Analytics"] == ("none", "silver")


def test_it_writes_nothing(client, admin, silver_org):
    before = (CompetencyStatus.objects.count(), StatusChange.objects.count(), ForecastChange.objects.count())
    get(client, admin, [("leave", silver_org.john.pk), ("hire", "x@example.com")])
    assert (CompetencyStatus.objects.count(), StatusChange.objects.count(), ForecastChange.objects.count()) == before


EXPIRY = datetime.date(2027, 2, 3)


def coming(response) -> list[tuple]:
    return [(item["change"].day, item["competency"].name, item["change"].old_effective, item["change"].new_effective,
             item["change"].cause) for item in response.context["coming"]]


def test_a_plan_with_no_changes_forecasts_what_the_night_stored(client, admin, silver_org):
    EarnedCredential.objects.filter(employee=silver_org.john).update(expires_on=EXPIRY)
    MetricValueFactory(organization=silver_org, metric=Metric.objects.get(slug="revenue_usd"),
                       period_end=datetime.date(2026, 11, 1), value=1500)
    forecast_refresh(organization_ids=[silver_org.pk], day=TODAY)
    stored = [(c.day, c.competency.name, c.old_effective, c.new_effective, c.cause)
              for c in upcoming_changes(organization_id=silver_org.pk, day=TODAY)]
    assert stored == [(datetime.date(2027, 1, 30), "Data Analytics", "silver", "none", "metric_leaves"),
                      (EXPIRY, "Cloud Platform", "silver", "none", "expires")]

    assert coming(get(client, admin)) == stored
    assert coming(get(client, admin, [("day", "2027-01-10")])) == stored  # a later day alone changes nothing


def test_a_planned_departure_moves_the_forecast_change_to_its_day(client, admin, silver_org):
    EarnedCredential.objects.filter(employee=silver_org.john).update(expires_on=EXPIRY)

    response = get(client, admin, [("leave", silver_org.john.pk), ("day", "2027-01-10")])

    assert coming(response) == [(datetime.date(2027, 1, 10), "Cloud Platform", "silver", "none", "leaves")]
    body = response.content.decode()
    assert body.count('id="what-if-forecast"') == 1 and "John Roe stops counting for the organization" in body


def test_a_planned_credential_and_metric_gain_show_in_the_forecast_with_their_days(client, admin, silver_org):
    response = get(client, admin, [("earn_who", silver_org.john.pk), ("earn_code", "70-534"), ("earn_on", "2026-12-20"),
                                   ("metric", "revenue_usd"), ("gain", "1000"), ("day", "2027-01-05")])

    assert coming(response) == [
        (datetime.date(2026, 12, 20), "Cloud Platform", "silver", "gold", "earns"),
        (datetime.date(2027, 1, 5), "Data Analytics", "none", "silver", "metric_enters"),
        (datetime.date(2027, 4, 5), "Data Analytics", "silver", "none", "metric_leaves"),  # 90 days later
    ]


@pytest.mark.parametrize(("params", "message"), [
    ([("earn_who", "{john}"), ("earn_code", "99-999"), ("earn_on", "2026-12-02")], "unknown credential code"),
    ([("day", "2026-12-01")], "is in the past"),
    ([("day", "tomorrow")], "is not a date"),
    ([("earn_who", "ghost@example.com"), ("earn_code", "70-534"), ("earn_on", "2026-12-02")], "unknown person"),
    ([("leave", "abc")], "unknown person"),
    ([("hire", "not-an-email")], "is not an email address"),
    ([("metric", "revenue_usd"), ("gain", "lots")], "is not an amount"),
    ([("metric", "nope"), ("gain", "1")], "unknown metric"),
    ([("earn_who", "{john}"), ("earn_code", "70-534")], "needs a person, a code and a day"),
    ([("earn_who", "{john}"), ("earn_code", "70-534"), ("earn_on", "2027-01-01")], "after the plan"),
    ([("hire", f"p{n}@example.com") for n in range(51)], "at most 50 changes"),
    ([("hire", f"p{n}@example.com") for n in range(900)], "at most 50 changes"),
])
def test_a_bad_plan_gets_a_clear_message_and_the_form_again(client, admin, silver_org, params, message):
    params = [(k, v.replace("{john}", str(silver_org.john.pk))) for k, v in params]
    response = get(client, admin, params)
    body = response.content.decode()
    assert response.status_code == 400
    assert message in body and 'id="plan-errors"' in body and 'id="add-change"' in body


def test_a_million_changes_are_refused_before_any_view_runs(client, admin, silver_org):
    """Past DATA_UPLOAD_MAX_NUMBER_FIELDS Django itself refuses the query string: 400, not 500."""
    assert get(client, admin, [("hire", f"p{n}@example.com") for n in range(5000)]).status_code == 400


def test_another_organizations_people_and_invitations_are_not_found(client, admin, silver_org, outsider, other_org):
    invitation = InvitationFactory(organization=other_org, expires_on=datetime.date(2027, 1, 1))
    for params in ([("leave", outsider.pk)], [("invite", invitation.pk)],
                   [("earn_who", outsider.pk), ("earn_code", "70-533"), ("earn_on", "2026-12-02")]):
        response = get(client, admin, params)
        assert response.status_code == 404
        assert outsider.name not in response.content.decode()


def test_a_colleague_opens_the_shared_plan(client, teammate, silver_org):
    assert levels(get(client, teammate, [("leave", silver_org.john.pk)]))["Cloud Platform"] == ("silver", "none")


def queries_for(client, user, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert get(client, user, params).status_code == 200
    return len(queries)


def test_it_costs_the_same_queries_for_1_or_20_changes(client, admin, silver_org):
    people = [certified_employee(silver_org, "70-533", expires_on=datetime.date(2027, 3, n + 1)) for n in range(10)]
    invitations = [InvitationFactory(organization=silver_org, expires_on=datetime.date(2027, 1, 1)) for _ in range(3)]
    for n in range(3):
        EmployeeFactory(email=invitations[n].email)
    day = [("day", "2027-01-10")]
    one = [*day, ("leave", people[0].pk)]
    twenty = [*day, *[("leave", p.pk) for p in people[:8]], *[("invite", i.pk) for i in invitations],
              ("hire", "a@example.com"), ("hire", "b@example.com"), ("hire", "c@example.com"),
              *[pair for p in people[8:] for pair in (("earn_who", p.pk), ("earn_code", "70-534"), ("earn_on", "2027-01-01"))],
              ("earn_who", "a@example.com"), ("earn_code", "70-533"), ("earn_on", "2027-01-02"),
              ("metric", "revenue_usd"), ("gain", "5"), ("metric", "revenue_usd"), ("gain", "7"),
              ("earn_who", "b@example.com"), ("earn_code", "70-533"), ("earn_on", "2027-01-03")]
    assert sum(1 for k, _v in twenty if k in ("leave", "invite", "hire", "earn_who", "metric")) == 20
    queries_for(client, admin, one)  # warm the catalog snapshot
    assert queries_for(client, admin, one) == queries_for(client, admin, twenty)


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_it_speaks_the_readers_language(client, admin, silver_org, language):
    body = get(client, admin, [("leave", silver_org.john.pk), ("day", "2027-01-10")], language=language).content.decode()
    assert "Under the plan" not in body and "A person leaves" not in body
    assert 'id="what-if-forecast"' in body and "Coming year under the plan" not in body
    assert "John Roe" in body and "stops counting" not in body


@settings(max_examples=6, deadline=None)
@given(specs=st.lists(facts(), min_size=5, max_size=15))
def test_the_plan_with_no_changes_equals_todays_evaluation_and_forecast(cloud, specs):  # noqa: F811
    with transaction.atomic():
        ids = [organization_from(spec, cloud) for spec in specs]
        today = evaluate(organization_ids=ids, day=TODAY)
        for org_id in ids:
            found = what_if_evaluate(organization_id=org_id, plan=Plan(day=TODAY), today=TODAY)
            for competency_id, result in found.planned.items():
                expected = today[(org_id, competency_id)]
                assert (result.evaluated_level, result.effective_level) == (expected.evaluated_level,
                                                                            expected.effective_level)
                assert found.today[competency_id].effective_level == expected.effective_level
            assert found.coming == forecast(organization_ids=[org_id], day=TODAY)
        transaction.set_rollback(True)


def test_peoples_names_and_the_plans_values_are_escaped_in_the_forms(client, admin, silver_org):
    certified_employee(silver_org, "70-533", name='<b id="x">Eve</b>')
    body = get(client, admin, [("hire", "a@example.com"), ("metric", "revenue_usd"), ("gain", "1")]).content.decode()
    assert '<b id="x">' not in body and "&lt;b id=&quot;x&quot;&gt;Eve&lt;/b&gt;" in body
    assert '<input type="hidden" name="hire" value="a@example.com">' in body
