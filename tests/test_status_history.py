"""Stored status and its history: `statuses_refresh`, the causes it records, re-evaluation on commit."""


import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from competencies.associations import association_end, association_start
from competencies.causes import cause_words
from competencies.models import Association, CompetencyStatus, Credential, Organization, Override, StatusChange
from competencies.statuses import statuses_refresh
from partnercenter.tasks import reevaluate_organizations

from .common import AZURE, DAY, D, people
from .factories import (
    AssociationFactory,
    CredentialFactory,
    EarnedCredentialFactory,
    MetricValueFactory,
    OrganizationFactory,
    OverrideFactory,
    build_competency,
    certified_employee,
)

CONSUMPTION = {"kind": "metric", "metric": "azure_consumption_usd", "window_days": 365, "at_least": 15000}


def refresh(org, day, **kwargs):
    return statuses_refresh(organization_ids=[org.pk], day=day, **kwargs)


def status(org, competency):
    return CompetencyStatus.objects.get(organization=org, competency=competency)


def changes(org, competency):
    return list(
        StatusChange.objects.filter(organization=org, competency=competency).values_list(
            "day", "old_evaluated", "new_evaluated", "old_effective", "new_effective", "cause", "cause_params"
        )
    )


def last_change(org, competency):
    return StatusChange.objects.filter(organization=org, competency=competency).last()


def words(change, language="en"):
    with translation.override(language):
        return cause_words(change.cause_params)


# --- storing the status ------------------------------------------------------------------------


def test_it_stores_one_status_per_organization_and_competency_with_the_summary(cloud, org):
    consumption = build_competency("consumption", silver=[[CONSUMPTION]])
    certified_employee(org, "70-533")
    result = refresh(org, D)
    assert (result.organizations, result.created, result.changes) == (1, 1, 1)
    stored = status(org, cloud)
    assert (stored.as_of, stored.evaluated_level, stored.effective_level) == (D, "silver", "silver")
    silver, gold = cloud.options.order_by("-level")
    assert stored.details == {
        "met_option_id": silver.pk,
        "next_level_progress": 0.5,
        "options": [
            {"id": silver.pk, "level": "silver", "met": True, "progress": 1.0},
            {"id": gold.pk, "level": "gold", "met": False, "progress": 0.5},
        ],
    }
    assert not CompetencyStatus.objects.filter(competency=consumption).exists()  # never had a level: no row
    org.refresh_from_db()
    assert org.statuses_as_of == D


def test_a_first_evaluation_above_none_is_recorded(cloud, org):
    certified_employee(org, "70-533")
    refresh(org, D)
    assert changes(org, cloud) == [(D, "none", "silver", "none", "silver", "first_evaluation", {})]


def test_a_first_evaluation_at_none_writes_no_history_and_no_status(cloud, org):
    result = refresh(org, D)
    assert (result.organizations, result.created, result.unchanged) == (1, 0, 1)
    assert (CompetencyStatus.objects.count(), StatusChange.objects.count()) == (0, 0)
    org.refresh_from_db()
    assert org.statuses_as_of == D  # evaluated all the same: the marker says so


def test_a_level_lost_keeps_its_row_at_none_and_a_level_regained_is_a_change_not_a_first_evaluation(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe", starts_on=D - 100 * DAY)
    refresh(org, D - DAY)
    jane.associations.update(ends_on=D)
    refresh(org, D)
    assert (status(org, cloud).evaluated_level, status(org, cloud).as_of) == ("none", D)
    certified_employee(org, "70-535", name="John Roe", starts_on=D + DAY)
    refresh(org, D + DAY)
    assert [c[1:3] + c[5:6] for c in changes(org, cloud)] == [
        ("none", "silver", "first_evaluation"), ("silver", "none", "association_ended"),
        ("none", "silver", "association_started"),
    ]


def test_re_evaluating_the_same_day_writes_nothing(cloud, org):
    certified_employee(org, "70-533")
    refresh(org, D)
    with CaptureQueriesContext(connection) as ctx:
        result = refresh(org, D)
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    assert (result.created, result.updated, result.unchanged, result.changes) == (0, 0, 1, 0)
    assert StatusChange.objects.count() == 1


def test_a_new_day_without_change_writes_no_status_only_the_marker(cloud, org, settings):
    settings.EVALUATION_BATCH_SIZE = 3
    build_competency("consumption", silver=[[CONSUMPTION]])  # at none everywhere: no rows
    orgs = [org, *(OrganizationFactory() for _ in range(6))]
    for o in orgs[::2]:
        certified_employee(o, "70-533")
    statuses_refresh(organization_ids=[o.pk for o in orgs], day=D)
    ids_before = set(CompetencyStatus.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as ctx:
        result = statuses_refresh(organization_ids=[o.pk for o in orgs], day=D + DAY)
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    table = CompetencyStatus._meta.db_table
    assert [w for w in writes if table in w or StatusChange._meta.db_table in w] == []
    assert len(writes) == 3  # one UPDATE of the markers per batch
    assert (result.organizations, result.created, result.updated, result.unchanged, result.changes) == (7, 0, 0, 14, 0)
    assert set(CompetencyStatus.objects.values_list("pk", flat=True)) == ids_before
    assert status(org, cloud).as_of == D + DAY
    assert StatusChange.objects.count() == 4


def test_a_status_stored_as_of_a_later_day_is_left_as_it_is(cloud, org):
    certified_employee(org, "70-533", starts_on=D)
    refresh(org, D)
    result = refresh(org, D - DAY)
    assert (result.skipped, result.organizations) == (1, 0)
    stored = status(org, cloud)
    assert (stored.as_of, stored.evaluated_level) == (D, "silver")
    assert StatusChange.objects.count() == 1


def test_history_is_never_rewritten(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    refresh(org, D)
    first = changes(org, cloud)
    Association.objects.filter(employee=jane).update(ends_on=D + DAY)
    refresh(org, D + DAY)
    assert changes(org, cloud)[:1] == first
    assert len(changes(org, cloud)) == 2


def test_it_stores_the_active_override(cloud, org):
    override = OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D, expires_on=D + 90 * DAY)
    refresh(org, D)
    stored = status(org, cloud)
    assert (stored.evaluated_level, stored.effective_level, stored.override_id) == ("none", "gold", override.pk)


# --- causes ----------------------------------------------------------------------------------------------------


def test_a_contributor_who_left_is_the_cause_of_a_loss(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    refresh(org, D - DAY)
    Association.objects.filter(employee=jane).update(ends_on=D)
    refresh(org, D)
    assert changes(org, cloud)[-1] == (
        D, "silver", "none", "silver", "none", "association_ended",
        {"kind": "left", "employee_id": jane.pk, "name": "Jane Doe", "day": "2026-11-20"},
    )


def test_a_contributor_who_moved_is_named_with_the_day(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, name="Sam Lee")
    refresh(org, D - 3 * DAY)
    Association.objects.filter(employee=jane).update(ends_on=D)
    AssociationFactory(employee=jane, organization=OrganizationFactory(), starts_on=D)
    refresh(org, D + DAY)
    change = last_change(org, cloud)
    assert (change.day, change.cause) == (D + DAY, "association_ended")
    assert change.cause_params == {"kind": "moved", "employee_id": jane.pk, "name": "Jane Doe", "day": "2026-11-20"}


def test_an_expired_credential_is_the_cause_of_a_loss(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe", earned_on=D - 300 * DAY, expires_on=D)
    refresh(org, D - DAY)
    refresh(org, D)
    change = last_change(org, cloud)
    assert (change.cause, change.cause_params) == (
        "credential_expired",
        {"kind": "expired", "employee_id": jane.pk, "name": "Jane Doe", "code": "70-533", "day": "2026-11-20"},
    )


def test_a_retired_credential_no_longer_accepted_is_the_cause_of_a_loss(cloud, org):
    CredentialFactory(code="70-533")
    Credential.objects.filter(code="70-533").update(retired_on=D - 365 * DAY, accepted_until=D)
    jane = certified_employee(org, "70-533", name="Jane Doe", earned_on=D - 400 * DAY)
    refresh(org, D - DAY)
    refresh(org, D)
    change = last_change(org, cloud)
    assert (change.cause, change.cause_params) == (
        "credential_retired",
        {"kind": "retired", "code": "70-533", "day": "2026-11-20", "employee_id": jane.pk, "name": "Jane Doe"},
    )


def test_a_metric_falling_short_is_the_cause_of_a_loss(db, org):
    competency = build_competency(silver=[[CONSUMPTION]])
    MetricValueFactory(organization=org, period_end=D - 365 * DAY, value=10000)  # leaves the window on D
    MetricValueFactory(organization=org, period_end=D - 30 * DAY, value=6000)
    refresh(org, D - DAY)
    refresh(org, D)
    change = last_change(org, competency)
    assert (change.old_evaluated, change.new_evaluated, change.cause) == ("silver", "none", "metric_changed")
    assert change.cause_params == {
        "kind": "metric_short", "metric": "Azure consumption", "days": 365, "have": "6000", "need": "15000", "unit": "USD"
    }
    assert words(change) == "Azure consumption in the 365-day window: USD 6,000, short of USD 15,000"


def test_a_departure_is_not_blamed_when_the_people_requirement_still_holds(db, org):
    competency = build_competency(silver=[[people(1, any_of=AZURE), CONSUMPTION]])
    jane = certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, "70-535", name="Sam Lee")
    MetricValueFactory(organization=org, period_end=D - 365 * DAY, value=15000)
    refresh(org, D - DAY)
    Association.objects.filter(employee=jane).update(ends_on=D)
    refresh(org, D)
    assert last_change(org, competency).cause == "metric_changed"


def test_an_association_is_the_cause_of_a_gain(cloud, org):
    refresh(org, D - DAY)
    jane = certified_employee(org, "70-533", name="Jane Doe", starts_on=D)
    refresh(org, D)
    assert changes(org, cloud)[-1] == (
        D, "none", "silver", "none", "silver", "association_started",
        {"kind": "associated", "employee_id": jane.pk, "name": "Jane Doe", "day": "2026-11-20"},
    )


def test_an_earned_credential_is_the_cause_of_a_gain(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    refresh(org, D - DAY)
    EarnedCredentialFactory(employee=jane, credential=CredentialFactory(code="70-535"), earned_on=D)
    certified_employee(org, "70-535", name="Sam Lee", earned_on=D)
    refresh(org, D)
    change = last_change(org, cloud)
    assert (change.old_evaluated, change.new_evaluated, change.cause) == ("silver", "gold", "credential_earned")
    assert words(change) in ("Jane Doe earned 70-535 on Nov. 20, 2026", "Sam Lee earned 70-535 on Nov. 20, 2026")


def test_a_metric_reaching_its_threshold_is_the_cause_of_a_gain(db, org):
    competency = build_competency(silver=[[CONSUMPTION]])
    refresh(org, D - DAY)
    MetricValueFactory(organization=org, period_end=D, value=16000)
    refresh(org, D)
    change = last_change(org, competency)
    assert (change.cause, words(change)) == (
        "metric_changed",
        "Azure consumption in the 365-day window: USD 16,000, reached USD 15,000",
    )


def test_an_applied_override_is_the_cause_when_only_the_effective_level_rises(cloud, org):
    certified_employee(org, "70-533")
    refresh(org, D - DAY)
    override = OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D, expires_on=D + 90 * DAY)
    refresh(org, D)
    assert changes(org, cloud)[-1] == (
        D, "silver", "silver", "silver", "gold", "override_applied",
        {"kind": "override_until", "override_id": override.pk, "level": "gold", "end": "2027-02-18"},
    )


def test_an_expired_override_is_the_cause_and_the_level_goes_back(cloud, org):
    certified_employee(org, "70-533")
    override = OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D - 90 * DAY, expires_on=D)
    refresh(org, D - DAY)
    assert status(org, cloud).effective_level == "gold"
    refresh(org, D)
    assert changes(org, cloud)[-1] == (
        D, "silver", "silver", "gold", "silver", "override_expired",
        {"kind": "override_expired", "override_id": override.pk, "level": "gold", "day": "2026-11-20"},
    )
    assert status(org, cloud).override_id is None


def test_a_revoked_override_is_the_cause(cloud, org):
    override = OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=D - 9 * DAY,
                               expires_on=D + 80 * DAY)
    refresh(org, D - DAY)
    Override.objects.filter(pk=override.pk).update(state=Override.State.REVOKED, revoked_on=D)
    refresh(org, D)
    assert changes(org, cloud)[-1] == (
        D, "none", "none", "silver", "none", "override_revoked",
        {"kind": "override_revoked", "override_id": override.pk, "level": "silver", "day": "2026-11-20"},
    )


def test_an_override_holding_the_level_up_records_the_evaluated_loss_only(cloud, org):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    OverrideFactory(organization=org, competency=cloud, level="silver", starts_on=D - 9 * DAY, expires_on=D + 80 * DAY)
    refresh(org, D - DAY)
    Association.objects.filter(employee=jane).update(ends_on=D)
    refresh(org, D)
    assert changes(org, cloud)[-1][1:6] == ("silver", "none", "silver", "silver", "association_ended")


def test_an_explicit_cause_is_recorded_as_given(cloud, org):
    refresh(org, D - DAY)
    certified_employee(org, "70-533")
    refresh(org, D, cause="catalog_changed", cause_params={"kind": "catalog", "day": "2026-11-20"})
    assert changes(org, cloud)[-1][5:] == ("catalog_changed", {"kind": "catalog", "day": "2026-11-20"})


def test_an_unknown_cause_is_refused(cloud, org):
    with pytest.raises(ValueError, match="unknown cause"):
        refresh(org, D, cause="because")


def test_an_unexplained_change_says_so(cloud, org):
    jane = certified_employee(org, "70-533")
    refresh(org, D)
    jane.earned_credentials.all().delete()  # a correction: no dated event explains it
    refresh(org, D + DAY)
    assert changes(org, cloud)[-1][5:] == ("other", {"kind": "unexplained", "day": "2026-11-20"})


# --- batches ---------------------------------------------------------------------------------------------------------


def test_it_evaluates_in_batches_with_the_same_outcome(cloud, settings):
    settings.EVALUATION_BATCH_SIZE = 3
    orgs = [OrganizationFactory() for _ in range(7)]
    for i, o in enumerate(orgs):
        for _ in range(i % 3):
            certified_employee(o, "70-533")
    result = statuses_refresh(organization_ids=[o.pk for o in orgs], day=D)
    assert (result.organizations, result.created) == (7, 4)
    levels = dict(CompetencyStatus.objects.values_list("organization_id", "evaluated_level"))
    assert [levels.get(o.pk, "none") for o in orgs] == ["none", "silver", "gold"] * 2 + ["none"]
    assert StatusChange.objects.filter(cause="first_evaluation").count() == 4


def test_the_number_of_queries_per_batch_does_not_depend_on_its_size(cloud, settings):
    def run(orgs, day):
        with CaptureQueriesContext(connection) as ctx:
            statuses_refresh(organization_ids=[o.pk for o in orgs], day=day)
        return len(ctx.captured_queries)

    small = [OrganizationFactory()]
    certified_employee(small[0], "70-533")
    large = [OrganizationFactory() for _ in range(30)]
    for o in large:
        certified_employee(o, "70-533")
    assert run(small, D) == run(large, D)  # first evaluations
    for o in [*small, *large]:
        certified_employee(o, "70-535", starts_on=D + DAY)
    assert run(small, D + DAY) == run(large, D + DAY)  # gains: inferred causes


# --- re-evaluation after a change, on commit -------------------------------------------------------------------------


def test_re_associating_re_evaluates_both_organizations_after_commit(cloud, org, django_capture_on_commit_callbacks):
    other = OrganizationFactory(name="Contoso")
    jane = certified_employee(org, "70-533", name="Jane Doe", starts_on=D - 100 * DAY)
    refresh(org, D - DAY)
    refresh(other, D - DAY)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        association_start(employee=jane, organization=other, on=D)
    assert len(callbacks) == 2
    assert (status(org, cloud).effective_level, status(other, cloud).effective_level) == ("none", "silver")
    jane_on_d = {"employee_id": jane.pk, "name": "Jane Doe", "day": "2026-11-20"}
    assert changes(org, cloud)[-1][5:] == ("association_ended", {"kind": "moved", **jane_on_d})
    assert changes(other, cloud)[-1][5:] == ("association_started", {"kind": "associated", **jane_on_d})


def test_leaving_re_evaluates_the_organization_after_commit(cloud, org, django_capture_on_commit_callbacks):
    jane = certified_employee(org, "70-533", name="Jane Doe", starts_on=D - 100 * DAY)
    refresh(org, D - DAY)
    with django_capture_on_commit_callbacks(execute=True):
        association_end(employee=jane, on=D)
    assert changes(org, cloud)[-1][5:] == (
        "association_ended", {"kind": "left", "employee_id": jane.pk, "name": "Jane Doe", "day": "2026-11-20"}
    )


def test_nothing_is_queued_before_commit(cloud, org, django_capture_on_commit_callbacks):
    jane = certified_employee(org, "70-533", starts_on=D - 100 * DAY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        association_end(employee=jane, on=D)
    assert len(callbacks) == 1
    assert not CompetencyStatus.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_committed_re_association_is_visible_at_once():
    cloud = build_competency("cloud-platform", silver=[[people(1, any_of=AZURE)]])
    org, other = OrganizationFactory(), OrganizationFactory()
    jane = certified_employee(org, "70-533", name="Jane Doe", starts_on=D - 100 * DAY)
    statuses_refresh(organization_ids=[org.pk, other.pk], day=D - DAY)
    association_start(employee=jane, organization=other, on=D)
    assert status(other, cloud).evaluated_level == "silver"
    assert status(org, cloud).evaluated_level == "none"


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_re_evaluates_nothing():
    build_competency("cloud-platform", silver=[[people(1, any_of=AZURE)]])
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533", starts_on=D - 100 * DAY)
    statuses_refresh(organization_ids=[org.pk], day=D - DAY)
    with pytest.raises(RuntimeError), transaction.atomic():
        association_end(employee=jane, on=D)
        raise RuntimeError("the request failed")
    assert CompetencyStatus.objects.get().as_of == D - DAY
    assert StatusChange.objects.count() == 1


def test_the_task_takes_ids_an_iso_day_and_the_cause_as_json(cloud, org):
    certified_employee(org, "70-533")
    params = {"kind": "associated", "employee_id": 7, "name": "Jane Doe", "day": "2026-11-20"}
    reevaluate_organizations.delay([org.pk], D.isoformat(), "association_started", params)
    assert status(org, cloud).as_of == D
    assert changes(org, cloud)[-1][5:] == ("association_started", params)


def test_a_whole_night_with_no_change_writes_no_status_row(cloud, settings):
    from partnercenter import night as nightly

    settings.EVALUATION_BATCH_SIZE = 2
    orgs = [OrganizationFactory() for _ in range(5)]
    for o in orgs[1:]:
        certified_employee(o, "70-533", starts_on=D - 100 * DAY)
    nightly.run_nightly(day=D)
    with CaptureQueriesContext(connection) as ctx:
        report = nightly.run_nightly(day=D + DAY)
    tables = (CompetencyStatus._meta.db_table, StatusChange._meta.db_table)
    written = [q["sql"] for q in ctx.captured_queries
               if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE") and any(t in q["sql"] for t in tables)]
    assert written == []
    assert (report.refresh.organizations, report.refresh.created, report.refresh.updated) == (5, 0, 0)
    assert set(Organization.objects.values_list("statuses_as_of", flat=True)) == {D + DAY}


def test_progress_alone_writes_nothing_but_a_change_of_the_options_met_rewrites_the_summary(org):
    data = build_competency("data-platform", silver=[[people(1, any_of=["70-533"])], [people(2, any_of=["70-764"])]])
    certified_employee(org, "70-533", starts_on=D - 100 * DAY)
    refresh(org, D)
    first, second = data.options.order_by("position")
    certified_employee(org, "70-764", starts_on=D + DAY)  # the second option half way: progress only
    result = refresh(org, D + DAY)
    assert (result.updated, result.unchanged, result.changes) == (0, 1, 0)
    assert [o["progress"] for o in status(org, data).details["options"]] == [1.0, 0.0]  # the last write's summary
    certified_employee(org, "70-764", starts_on=D + 2 * DAY)  # the second option met too: same level
    result = refresh(org, D + 2 * DAY)
    assert (result.updated, result.changes) == (1, 0)
    assert [(o["id"], o["met"]) for o in status(org, data).details["options"]] == [(first.pk, True), (second.pk, True)]
