"""Override services: apply, extend, revoke, expire — each with its audit row and a re-evaluation on commit."""

import datetime
import threading

import pytest
from django.db import connection

from competencies.engine import evaluate
from competencies.models import CompetencyStatus, Override, OverrideAudit, StatusChange
from competencies.overrides import (
    OverrideError,
    override_apply,
    override_default_expiry,
    override_extend,
    override_preview,
    override_revoke,
    overrides_expire,
)
from competencies.statuses import statuses_refresh

from .common import DAY, D, people
from .factories import EmployeeFactory, OrganizationFactory, build_competency, certified_employee


@pytest.fixture
def agent(db):
    return EmployeeFactory(email="agent@microsoft.example", name="Ada Agent", is_staff=True)


@pytest.fixture
def silver_org(org, cloud):
    certified_employee(org, "70-533", name="Jane Doe")
    statuses_refresh(organization_ids=[org.pk], day=D - DAY)
    return org


def apply(org, competency, agent, *, day=D, **kwargs):
    values = {"level": "gold", "reason": "Exam results pending at Pearson VUE", "starts_on": day, **kwargs}
    return override_apply(organization=org, competency=competency, actor=agent, day=day, **values)


def status(org, competency):
    return CompetencyStatus.objects.get(organization=org, competency=competency)


def effective_on(org, competency, day):
    return evaluate(organization_ids=[org.pk], day=day)[(org.pk, competency.pk)].effective_level


# --- apply -------------------------------------------------------------------------------------


def test_it_applies_an_override_with_its_audit_row_and_re_evaluates_on_commit(
    silver_org, cloud, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        override = apply(silver_org, cloud, agent)
    assert len(callbacks) == 1
    assert (override.state, override.created_by, override.expires_on) == ("active", agent, datetime.date(2027, 2, 20))
    audit = OverrideAudit.objects.get(override=override)
    assert (audit.action, audit.actor, audit.day, audit.reason) == ("apply", agent, D, "Exam results pending at Pearson VUE")
    assert audit.old_values == {}
    assert audit.new_values == {
        "level": "gold", "starts_on": "2026-11-20", "expires_on": "2027-02-20", "state": "active", "revoked_on": None,
    }
    stored = status(silver_org, cloud)
    assert (stored.as_of, stored.evaluated_level, stored.effective_level, stored.override_id) == (D, "silver", "gold", override.pk)
    change = StatusChange.objects.filter(organization=silver_org).last()
    assert (change.day, change.old_effective, change.new_effective, change.cause) == (D, "silver", "gold", "override_applied")
    assert change.cause_params == {
        "kind": "override_applied", "override_id": override.pk, "level": "gold", "start": "2026-11-20", "end": "2027-02-20"
    }


def test_it_writes_nothing_when_the_transaction_rolls_back(silver_org, cloud, agent, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            apply(silver_org, cloud, agent)
            raise RuntimeError("the agent's request failed later")
    assert callbacks == []
    assert not Override.objects.exists() and not OverrideAudit.objects.exists()


@pytest.mark.parametrize(
    "starts_on, expires_on",
    [
        (datetime.date(2026, 11, 20), datetime.date(2027, 2, 20)),
        (datetime.date(2026, 11, 30), datetime.date(2027, 2, 28)),  # a shorter month: its last day
        (datetime.date(2027, 11, 30), datetime.date(2028, 2, 29)),  # leap year
        (datetime.date(2026, 12, 31), datetime.date(2027, 3, 31)),
    ],
)
def test_it_expires_three_calendar_months_after_the_start_by_default(starts_on, expires_on):
    assert override_default_expiry(starts_on) == expires_on


def test_it_is_effective_from_its_start_until_the_day_before_it_expires(silver_org, cloud, agent):
    override = apply(silver_org, cloud, agent, starts_on=D + DAY)
    assert effective_on(silver_org, cloud, D) == "silver"  # day before the start
    assert effective_on(silver_org, cloud, D + DAY) == "gold"  # first day
    assert effective_on(silver_org, cloud, override.expires_on - DAY) == "gold"  # last day
    assert effective_on(silver_org, cloud, override.expires_on) == "silver"  # expires_on: no longer holds


def test_it_never_lowers_a_level(org, cloud, agent):
    certified_employee(org, "70-533")
    certified_employee(org, "70-535")
    apply(org, cloud, agent, level="silver")
    assert effective_on(org, cloud, D) == "gold"


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"reason": "   "}, "reason", "A reason is required"),
        ({"reason": ""}, "reason", "A reason is required"),
        ({"level": "platinum"}, "level", "Unknown level “platinum”: an override grants Silver or Gold."),
        ({"level": "none"}, "level", "Unknown level “none”"),
        ({"expires_on": D}, "expires_on", "must end after it starts"),  # end == start
        ({"expires_on": D - DAY}, "expires_on", "must end after it starts"),  # end before start
        ({"starts_on": D - 200 * DAY, "expires_on": D}, "expires_on", "would already have ended"),
    ],
)
def test_it_refuses_a_bad_override_with_the_reason(silver_org, cloud, agent, changes, field, words):
    with pytest.raises(OverrideError) as refused:
        apply(silver_org, cloud, agent, **changes)
    assert words in str(refused.value)
    assert refused.value.field == field
    assert not Override.objects.exists() and not OverrideAudit.objects.exists()


def test_it_refuses_a_second_active_override_with_a_clear_error(silver_org, cloud, agent):
    apply(silver_org, cloud, agent)
    with pytest.raises(OverrideError) as refused:
        apply(silver_org, cloud, agent, level="silver", starts_on=D + 5 * DAY)
    assert str(refused.value) == (
        "An active override already exists for Fabrikam in Cloud Platform (Gold until Feb. 20, 2027): "
        "extend or revoke it instead."
    )
    assert Override.objects.count() == 1 and OverrideAudit.objects.count() == 1


def test_it_allows_a_new_override_once_the_previous_one_is_revoked(silver_org, cloud, agent):
    first = apply(silver_org, cloud, agent)
    override_revoke(override=first, reason="Granted by mistake", actor=agent, day=D)
    second = apply(silver_org, cloud, agent, level="silver")
    assert second.state == "active" and Override.objects.count() == 2


def test_it_allows_one_active_override_per_competency_and_organization(silver_org, cloud, agent):
    other = build_competency("data-platform", silver=[[people(1)]])
    apply(silver_org, cloud, agent)
    apply(silver_org, other, agent)
    apply(OrganizationFactory(), cloud, agent)
    assert Override.objects.filter(state="active").count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL; SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_two_agents_applying_at_once_one_wins_and_the_other_gets_the_clear_error():
    cloud = build_competency("cloud-platform", name="Cloud Platform", silver=[[people(1)]], gold=[[people(2)]])
    org = OrganizationFactory(name="Fabrikam")
    agents = [EmployeeFactory(is_staff=True), EmployeeFactory(is_staff=True)]
    barrier = threading.Barrier(2)
    outcomes = []

    def agent_applies(agent):
        try:
            barrier.wait()
            outcomes.append(apply(org, cloud, agent))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=agent_applies, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    won = [o for o in outcomes if isinstance(o, Override)]
    lost = [o for o in outcomes if not isinstance(o, Override)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], OverrideError)
    assert str(lost[0]).startswith("An active override already exists for Fabrikam in Cloud Platform (Gold until")
    assert Override.objects.filter(state="active").count() == 1
    assert OverrideAudit.objects.count() == 1


# --- extend and revoke -------------------------------------------------------------------------


def test_it_extends_an_active_override_with_old_and_new_values_audited(silver_org, cloud, agent):
    override = apply(silver_org, cloud, agent)
    later = datetime.date(2027, 5, 20)
    override_extend(override=override, expires_on=later, reason="Partner's exams rescheduled", actor=agent, day=D + DAY)
    override.refresh_from_db()
    assert override.expires_on == later
    audit = OverrideAudit.objects.filter(override=override).last()
    assert (audit.action, audit.day, audit.reason) == ("extend", D + DAY, "Partner's exams rescheduled")
    assert (audit.old_values["expires_on"], audit.new_values["expires_on"]) == ("2027-02-20", "2027-05-20")
    assert effective_on(silver_org, cloud, datetime.date(2027, 5, 19)) == "gold"


def test_an_extension_that_moves_the_level_is_recorded_as_an_extension(
    silver_org, cloud, agent, django_capture_on_commit_callbacks
):
    # Applied to start tomorrow: the re-evaluation of today changes nothing. Extended tomorrow, before the
    # night, the re-evaluation the extension asks for is the one that raises the level.
    with django_capture_on_commit_callbacks(execute=True):
        override = apply(silver_org, cloud, agent, starts_on=D + DAY)
    assert status(silver_org, cloud).effective_level == "silver"
    later = datetime.date(2027, 5, 20)
    with django_capture_on_commit_callbacks(execute=True):
        override_extend(override=override, expires_on=later, reason="Partner's exams rescheduled", actor=agent, day=D + DAY)
    change = StatusChange.objects.filter(organization=silver_org).last()
    assert (change.day, change.old_effective, change.new_effective, change.cause) == (
        D + DAY, "silver", "gold", "override_extended")
    assert change.cause_params == {"kind": "override_extended", "override_id": override.pk, "level": "gold", "end": "2027-05-20"}
    assert OverrideAudit.objects.filter(override=override).last().action == "extend"


@pytest.mark.parametrize(
    "expires_on, reason, words",
    [
        (datetime.date(2027, 5, 20), "", "A reason is required"),
        (D, "moved", "must end after it starts"),
        (D + DAY, "moved", "would already have ended"),
        (datetime.date(2027, 2, 20), "moved", "already ends on Feb. 20, 2027"),
    ],
)
def test_it_refuses_a_bad_extension_with_the_reason(silver_org, cloud, agent, expires_on, reason, words):
    override = apply(silver_org, cloud, agent)
    with pytest.raises(OverrideError, match=words):
        override_extend(override=override, expires_on=expires_on, reason=reason, actor=agent, day=D + DAY)
    assert OverrideAudit.objects.count() == 1


def test_it_revokes_an_override_and_the_level_goes_back_to_evaluation(
    silver_org, cloud, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        override = apply(silver_org, cloud, agent)
    with django_capture_on_commit_callbacks(execute=True):
        override_revoke(override=override, reason="The partner's PDM withdrew the request", actor=agent, day=D + 3 * DAY)
    override.refresh_from_db()
    assert (override.state, override.revoked_on) == ("revoked", D + 3 * DAY)
    audit = OverrideAudit.objects.filter(override=override).last()
    assert (audit.action, audit.actor, audit.reason) == ("revoke", agent, "The partner's PDM withdrew the request")
    assert (audit.old_values["state"], audit.new_values["state"], audit.new_values["revoked_on"]) == (
        "active", "revoked", "2026-11-23")
    assert status(silver_org, cloud).effective_level == "silver"
    change = StatusChange.objects.filter(organization=silver_org).last()
    assert (change.day, change.old_effective, change.new_effective, change.cause) == (
        D + 3 * DAY, "gold", "silver", "override_revoked")


def test_it_refuses_to_revoke_or_extend_an_override_that_is_no_longer_active(silver_org, cloud, agent):
    override = apply(silver_org, cloud, agent)
    override_revoke(override=override, reason="mistake", actor=agent, day=D)
    with pytest.raises(OverrideError, match="no longer active"):
        override_revoke(override=override, reason="again", actor=agent, day=D)
    with pytest.raises(OverrideError, match="no longer active"):
        override_extend(override=override, expires_on=datetime.date(2027, 6, 1), reason="more", actor=agent, day=D)
    with pytest.raises(OverrideError, match="A reason is required"):
        override_revoke(override=apply(silver_org, cloud, agent), reason=" ", actor=agent, day=D)


# --- expiry (nightly job 1) --------------------------------------------------------------------


def test_it_expires_overrides_on_their_expiry_day_not_before(silver_org, cloud, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        override = apply(silver_org, cloud, agent)
    end = override.expires_on

    with django_capture_on_commit_callbacks(execute=True):
        assert overrides_expire(day=end - DAY) == []
    override.refresh_from_db()
    assert override.state == "active"

    with django_capture_on_commit_callbacks(execute=True):
        assert overrides_expire(day=end) == [override.pk]
    override.refresh_from_db()
    assert override.state == "expired"
    audit = OverrideAudit.objects.filter(override=override).last()
    assert (audit.action, audit.actor, audit.day) == ("expire", None, end)
    assert (audit.old_values["state"], audit.new_values["state"]) == ("active", "expired")
    assert status(silver_org, cloud).effective_level == "silver"
    change = StatusChange.objects.filter(organization=silver_org).last()
    assert (change.day, change.old_effective, change.new_effective, change.cause, change.cause_params) == (
        end, "gold", "silver", "override_expired",
        {"kind": "override_expired", "override_id": override.pk, "level": "gold", "day": "2027-02-20"})

    with django_capture_on_commit_callbacks(execute=True):
        assert overrides_expire(day=end) == []  # idempotent
    assert OverrideAudit.objects.filter(override=override).count() == 2
    assert StatusChange.objects.filter(organization=silver_org, day=end).count() == 1


def test_after_expiry_the_level_is_what_evaluation_says_even_if_the_organization_earned_more(
    silver_org, cloud, agent, django_capture_on_commit_callbacks
):
    override = apply(silver_org, cloud, agent, level="silver", starts_on=D)
    certified_employee(silver_org, "70-535", earned_on=D + 10 * DAY, starts_on=D + 10 * DAY)
    with django_capture_on_commit_callbacks(execute=True):
        overrides_expire(day=override.expires_on)
    assert status(silver_org, cloud).effective_level == "gold"


def test_the_preview_says_what_the_effective_level_becomes(silver_org, cloud):
    preview = override_preview(organization=silver_org, competency=cloud, level="gold", starts_on=D, expires_on=None)
    assert (preview.evaluated_level, preview.effective_before, preview.effective_after) == ("silver", "silver", "gold")
    assert preview.expires_on == datetime.date(2027, 2, 20) and preview.raises
    same = override_preview(organization=silver_org, competency=cloud, level="silver", starts_on=D, expires_on=None)
    assert (same.effective_after, same.raises) == ("silver", False)
