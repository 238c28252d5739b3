"""The night carries an organization's statuses to the next day unevaluated when none of its facts changed.

Rule (docs/rules.md, "Evaluation"): evaluated as of the day before, no change
of the day marked it, and no fact of it changes on the day itself: its marker
moves on, nothing is evaluated or written. Everything else is evaluated in
full: a fact changing that day, a change of the day (even when its
re-evaluation was lost), a marker further back, a catalog change.
"""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from competencies import statuses as statuses_module
from competencies.engine import evaluate
from competencies.models import Competency, CompetencyStatus, Credential, Level, Organization
from competencies.statuses import reevaluate_on_commit, statuses_refresh
from partnercenter import night

from .factories import (
    OrganizationFactory,
    OverrideFactory,
    certified_employee,
)
from .test_forecast import facts, organization_from
from .test_forecast_incremental import (
    cloud,  # noqa: F401 (the fixture)
    earning,
    joining,
    leaving,
    metric_leaving,
    retiring,
)

TODAY = datetime.date(2026, 12, 2)
ONE_DAY = datetime.timedelta(days=1)
TOMORROW = TODAY + ONE_DAY


@pytest.fixture
def evaluated(monkeypatch):
    """The organizations `statuses_refresh` evaluates, call by call."""
    calls = []
    real = statuses_module.evaluate

    def spy(*, organization_ids, **kwargs):
        calls.append(sorted(organization_ids))
        return real(organization_ids=organization_ids, **kwargs)

    monkeypatch.setattr(statuses_module, "evaluate", spy)
    return calls


def stored(ids):
    """Every pair's stored levels and override; a pair without a row is level none."""
    rows = {
        (s.organization_id, s.competency_id): (s.evaluated_level, s.effective_level, s.override_id)
        for s in CompetencyStatus.objects.filter(organization_id__in=ids)
    }
    return {key: value for key, value in rows.items() if value != (Level.NONE, Level.NONE, None)}


def computed(ids, day):
    return {
        key: (r.evaluated_level, r.effective_level, r.override.id if r.override else None)
        for key, r in evaluate(organization_ids=ids, day=day).items()
        if (r.evaluated_level, r.effective_level) != (Level.NONE, Level.NONE)
    }


def test_an_organization_whose_facts_did_not_change_is_carried_without_evaluating_it(cloud, evaluated):
    quiet, expiring = OrganizationFactory(), OrganizationFactory()
    certified_employee(quiet, "70-533")
    certified_employee(expiring, "70-533", expires_on=TOMORROW)
    statuses_refresh(organization_ids=[quiet.pk, expiring.pk], day=TODAY, carry=True)
    evaluated.clear()

    result = statuses_refresh(organization_ids=[quiet.pk, expiring.pk], day=TOMORROW, carry=True)

    assert evaluated == [[expiring.pk]]  # the credential that expires tomorrow: evaluated; the other carried
    assert (result.organizations, result.carried) == (2, 1)
    assert stored([quiet.pk, expiring.pk]) == computed([quiet.pk, expiring.pk], TOMORROW)
    assert set(Organization.objects.values_list("statuses_as_of", flat=True)) == {TOMORROW}


def override_ending(org, day):
    OverrideFactory(organization=org, competency=Competency.objects.get(slug="cloud-platform"), level="gold",
                    starts_on=TODAY - 30 * ONE_DAY, expires_on=day)


@pytest.mark.parametrize("fact", [leaving, joining, earning, metric_leaving, retiring, override_ending],
                         ids=lambda f: f.__name__)
def test_a_fact_changing_on_the_day_is_evaluated(cloud, fact, evaluated):
    Credential.objects.get_or_create(code="70-534")
    org = OrganizationFactory()
    fact(org, TOMORROW)
    statuses_refresh(organization_ids=[org.pk], day=TODAY, carry=True)
    before = stored([org.pk])
    evaluated.clear()

    statuses_refresh(organization_ids=[org.pk], day=TOMORROW, carry=True)

    assert evaluated == [[org.pk]]
    assert stored([org.pk]) == computed([org.pk], TOMORROW) != before  # each of these facts moves a level


def test_a_change_whose_re_evaluation_was_lost_is_evaluated_the_next_night(
    cloud, evaluated, django_capture_on_commit_callbacks
):
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533")
    statuses_refresh(organization_ids=[org.pk], day=TODAY, carry=True)
    with django_capture_on_commit_callbacks(execute=False):  # the re-evaluation (and the marker's move) never run
        with transaction.atomic():
            jane.earned_credentials.update(expires_on=TODAY)
            reevaluate_on_commit(organization_ids=[org.pk], day=TODAY)
    evaluated.clear()

    statuses_refresh(organization_ids=[org.pk], day=TOMORROW, carry=True)

    assert evaluated == [[org.pk]]  # its forecast is marked pending: the mark says its facts moved
    assert stored([org.pk]) == computed([org.pk], TOMORROW) == {}


def test_a_marker_moved_back_by_a_change_is_evaluated_in_full(cloud, evaluated):
    org = OrganizationFactory()
    certified_employee(org, "70-533")
    statuses_refresh(organization_ids=[org.pk], day=TODAY - ONE_DAY, carry=True)
    evaluated.clear()
    statuses_refresh(organization_ids=[org.pk], day=TOMORROW, carry=True)  # two days on: not carried
    assert evaluated == [[org.pk]]


def test_a_catalog_change_evaluates_every_organization(cloud, evaluated):
    orgs = [OrganizationFactory() for _ in range(3)]
    for org in orgs:
        certified_employee(org, "70-533")
    statuses_refresh(organization_ids=[o.pk for o in orgs], day=TODAY, carry=True)
    evaluated.clear()
    with transaction.atomic():
        reevaluate_on_commit(organization_ids=None, day=TOMORROW)  # as a catalog load does: every one marked
    statuses_refresh(organization_ids=[o.pk for o in orgs], day=TOMORROW, carry=True)
    assert evaluated == [sorted(o.pk for o in orgs)]


def test_the_night_carries_and_the_whole_option_evaluates_everyone(cloud, evaluated):
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533")
    call_command("run_nightly", "--date", TODAY.isoformat(), "--no-send", stdout=io.StringIO())
    jane.earned_credentials.update(expires_on=TODAY)  # written around the product: nothing marks it
    evaluated.clear()

    out = io.StringIO()
    call_command("run_nightly", "--date", TOMORROW.isoformat(), "--no-send", stdout=out)
    assert evaluated == [] and "0 organizations evaluated" in out.getvalue()
    assert stored([org.pk]) != computed([org.pk], TOMORROW)  # what `--whole` is for

    after = TOMORROW + ONE_DAY  # evaluated the day before and nothing changes on it: carried unless marked
    call_command("run_nightly", "--date", after.isoformat(), "--no-send", "--whole", stdout=io.StringIO())
    assert evaluated == [[org.pk]]
    assert stored([org.pk]) == computed([org.pk], after) == {}


def test_a_re_evaluation_asked_by_a_change_never_carries(cloud, evaluated):
    org = OrganizationFactory()
    certified_employee(org, "70-533")
    statuses_refresh(organization_ids=[org.pk], day=TODAY, carry=True)
    evaluated.clear()
    night.reevaluate(organization_ids=[org.pk], day=TOMORROW)
    assert evaluated == [[org.pk]]


# Whatever the facts and however the days pass, the statuses carried night to night equal an evaluation.


@settings(max_examples=10, deadline=None)
@given(specs=st.lists(facts(around=0, through=10), min_size=10, max_size=25), nights=st.integers(2, 8))
def test_statuses_carried_night_to_night_equal_the_evaluation_of_each_day(cloud, specs, nights):
    Credential.objects.get_or_create(code="70-534")
    Credential.objects.filter(code="70-534").update(accepted_until=TODAY + 4 * ONE_DAY)
    with transaction.atomic():
        ids = [organization_from(spec, cloud) for spec in specs]
        for n in range(nights):
            day = TODAY + n * ONE_DAY
            statuses_refresh(organization_ids=ids, day=day, carry=True)
            assert stored(ids) == computed(ids, day)
        transaction.set_rollback(True)
