"""The evaluation engine: docs/design.md "Evaluation (as of a day D)", rule by rule, at its boundaries."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from competencies.engine import evaluate
from competencies.models import Credential, Override
from competencies.requirement_kinds import REQUIREMENT_KINDS, RequirementKind
from competencies.results import RequirementResult
from competencies.snapshot import catalog_snapshot

from .common import AZURE, DAY, D, people
from .factories import (
    AssociationFactory,
    CredentialFactory,
    EarnedCredentialFactory,
    EmployeeFactory,
    MetricFactory,
    MetricValueFactory,
    OrganizationFactory,
    OverrideFactory,
    build_competency,
    certified_employee,
)

CONSUMPTION = {"kind": "metric", "metric": "azure_consumption_usd", "window_days": 365,
               "at_least": {"developed": 15000, "developing": 10000}}


def result_of(org, competency, day=D, details=False):
    return evaluate(organization_ids=[org.pk], day=day, details=details)[(org.pk, competency.pk)]


def level_on(org, competency, day=D):
    return result_of(org, competency, day).evaluated_level


# --- Who counts: associations ----------------------------------------------------


def test_it_counts_an_employee_from_the_day_the_association_starts(cloud, org):
    certified_employee(org, "70-533", starts_on=D)
    assert level_on(org, cloud, D - DAY) == "none"
    assert level_on(org, cloud, D) == "silver"
    assert level_on(org, cloud, D + DAY) == "silver"


def test_it_stops_counting_an_employee_on_the_day_the_association_ends(cloud, org):
    certified_employee(org, "70-533", starts_on=D - 30 * DAY, ends_on=D)
    assert level_on(org, cloud, D - DAY) == "silver"
    assert level_on(org, cloud, D) == "none"
    assert level_on(org, cloud, D + DAY) == "none"


def test_it_counts_an_employee_for_the_new_organization_only_after_re_associating(cloud, org):
    other = OrganizationFactory()
    jane = certified_employee(org, "70-533", starts_on=D - 30 * DAY, ends_on=D)
    AssociationFactory(employee=jane, organization=other, starts_on=D)
    results = evaluate(organization_ids=[org.pk, other.pk], day=D)
    assert results[(org.pk, cloud.pk)].evaluated_level == "none"
    assert results[(other.pk, cloud.pk)].evaluated_level == "silver"


# --- Valid credentials --------------------------------------------------------------


def test_a_credential_counts_from_the_day_it_is_earned(cloud, org):
    certified_employee(org, "70-533", earned_on=D)
    assert level_on(org, cloud, D - DAY) == "none"
    assert level_on(org, cloud, D) == "silver"
    assert level_on(org, cloud, D + DAY) == "silver"


def test_a_credential_stops_counting_on_the_day_it_expires(cloud, org):
    certified_employee(org, "70-533", earned_on=D - 300 * DAY, expires_on=D)
    assert level_on(org, cloud, D - DAY) == "silver"
    assert level_on(org, cloud, D) == "none"
    assert level_on(org, cloud, D + DAY) == "none"


def test_a_retired_credential_counts_until_accepted_until(cloud, org):
    CredentialFactory(code="70-533")
    Credential.objects.filter(code="70-533").update(retired_on=D - 365 * DAY, accepted_until=D)
    certified_employee(org, "70-533", earned_on=D - 400 * DAY)
    assert level_on(org, cloud, D - DAY) == "silver"
    assert level_on(org, cloud, D) == "none"
    assert level_on(org, cloud, D + DAY) == "none"


def test_a_retired_credential_without_accepted_until_keeps_counting(cloud, org):
    CredentialFactory(code="70-533")
    Credential.objects.filter(code="70-533").update(retired_on=D - 365 * DAY)
    certified_employee(org, "70-533", earned_on=D - 400 * DAY)
    assert level_on(org, cloud, D) == "silver"


def test_an_expiry_before_accepted_until_wins(cloud, org):
    CredentialFactory(code="70-533")
    Credential.objects.filter(code="70-533").update(retired_on=D - 365 * DAY, accepted_until=D + 100 * DAY)
    certified_employee(org, "70-533", earned_on=D - 400 * DAY, expires_on=D)
    assert level_on(org, cloud, D - DAY) == "silver"
    assert level_on(org, cloud, D) == "none"


# --- certified_people: any_of, all_of, groups, distinct people ---------------------------


def test_any_of_counts_a_person_holding_one_of_the_list(db, org):
    competency = build_competency(silver=[[people(1, any_of=AZURE)]])
    certified_employee(org, "70-535")
    certified_employee(org, "70-999")
    assert level_on(org, competency) == "silver"


def test_all_of_needs_every_credential_of_the_list(db, org):
    competency = build_competency(silver=[[people(1, all_of=["70-347", "70-345"])]])
    half = certified_employee(org, "70-347")
    assert level_on(org, competency) == "none"
    EarnedCredentialFactory(employee=half, credential=CredentialFactory(code="70-345"))
    assert level_on(org, competency) == "silver"


def test_groups_need_the_same_person_to_hold_one_credential_of_every_group(db, org):
    competency = build_competency(silver=[[people(1, groups=[["AZ-FOUNDATIONS"], AZURE])]])
    certified_employee(org, "AZ-FOUNDATIONS")
    certified_employee(org, "70-533")
    assert level_on(org, competency) == "none"  # two different people each holding half do not count

    certified_employee(org, "AZ-FOUNDATIONS", "70-535")
    assert level_on(org, competency) == "silver"


def test_groups_count_the_people_holding_both_halves(db, org):
    competency = build_competency(silver=[[people(2, groups=[["AZ-FOUNDATIONS"], AZURE])]])
    certified_employee(org, "AZ-FOUNDATIONS", "70-533")
    certified_employee(org, "AZ-FOUNDATIONS")
    certified_employee(org, "70-535")
    result = result_of(org, competency)
    assert result.evaluated_level == "none"
    assert (result.options[0].requirements[0].have, result.options[0].requirements[0].need) == (1, 2)


def test_it_counts_a_person_holding_several_credentials_once(cloud, org):
    certified_employee(org, "70-533", "70-535")
    result = result_of(org, cloud)
    assert result.evaluated_level == "silver"
    gold = [o for o in result.options if o.level == "gold"][0]
    assert gold.requirements[0].have == 1 and not gold.met


def test_it_counts_a_person_once_even_with_the_same_credential_earned_twice(cloud, org):
    jane = certified_employee(org, "70-533", earned_on=D - 500 * DAY)
    EarnedCredentialFactory(employee=jane, credential=CredentialFactory(code="70-533"), earned_on=D - 10 * DAY)
    assert result_of(org, cloud).options[1].requirements[0].have == 1


def test_it_reaches_the_count_at_exactly_count_people(cloud, org):
    certified_employee(org, "70-533")
    certified_employee(org, "70-535", earned_on=D)
    assert level_on(org, cloud, D - DAY) == "silver"
    assert level_on(org, cloud, D) == "gold"


# --- metric -----------------------------------------------------------------------------------


@pytest.fixture
def consumption(db):
    return build_competency("consumption", silver=[[CONSUMPTION]])


def test_the_metric_window_excludes_its_first_day_and_includes_d(consumption, org):
    MetricValueFactory(organization=org, period_end=D - 365 * DAY, value=15000)  # (D - 365, D]: left out
    assert level_on(org, consumption) == "none"
    MetricValueFactory(organization=org, period_end=D, value=15000)
    assert level_on(org, consumption) == "silver"
    assert level_on(org, consumption, D - DAY) == "silver"  # both values in (D - 366, D - 1]
    assert level_on(org, consumption, D + 365 * DAY) == "none"  # the value of D is out of its own window then


def test_each_requirement_sums_its_own_window_when_windows_differ(consumption, org):
    quarterly = build_competency(silver=[[{**CONSUMPTION, "window_days": 90, "at_least": 15000}]])
    MetricValueFactory(organization=org, period_end=D - 90 * DAY, value=15000)
    assert level_on(org, quarterly) == "none"  # (D - 90, D] leaves D - 90 out
    assert level_on(org, consumption) == "silver"  # the 365-day window of the other competency holds it
    assert level_on(org, quarterly, D - DAY) == "silver"


def test_the_metric_counts_the_period_ending_just_inside_the_window(consumption, org):
    MetricValueFactory(organization=org, period_end=D - 364 * DAY, value=15000)
    assert level_on(org, consumption) == "silver"
    assert level_on(org, consumption, D + DAY) == "none"


def test_the_metric_ignores_periods_after_d(consumption, org):
    MetricValueFactory(organization=org, period_end=D + DAY, value=15000)
    assert level_on(org, consumption) == "none"
    assert level_on(org, consumption, D + DAY) == "silver"


def test_the_metric_sums_the_periods_of_the_window(consumption, org):
    for months in range(3):
        MetricValueFactory(organization=org, period_end=D - 30 * months * DAY, value=5000)
    assert level_on(org, consumption) == "silver"
    assert result_of(org, consumption).options[0].requirements[0].have == Decimal(15000)


def test_the_metric_threshold_depends_on_the_market(consumption, db):
    developed = OrganizationFactory(market="developed")
    developing = OrganizationFactory(market="developing")
    for o in (developed, developing):
        MetricValueFactory(organization=o, period_end=D, value=10000)
    results = evaluate(organization_ids=[developed.pk, developing.pk], day=D)
    assert results[(developed.pk, consumption.pk)].evaluated_level == "none"
    assert results[(developing.pk, consumption.pk)].evaluated_level == "silver"


def test_the_metric_threshold_is_met_at_exactly_at_least(db, org):
    competency = build_competency(silver=[[{**CONSUMPTION, "at_least": 15000}]])
    MetricValueFactory(organization=org, period_end=D, value=Decimal("14999.99"))
    assert level_on(org, competency) == "none"
    MetricValueFactory(organization=org, period_end=D - DAY, value=Decimal("0.01"))
    assert level_on(org, competency) == "silver"


# --- options and levels -----------------------------------------------------------------------------


def test_an_option_needs_every_requirement(db, org):
    competency = build_competency(silver=[[people(1, any_of=AZURE), CONSUMPTION]])
    certified_employee(org, "70-533")
    MetricValueFactory(organization=org, period_end=D, value=14000)
    assert level_on(org, competency) == "none"
    MetricValueFactory(organization=org, period_end=D - DAY, value=1000)
    assert level_on(org, competency) == "silver"


def test_a_level_is_attained_through_any_of_its_options(db, org):
    competency = build_competency(silver=[[CONSUMPTION], [people(1, any_of=AZURE)]])
    certified_employee(org, "70-533")
    result = result_of(org, competency)
    assert result.evaluated_level == "silver"
    assert result.met_option_id == result.options[1].option_id


def test_gold_alone_is_enough_for_gold(db, org):
    competency = build_competency(silver=[[CONSUMPTION]], gold=[[people(1, any_of=["MCSD"])]])
    certified_employee(org, "MCSD")
    result = result_of(org, competency)
    assert result.evaluated_level == "gold"
    assert result.met_option_id == result.options[1].option_id
    assert not result.options[0].met


def test_an_option_without_requirements_is_never_met(db, org):
    competency = build_competency(silver=[[]])
    assert level_on(org, competency) == "none"


def test_it_returns_every_competency_of_the_catalog_including_none(cloud, consumption, org):
    results = evaluate(organization_ids=[org.pk, 999999], day=D)
    assert set(results) == {(org.pk, cloud.pk), (org.pk, consumption.pk)}
    assert {r.evaluated_level for r in results.values()} == {"none"}


# --- overrides ------------------------------------------------------------------------------------------


def test_an_override_raises_the_effective_level_from_its_first_day_until_it_expires(cloud, org):
    override = OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D, expires_on=D + 90 * DAY)
    assert result_of(org, cloud, D - DAY).effective_level == "none"
    on = result_of(org, cloud, D)
    assert (on.evaluated_level, on.effective_level) == ("none", "gold")
    assert on.override == (override.pk, "gold", D + 90 * DAY)
    assert result_of(org, cloud, D + 89 * DAY).effective_level == "gold"
    assert result_of(org, cloud, D + 90 * DAY).effective_level == "none"
    assert result_of(org, cloud, D + 90 * DAY).override is None


def test_an_override_never_lowers_the_level(cloud, org):
    certified_employee(org, "70-533")
    certified_employee(org, "70-535")
    OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=D - DAY, expires_on=D + DAY)
    result = result_of(org, cloud)
    assert (result.evaluated_level, result.effective_level) == ("gold", "gold")


def test_an_override_raises_silver_to_gold(cloud, org):
    certified_employee(org, "70-533")
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D - DAY, expires_on=D + DAY)
    result = result_of(org, cloud)
    assert (result.evaluated_level, result.effective_level) == ("silver", "gold")


def test_a_revoked_override_raises_nothing_from_its_revocation_day(cloud, org):
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D - 10 * DAY, expires_on=D + 80 * DAY,
                    state=Override.State.REVOKED, revoked_on=D)
    assert (result_of(org, cloud).effective_level, result_of(org, cloud).override) == ("none", None)
    assert result_of(org, cloud, D + DAY).effective_level == "none"


def test_a_revoked_override_without_its_day_raises_nothing(cloud, org):
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D - DAY, expires_on=D + DAY,
                    state=Override.State.REVOKED)
    assert result_of(org, cloud).effective_level == "none"


def test_it_judges_an_override_active_on_a_past_day_by_its_dates_not_its_state_today(cloud, org):
    """docs/design.md: an override active on D (`starts_on <= D < expires_on`, not revoked), as of a day D in the past too."""
    expired = OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D - 90 * DAY, expires_on=D,
                              state=Override.State.EXPIRED)
    assert result_of(org, cloud, D - DAY).effective_level == "gold"  # its last day: it was active then
    assert result_of(org, cloud, D - DAY).override == (expired.pk, "gold", D)
    assert result_of(org, cloud, D).effective_level == "none"
    revoked = OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=D, expires_on=D + 90 * DAY,
                              state=Override.State.REVOKED, revoked_on=D + 10 * DAY)
    assert result_of(org, cloud, D + 9 * DAY).override == (revoked.pk, "silver", D + 90 * DAY)  # not yet revoked
    assert result_of(org, cloud, D + 10 * DAY).effective_level == "none"


def test_an_override_applies_to_its_competency_only(cloud, consumption, org):
    OverrideFactory(organization=org, competency=consumption, level="silver", starts_on=D - DAY, expires_on=D + DAY)
    assert result_of(org, cloud).effective_level == "none"
    assert result_of(org, consumption).effective_level == "silver"


# --- contributors, gap, one-away, progress ---------------------------------------------------------------


def test_it_names_the_contributors_and_their_credentials(cloud, org):
    certified_employee(org, "70-533", "70-535", "70-999", name="Jane Doe")
    certified_employee(org, "70-999", name="Sam Lee")
    silver = result_of(org, cloud, details=True).options[0].requirements[0]
    assert [(c.name, c.credentials) for c in silver.contributors] == [("Jane Doe", ["70-533", "70-535"])]


def test_it_names_contributors_of_each_group(db, org):
    competency = build_competency(silver=[[people(1, groups=[["AZ-FOUNDATIONS"], AZURE])]])
    certified_employee(org, "AZ-FOUNDATIONS", "70-535", name="Jane Doe")
    req = result_of(org, competency, details=True).options[0].requirements[0]
    assert [(c.name, c.credentials) for c in req.contributors] == [("Jane Doe", ["70-535", "AZ-FOUNDATIONS"])]


def test_the_gap_says_how_many_more_people_with_which_credentials(db, org):
    competency = build_competency(
        silver=[[people(1, any_of=AZURE)], [people(1, any_of=["70-535"])], [people(3, all_of=["70-347", "70-345"])]],
        gold=[[people(2, groups=[["AZ-FOUNDATIONS"], AZURE])]],
    )
    certified_employee(org, "70-347", "70-345")
    result = result_of(org, competency, details=True)
    gaps = [r.gap for o in result.options for r in o.requirements]
    assert gaps == [
        "1 more person with one of 70-533, 70-535",
        "1 more person with 70-535",
        "2 more people with all of 70-347, 70-345",
        "2 more people with AZ-FOUNDATIONS and one of 70-533, 70-535",
    ]
    assert result.options[0].requirements[0].summary == "1 person with one of 70-533, 70-535"


def test_the_gap_of_a_metric_names_the_amount_unit_and_window(consumption, org):
    MetricValueFactory(organization=org, period_end=D, value=12600)
    req = result_of(org, consumption, details=True).options[0].requirements[0]
    assert req.gap == "USD 2,400 more Azure consumption in the 365-day window"
    assert req.summary == "USD 15,000 Azure consumption in the 365-day window"
    assert (req.have, req.need, req.unit) == (Decimal(12600), Decimal(15000), "USD")


def test_a_met_requirement_has_no_gap(cloud, org):
    certified_employee(org, "70-533")
    result = result_of(org, cloud, details=True)
    assert result.options[0].requirements[0].gap == ""
    assert result.options[1].requirements[0].gap == "1 more person with one of 70-533, 70-535"


def test_gap_options_are_those_above_the_evaluated_level(cloud, org):
    assert [o.level for o in result_of(org, cloud).gap_options] == ["silver", "gold"]
    certified_employee(org, "70-533")
    result = result_of(org, cloud)
    assert result.next_level == "gold"
    assert [o.level for o in result.gap_options] == ["gold"]


def test_it_lists_the_employees_one_credential_away(db, org):
    competency = build_competency(
        silver=[[people(1, groups=[["AZ-FOUNDATIONS"], AZURE])]], gold=[[people(1, all_of=["70-347", "70-345"])]]
    )
    certified_employee(org, "AZ-FOUNDATIONS", "70-347", name="Zoe Martin")
    certified_employee(org, name="Nobody Yet")  # two credentials away from both
    certified_employee(None, "AZ-FOUNDATIONS", name="Not Associated")
    result = result_of(org, competency, details=True)
    silver, gold = (o.requirements[0] for o in result.options)
    assert [(a.name, a.missing) for a in silver.one_away] == [("Zoe Martin", ["70-533", "70-535"])]
    assert [(a.name, a.missing) for a in gold.one_away] == [("Zoe Martin", ["70-345"])]


def test_no_one_is_listed_one_away_from_a_met_requirement(cloud, org):
    certified_employee(org, "70-533")
    certified_employee(org, name="Sam Lee")
    result = result_of(org, cloud, details=True)
    assert result.options[0].requirements[0].one_away == []
    # Gold needs anyone with one of the codes: everyone who does not count is "one credential away", so no one is
    # named near; the page says "any of your N people" instead.
    gold = result.options[1].requirements[0]
    assert (gold.one_away, gold.others) == ([], 1)


def test_progress_is_have_over_need_capped_at_one_and_options_take_the_mean(db, org):
    competency = build_competency(silver=[[people(2, any_of=AZURE), {**CONSUMPTION, "at_least": 10000}]])
    certified_employee(org, "70-533")
    MetricValueFactory(organization=org, period_end=D, value=30000)
    option = result_of(org, competency).options[0]
    assert [r.progress for r in option.requirements] == [0.5, 1.0]
    assert option.progress == 0.75
    assert not option.met


# --- key people ---------------------------------------------------------------------------------------------------


def test_a_key_person_is_one_whose_departure_lowers_the_level(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    sam = certified_employee(org, "70-535", name="Sam Lee")
    certified_employee(org, name="Ann Other")
    result = result_of(org, cloud, details=True)
    assert result.effective_level == "gold"
    assert result.key_people == [(jane.pk, "Jane Doe", "silver"), (sam.pk, "Sam Lee", "silver")]


def test_no_one_is_key_when_another_person_would_hold_the_level(db, org):
    competency = build_competency(silver=[[people(1, any_of=AZURE)]])
    certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, "70-535", name="Sam Lee")
    assert result_of(org, competency, details=True).key_people == []


def test_a_sole_holder_takes_the_level_to_none(db, org):
    competency = build_competency(silver=[[people(1, any_of=AZURE)]])
    jane = certified_employee(org, "70-533", name="Jane Doe")
    assert result_of(org, competency, details=True).key_people == [(jane.pk, "Jane Doe", "none")]


def test_no_one_is_key_when_another_option_holds_the_level(db, org):
    competency = build_competency(silver=[[people(1, any_of=AZURE)], [CONSUMPTION]])
    certified_employee(org, "70-533", name="Jane Doe")
    MetricValueFactory(organization=org, period_end=D, value=20000)
    assert result_of(org, competency, details=True).key_people == []


def test_no_one_is_key_when_the_override_holds_the_level_up(cloud, org):
    certified_employee(org, "70-533", name="Jane Doe")
    OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=D - DAY, expires_on=D + DAY)
    assert result_of(org, cloud, details=True).key_people == []


def test_a_key_person_drops_the_level_to_what_the_override_holds(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, "70-535", name="Sam Lee")
    OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=D - DAY, expires_on=D + DAY)
    assert (jane.pk, "Jane Doe", "silver") in result_of(org, cloud, details=True).key_people


# --- set-based: a fixed number of queries ---------------------------------------------------------------------------


def _queries(ids, details=False):
    with CaptureQueriesContext(connection) as ctx:
        evaluate(organization_ids=ids, day=D, details=details)
    return len(ctx.captured_queries)


def test_the_number_of_queries_does_not_depend_on_organizations_employees_or_competencies(db):
    build_competency(silver=[[people(1, any_of=AZURE), CONSUMPTION]], gold=[[people(2, groups=[["AZ-F"], AZURE])]])
    one = OrganizationFactory()
    certified_employee(one, "70-533")
    MetricValueFactory(organization=one, period_end=D)
    single = _queries([one.pk])
    assert single == 6  # 1 for the catalog, 5 for the batch

    for n in range(4):
        build_competency(silver=[[people(1, any_of=AZURE), {**CONSUMPTION, "window_days": 90 * (n + 1)}]],
                         gold=[[people(3, all_of=AZURE)], [people(2, groups=[["AZ-F"], ["70-535"]])]])
    orgs = [OrganizationFactory(market="developing" if i % 2 else "developed") for i in range(50)]
    for i, o in enumerate(orgs):
        for _ in range(i % 4):
            certified_employee(o, "70-533", "AZ-F")
        MetricValueFactory(organization=o, period_end=D - i * DAY, value=500 * i)
        if i % 5 == 0:
            OverrideFactory(organization=o, competency=build_competency(slug="competency-x"), level="silver",
                            starts_on=D - DAY, expires_on=D + DAY)
    ids = [o.pk for o in orgs]
    assert _queries(ids) == single
    assert _queries(ids, details=True) == single
    assert len(evaluate(organization_ids=ids, day=D)) == 50 * 6


def test_it_reads_nothing_of_the_catalog_when_given_one(cloud, consumption, org):
    catalog = catalog_snapshot()
    with CaptureQueriesContext(connection) as ctx:
        evaluate(organization_ids=[org.pk], day=D, catalog=catalog)
    assert len(ctx.captured_queries) == 5


def test_a_catalog_change_is_seen_by_the_next_snapshot(db):
    competency = build_competency(silver=[[people(1, any_of=AZURE)]])
    org = OrganizationFactory()
    certified_employee(org, "70-533")
    assert result_of(org, competency).evaluated_level == "silver"
    requirement = competency.options.get().requirements.get()
    requirement.params = {**requirement.params, "count": 2}
    requirement.save()
    assert result_of(org, competency).evaluated_level == "none"
    Credential.objects.filter(code="70-533").update(accepted_until=D)
    requirement.params = {**requirement.params, "count": 1}
    requirement.save()
    assert result_of(org, competency).evaluated_level == "none"  # 70-533 no longer accepted on D


def test_it_can_keep_only_some_competencies_with_the_same_queries(db):
    wanted = build_competency(silver=[[people(1, any_of=AZURE)]])
    build_competency(silver=[[people(1, any_of=["70-535"])]])
    org = OrganizationFactory()
    certified_employee(org, "70-533")
    full = _queries([org.pk], details=True)
    with CaptureQueriesContext(connection) as ctx:
        results = evaluate(organization_ids=[org.pk], day=D, details=True, competency_ids=[wanted.pk])
    assert list(results) == [(org.pk, wanted.pk)]
    assert results[(org.pk, wanted.pk)].evaluated_level == "silver"
    assert len(ctx.captured_queries) == full
    assert list(evaluate(organization_ids=[org.pk], day=D, competency_ids=[wanted.pk])) == [(org.pk, wanted.pk)]


def test_it_reads_nothing_for_no_organizations(cloud):
    with CaptureQueriesContext(connection) as ctx:
        assert evaluate(organization_ids=[], day=D) == {}
    assert len(ctx.captured_queries) == 0


# --- a new kind is one entry ---------------------------------------------------------------------------------------------


class AlwaysMet(RequirementKind):
    def evaluate(self, req, facts, *, details):
        return RequirementResult(req.id, req.kind, True, 1, 1, "", 1.0)


def test_a_new_requirement_kind_is_one_registry_entry(db, org, monkeypatch):
    monkeypatch.setitem(REQUIREMENT_KINDS, "always", AlwaysMet())
    competency = build_competency(silver=[[{"kind": "always"}]])
    assert level_on(org, competency) == "silver"


def test_an_unknown_requirement_kind_is_never_met(db, org):
    competency = build_competency(silver=[[{"kind": "customer_references", "count": 3}]])
    assert level_on(org, competency) == "none"


def test_an_employee_without_an_organization_counts_for_no_one(cloud, org):
    jane = EmployeeFactory()
    EarnedCredentialFactory(employee=jane, credential=CredentialFactory(code="70-533"))
    MetricFactory()
    assert level_on(org, cloud) == "none"


def test_the_catalog_is_read_in_one_query_with_its_dates_and_translations(db):
    build_competency(silver=[[people(1, any_of=AZURE)]], gold=[[people(2, any_of=AZURE), CONSUMPTION]])
    Credential.objects.filter(code="70-533").update(accepted_until=D, names={"zh-hans": "某考试"})
    catalog_snapshot()
    with CaptureQueriesContext(connection) as ctx:
        snapshot = catalog_snapshot()
    assert len(ctx.captured_queries) == 1
    pk = Credential.objects.get(code="70-533").pk
    assert snapshot.accepted_until[pk] == D and isinstance(snapshot.accepted_until[pk], datetime.date)
    assert snapshot.titles["70-533"][1] == {"zh-hans": "某考试"}
    Credential.objects.create(code="AZ-999", title="Named by no requirement")
    assert "AZ-999" not in catalog_snapshot().titles  # a credential no requirement names is left out
