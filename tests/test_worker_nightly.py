"""The nightly jobs through the broker with a real Celery worker (Redis when CELERY_BROKER_URL says so).

The at-risk path end to end: an employee leaves → the night through the
worker → the banner on the dashboard, exactly one email sent to the admin,
the competency still displayed for the term. Then the override path: an
agent applies an override → it is effective → the night it expires
reverts the level, with audit rows.
"""

import datetime
import re
import threading
import time

import pytest
import time_machine

from competencies.associations import association_start
from competencies.models import CompetencyStatus, OverrideAudit, StatusChange
from competencies.overrides import override_apply
from memberships.displayed import displayed_levels
from memberships.models import Notification, OutboundEmail
from partnercenter.tasks import run_nightly

from .common import DAY, PASSWORD, D
from .factories import EmployeeFactory, MembershipFactory, OrganizationFactory, build_competency, certified_employee
from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SENTENCE = "A recent change to your competency achievement has put your membership renewal eligibility at risk."


class WorkerLog:
    """Reads the worker's output (so its pipe never fills) and counts finished tasks."""

    def __init__(self, process):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process):
        for line in process.stdout:
            self.lines.append(line)

    def succeeded(self, task: str) -> int:
        pattern = re.compile(rf"Task {re.escape(task)}\[[^\]]+\] succeeded")
        return sum(1 for line in list(self.lines) if pattern.search(line))

    def failures(self) -> list[str]:
        return [line for line in list(self.lines) if " raised unexpected" in line or "ERROR" in line]


def night_through_the_broker(log: WorkerLog, day: datetime.date, *, ranges: int) -> None:
    """Enqueue the night for `day` (what beat does) and wait until every range's chain has finished."""
    done = log.succeeded("partnercenter.tasks.remind_batch")
    run_nightly.delay(day.isoformat())
    wait_for(lambda: log.succeeded("partnercenter.tasks.remind_batch") >= done + ranges, timeout=60)


def test_an_employee_leaves_and_the_night_through_the_worker_warns_once_then_an_override_comes_and_goes(client):
    cloud = build_competency(
        "cloud-platform", name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533", "70-535"]}]],
        gold=[[{"kind": "certified_people", "count": 2, "any_of": ["70-533", "70-535"]}]],
    )
    fabrikam = OrganizationFactory(name="Fabrikam", mpn_id="1000001")
    northwind = OrganizationFactory(name="Northwind", mpn_id="2000002")
    contoso = OrganizationFactory(name="Contoso", mpn_id="3000003")
    admin = EmployeeFactory(email="alice@fabrikam.example", name="Alice Admin")
    fabrikam.admins.add(admin)
    jane = certified_employee(fabrikam, "70-533", name="Jane Doe")
    certified_employee(fabrikam, "70-535", name="John Roe")
    certified_employee(contoso, "70-533", name="Carl Contoso")
    MembershipFactory(organization=fabrikam, level="gold", purchased_on=datetime.date(2026, 1, 1))
    agent = EmployeeFactory(email="ada@microsoft.example", name="Ada Agent", is_staff=True)
    ranges = 2  # EVALUATION_BATCH_SIZE=2 in the worker: two ranges of organizations, shared by two worker processes

    with celery_worker(concurrency=2, extra_env={"EVALUATION_BATCH_SIZE": "2"}) as process:
        log = WorkerLog(process)
        night_through_the_broker(log, D - DAY, ranges=ranges)
        assert CompetencyStatus.objects.get(organization=fabrikam, competency=cloud).effective_level == "gold"

        # Jane moves to Northwind: re-evaluated on commit through the broker, then the night of D.
        association_start(employee=jane, organization=northwind, on=D)
        wait_for(lambda: CompetencyStatus.objects.filter(organization=fabrikam, as_of=D, effective_level="silver").exists())
        night_through_the_broker(log, D, ranges=ranges)
        wait_for(lambda: OutboundEmail.objects.filter(status="sent").exists(), timeout=30)

        [notification] = Notification.objects.filter(organization=fabrikam, kind="at_risk")
        assert notification.payload["items"][0]["cause_params"] == {
            "kind": "moved", "employee_id": jane.pk, "name": "Jane Doe", "day": "2026-11-20"}
        [email] = OutboundEmail.objects.filter(key__startswith="at_risk:")
        assert (email.to_email, email.status, email.attempts) == (admin.email, "sent", 1)
        [departure] = OutboundEmail.objects.filter(key__startswith="departure:")  # Jane's move lowered Gold
        assert departure.to_email == admin.email
        assert SENTENCE in email.body_text and SENTENCE in email.body_html

        # The same night again: the same situation changes nothing and sends nothing more.
        history = StatusChange.objects.count()
        night_through_the_broker(log, D, ranges=ranges)
        time.sleep(1)  # let any stray delivery task show itself
        assert (Notification.objects.count(), OutboundEmail.objects.count(), StatusChange.objects.count()) == (
            1, 2, history)

        with time_machine.travel(datetime.datetime(2026, 11, 21, 9, tzinfo=datetime.UTC), tick=False):
            client.login(username=admin.email, password=PASSWORD)
            page = client.get("/dashboard/").content.decode()
        assert SENTENCE in page and "Cloud Platform: Gold lost (now Silver)." in page
        assert displayed_levels(organization_ids=[fabrikam.pk], day=D + DAY)[(fabrikam.pk, cloud.pk)] == "gold"

        # The override path: an agent grants Contoso Gold for three months.
        override = override_apply(organization=contoso, competency=cloud, level="gold", reason="Exam results pending",
                                  starts_on=D + DAY, actor=agent, day=D + DAY)
        assert override.expires_on == datetime.date(2027, 2, 21)
        wait_for(lambda: CompetencyStatus.objects.filter(organization=contoso, effective_level="gold").exists())
        night_through_the_broker(log, override.expires_on - DAY, ranges=ranges)
        status = CompetencyStatus.objects.get(organization=contoso, competency=cloud)
        assert (status.as_of, status.evaluated_level, status.effective_level) == (
            override.expires_on - DAY, "silver", "gold")

        night_through_the_broker(log, override.expires_on, ranges=ranges)
        override.refresh_from_db()
        assert override.state == "expired"
        status.refresh_from_db()
        assert (status.as_of, status.effective_level, status.override_id) == (override.expires_on, "silver", None)
        assert list(OverrideAudit.objects.filter(override=override).values_list("action", "actor", "day")) == [
            ("apply", agent.pk, D + DAY), ("expire", None, override.expires_on)]
        assert list(StatusChange.objects.filter(organization=contoso, competency=cloud, new_effective__in=["gold", "silver"])
                    .exclude(cause="first_evaluation").values_list("day", "new_effective", "cause")) == [
            (D + DAY, "gold", "override_applied"), (override.expires_on, "silver", "override_expired")]
        assert log.failures() == []
