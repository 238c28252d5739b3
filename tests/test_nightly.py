"""The nightly jobs: order, idempotence, crash-safety, the Celery chain, the command."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from competencies.associations import association_start
from competencies.causes import cause_words
from competencies.models import CompetencyStatus, ForecastChange, Override, OverrideAudit, StatusChange
from competencies.overrides import override_apply
from competencies.statuses import statuses_refresh
from memberships.models import Notification, OutboundEmail
from partnercenter import night as nightly
from partnercenter import tasks as night_tasks
from partnercenter.management.commands.run_nightly import Command

from .common import DAY, D, people
from .factories import (
    EmployeeFactory,
    MembershipFactory,
    OrganizationFactory,
    build_competency,
    certified_employee,
)


def build_dataset():
    """Seven organizations, each with something for the night of D to do. Explicit names: built twice, it is identical."""
    cloud = build_competency("cloud-platform", name="Cloud Platform", silver=[[people(1)]], gold=[[people(2)]])
    data = build_competency("data-platform", name="Data Platform", silver=[[people(1, ["70-764"])]])
    agent = EmployeeFactory(email="agent@microsoft.example", name="Ada Agent", is_staff=True)
    orgs = [OrganizationFactory(mpn_id=str(5000000 + i), name=f"Partner {i}") for i in range(7)]
    assert cloud
    for i, org in enumerate(orgs):
        admin = EmployeeFactory(email=f"admin{i}@partner.example", name=f"Admin {i}")
        org.admins.add(admin)
        certified_employee(org, "70-533", name=f"Jane {i}", email=f"jane{i}@partner.example")
        certified_employee(org, "70-535", name=f"John {i}", email=f"john{i}@partner.example",
                           expires_on=D if i == 3 else None)  # Partner 3: John's exam expires on D
        certified_employee(org, "70-764", name=f"Dana {i}", email=f"dana{i}@partner.example")
        MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 1, 1)
                          if i != 2 else datetime.date(2025, 12, 5))  # Partner 2: anniversary on D + 15
    statuses_refresh(organization_ids=[o.pk for o in orgs], day=D - 30 * DAY)
    # Partner 1: an override Gold in Data Platform, ending on D.
    override_apply(organization=orgs[1], competency=data,
                   level="gold", reason="pending results", starts_on=D - 30 * DAY, expires_on=D, actor=agent,
                   day=D - 30 * DAY)
    statuses_refresh(organization_ids=[o.pk for o in orgs], day=D - DAY)
    # Partner 0 and Partner 5: Jane leaves for Partner 6 on D (recorded, not yet re-evaluated).
    for i in (0, 5):
        jane = orgs[i].associations.get(employee__name=f"Jane {i}").employee
        association_start(employee=jane, organization=orgs[6], on=D)
    return orgs


def english(params) -> str:
    """A cause's words (its parameters hold employee and override ids, which differ from one build to the next)."""
    with translation.override("en"):
        return cause_words(params)


def snapshot() -> dict:
    """Everything the night writes, by natural keys (ids and timestamps left out)."""

    def items(payload):
        return sorted((i["competency"], i["level"], i["now"], english(i.get("cause_params")), i.get("recovered_on"))
                      for i in payload.get("items", []))

    return {
        "statuses": sorted(CompetencyStatus.objects.values_list(
            "organization__mpn_id", "competency__slug", "as_of", "evaluated_level", "effective_level", "override__level")),
        "history": sorted((*row[:-1], english(row[-1])) for row in StatusChange.objects.values_list(
            "organization__mpn_id", "competency__slug", "day", "old_evaluated", "new_evaluated", "old_effective",
            "new_effective", "cause", "cause_params")),
        "overrides": sorted(Override.objects.values_list("organization__mpn_id", "state", "expires_on")),
        "forecast": sorted(ForecastChange.objects.values_list(
            "organization__mpn_id", "competency__slug", "day", "old_evaluated", "new_evaluated", "old_effective",
            "new_effective", "cause")),
        "audit": sorted(OverrideAudit.objects.values_list(
            "override__organization__mpn_id", "action", "day", "reason")),
        "notifications": sorted(
            (n.organization.mpn_id, n.kind, n.raised_on, n.cleared_on, repr(items(n.payload)),
             n.payload.get("when"), n.payload.get("renewable"))
            for n in Notification.objects.select_related("organization")),
        "emails": sorted(OutboundEmail.objects.values_list("to_email", "subject", "body_text", "status")),
    }


def row_counts():
    return tuple(m.objects.count() for m in (StatusChange, Notification, OutboundEmail, OverrideAudit, CompetencyStatus))


def in_rollback(run):
    """Build the dataset, run, take the snapshot, and roll it all back: the next scenario starts from the same place."""
    with transaction.atomic():
        build_dataset()
        run()
        taken = snapshot()
        transaction.set_rollback(True)
    return taken


@pytest.fixture
def small_batches(settings):
    settings.EVALUATION_BATCH_SIZE = 2
    return settings


def test_the_night_expires_re_evaluates_notifies_and_reminds(db, small_batches):
    orgs = build_dataset()
    report = nightly.run_nightly(day=D)
    assert report.overrides_expired == 1
    assert report.ranges == 4  # 2 + 2 + 2 + an open-ended last one
    assert report.refresh.organizations == 7
    taken = snapshot()
    assert ("5000001", "data-platform", D, "silver", "silver", "gold", "silver", "override_expired",
            "Gold override expired on Nov. 20, 2026") in taken["history"]
    assert ("5000000", "cloud-platform", D, "gold", "silver", "gold", "silver", "association_ended",
            "Jane 0 associated with another organization on Nov. 20, 2026") in taken["history"]
    assert ("5000003", "cloud-platform", D, "gold", "silver", "gold", "silver", "credential_expired",
            "John 3's 70-535 expired on Nov. 20, 2026") in taken["history"]
    at_risk = {n[0]: n[6] for n in taken["notifications"] if n[1] == "at_risk"}
    # Partner 1's Data Platform Gold was the override's: when it ends, that achievement of the Gold term is at
    # risk too, though the membership can still be renewed through Cloud Platform.
    assert at_risk == {"5000000": False, "5000001": True, "5000003": False, "5000005": False}
    assert [n[0] for n in taken["notifications"] if n[1] == "renewal_reminder"] == ["5000002"]
    assert Override.objects.get().state == "expired"
    assert {e[0] for e in taken["emails"]} == {"admin0@partner.example", "admin1@partner.example",
                                               "admin2@partner.example", "admin3@partner.example",
                                               "admin5@partner.example"}
    assert all(e[3] == "pending" for e in taken["emails"])  # sending is a separate step
    assert orgs


def test_running_a_night_twice_changes_nothing_and_sends_nothing_more(db, small_batches, django_capture_on_commit_callbacks):
    build_dataset()
    with django_capture_on_commit_callbacks(execute=True):
        nightly.run_nightly(day=D)
    first, counts = snapshot(), row_counts()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = nightly.run_nightly(day=D)
    assert row_counts() == counts
    assert snapshot() == first
    assert (second.overrides_expired, second.refresh.changes, second.notify["at_risk_raised"],
            second.notify["emails_queued"], second.notify["reminders_raised"]) == (0, 0, 0, 0, 0)
    assert callbacks == []  # nothing queued for delivery either


def test_a_night_killed_halfway_and_run_again_ends_as_if_it_had_run_once(db, small_batches, monkeypatch):
    clean = in_rollback(lambda: nightly.run_nightly(day=D))

    def crashed_then_rerun():
        calls = {"n": 0}
        real = nightly.statuses_refresh

        def dies_on_the_third_batch(**kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise SystemExit("worker killed")  # after two batches committed
            return real(**kwargs)

        monkeypatch.setattr(nightly, "statuses_refresh", dies_on_the_third_batch)
        with pytest.raises(SystemExit):
            nightly.run_nightly(day=D)
        assert CompetencyStatus.objects.filter(as_of=D).values("organization").distinct().count() == 4
        monkeypatch.setattr(nightly, "statuses_refresh", real)
        nightly.run_nightly(day=D)

    assert in_rollback(crashed_then_rerun) == clean


def test_a_night_killed_while_notifying_and_run_again_ends_as_if_it_had_run_once(db, small_batches, monkeypatch):
    clean = in_rollback(lambda: nightly.run_nightly(day=D))

    def crashed_then_rerun():
        real = nightly.STEPS["notify"]
        calls = {"n": 0}

        def dies_on_the_second_range(**kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise SystemExit("worker killed")
            return real(**kwargs)

        monkeypatch.setitem(nightly.STEPS, "notify", dies_on_the_second_range)
        with pytest.raises(SystemExit):
            nightly.run_nightly(day=D)
        monkeypatch.setitem(nightly.STEPS, "notify", real)
        nightly.run_nightly(day=D)

    assert in_rollback(crashed_then_rerun) == clean


def test_the_celery_chain_does_what_the_synchronous_run_does(db, small_batches, django_capture_on_commit_callbacks):
    clean = in_rollback(lambda: nightly.run_nightly(day=D))

    def through_celery():
        # Eager here (tests/test_worker_nightly.py runs the same through a real worker and broker).
        with django_capture_on_commit_callbacks(execute=True):
            result = night_tasks.run_nightly.delay(D.isoformat()).get()
        assert result == {"day": "2026-11-20", "overrides_expired": 1, "ranges": 4, "ranges_evaluated": 4}

    via_celery = in_rollback(through_celery)
    # Same rows; the only difference is that the delivery tasks sent the emails.
    assert {**via_celery, "emails": [e[:3] for e in via_celery["emails"]]} == {
        **clean, "emails": [e[:3] for e in clean["emails"]]}
    assert {e[3] for e in via_celery["emails"]} == {"sent"}


def test_the_organization_ranges_cover_every_organization_and_the_last_one_is_open(db):
    orgs = [OrganizationFactory() for _ in range(5)]
    ids = [o.pk for o in orgs]
    assert list(nightly.organization_ranges(size=2)) == [(ids[0], ids[1]), (ids[2], ids[3]), (ids[4], None)]
    assert list(nightly.organization_ranges(size=5)) == [(ids[0], ids[4]), (ids[4] + 1, None)]
    late = OrganizationFactory()
    assert nightly.range_ids(first_id=ids[4], last_id=None) == [ids[4], late.pk]


def test_notifying_a_batch_costs_the_same_queries_whatever_its_size(db, small_batches):
    cloud = build_competency("cloud-platform", silver=[[people(1)]])

    def queries(n):
        orgs = [OrganizationFactory() for _ in range(n)]
        for org in orgs:
            certified_employee(org, "70-533")
            MembershipFactory(organization=org)
        statuses_refresh(organization_ids=[o.pk for o in orgs], day=D)
        small_batches.EVALUATION_BATCH_SIZE = n
        with CaptureQueriesContext(connection) as captured:
            nightly.notify_range(first_id=orgs[0].pk, last_id=orgs[-1].pk, day=D)
            nightly.remind_range(first_id=orgs[0].pk, last_id=orgs[-1].pk, day=D)
        return len(captured)

    assert queries(3) == queries(30)
    assert cloud


def test_the_command_runs_the_night_for_a_date(db, small_batches):
    build_dataset()
    out = io.StringIO()
    call_command("run_nightly", "--date", "2026-11-20", stdout=out)
    assert out.getvalue().startswith(
        "2026-11-20: 1 overrides expired; 5 organizations evaluated in 4 ranges and 2 carried over unchanged"
    )
    # The night queues 5; the 2 departure emails the dataset's moves queued when they happened go out with them.
    assert "5 emails queued, 7 sent" in out.getvalue()
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}
    again = io.StringIO()
    call_command("run_nightly", "--date", "2026-11-20", stdout=again)
    assert "0 level changes" in again.getvalue() and "0 emails queued, 0 sent" in again.getvalue()


def test_the_command_refuses_a_bad_date_with_one_line(db):
    with pytest.raises(CommandError, match=r"--date: '2026-13-01' is not a date \(YYYY-MM-DD\)"):
        call_command("run_nightly", "--date", "2026-13-01")


def test_the_command_has_help():
    text = " ".join(Command().create_parser("manage.py", "run_nightly").format_help().split())
    assert "--date" in text and "same code the Celery tasks run" in text
