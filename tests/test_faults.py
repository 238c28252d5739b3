"""Faults: a worker killed mid-night, an SMTP server that refuses, Redis crashed, two agents racing.

- A real Celery worker (two processes, four ranges of organizations) runs
  the night through the broker, with email going to a local SMTP server.
  It is killed (SIGKILL, the whole worker) just before a statement chosen
  at random among those a clean night runs; a new worker starts and the
  night is run again (`run_nightly`, or beat's catch-up). Every time:
  statuses, history, overrides, notifications and emails equal a clean
  run's, and every email arrived once (twice only in the window rules.md
  names, which a test forces on purpose). FAULT_RUNS runs (2 here;
  `make stress`: 24, on PostgreSQL with Redis).
- The SMTP server is down, then refuses, then accepts: every email arrives
  once (the worker's retries and beat's five-minute sweep).
- Redis is killed while the night runs and comes back: the night
  completes (`make stress`: it needs `redis-server`).
- Two agents save the same override at the same instant: one wins, the
  other is told "An active override already exists …".

Figures (runs, faults injected, duplicates, data lost) go to
test-artifacts/security-figures.json (docs/security.md).
"""

import datetime
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from competencies import models as cm
from competencies.statuses import statuses_refresh
from memberships.models import Notification, OutboundEmail
from memberships.outbox import STUCK_AFTER, emails_deliver_pending
from memberships.outbox import message_id as row_message_id
from partnercenter.night import organization_ranges, run_nightly
from partnercenter.settings.base import mailer_from_url

from . import figures
from .common import DAY, PASSWORD, D
from .factories import (
    AssociationFactory,
    EmployeeFactory,
    MembershipFactory,
    OrganizationFactory,
    OverrideFactory,
    build_competency,
    certified_employee,
)
from .fakesmtp import FakeSMTP, free_port
from .test_worker_nightly import WorkerLog
from .worker import broker_app, celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BATCH = 2  # organizations per range in the worker: four ranges for the six (the last one open-ended)
DOMAIN = "partnercenter.localhost"
FAULT_RUNS = int(os.environ.get("FAULT_RUNS", "2"))
# A worker that died holds tasks nobody acknowledged: Redis gives them to another worker after this long.
WORKER_ENV = {"EVALUATION_BATCH_SIZE": str(BATCH), "CELERY_VISIBILITY_TIMEOUT": "5",
              "CELERY_UNACKED_RESTORE_INTERVAL": "1", "CELERY_UNACKED_RESTORE_THROTTLE": "1",
              "EMAIL_RETRY_BASE_SECONDS": "1"}


# ---------------------------------------------------------------------------
# The night: six organizations, and what changes on day D


def build_night() -> None:
    """Statuses as of D - 1, then the changes of day D (written directly, so nothing is evaluated yet).

    On D: Jane leaves Fabrikam (Gold member: Cloud Platform drops to Silver, at risk, two admins
    emailed) for Contoso (Silver to Gold); Northwind's Gold override expires (a Gold member: at risk);
    Tailspin's anniversary is 10 days away and Wingtip's was 25 days ago (renewal reminders).
    """
    people = {"kind": "certified_people", "any_of": ["70-533", "70-535"]}
    cloud = build_competency("cloud-platform", name="Cloud Platform", silver=[[{**people, "count": 1}]],
                             gold=[[{**people, "count": 2}]])
    build_competency("application-development", name="Application Development",
                     silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-480"]}]])
    fabrikam, contoso, northwind, tailspin, wingtip, litware = [
        OrganizationFactory(mpn_id=mpn, name=name) for mpn, name in [
            ("1000001", "Fabrikam"), ("1000002", "Contoso"), ("1000003", "Northwind"), ("1000004", "Tailspin"),
            ("1000005", "Wingtip"), ("1000006", "Litware")]
    ]
    start = datetime.date(2026, 1, 1)
    jane = certified_employee(fabrikam, "70-533", email="jane@fabrikam.example", name="Jane Doe", starts_on=start)
    certified_employee(fabrikam, "70-535", "70-480", email="john@fabrikam.example", name="John Roe", starts_on=start)
    certified_employee(contoso, "70-533", email="carl@contoso.example", name="Carl Contoso", starts_on=start)
    certified_employee(northwind, "70-533", email="nora@northwind.example", name="Nora North", starts_on=start)
    certified_employee(tailspin, "70-535", email="tim@tailspin.example", name="Tim Tail", starts_on=start)
    certified_employee(wingtip, "70-480", email="wes@wingtip.example", name="Wes Wing", starts_on=start)
    certified_employee(litware, "70-533", "70-480", email="lee@litware.example", name="Lee Lit", starts_on=start)
    for organization, emails in [(fabrikam, ["alice@fabrikam.example", "adam@fabrikam.example"]),
                                 (northwind, ["nina@northwind.example"]), (tailspin, ["tom@tailspin.example"]),
                                 (wingtip, ["wendy@wingtip.example"])]:
        for address in emails:
            organization.admins.add(EmployeeFactory(email=address, name=address.split("@")[0].title()))
    MembershipFactory(organization=fabrikam, level="gold", purchased_on=D - 60 * DAY)
    MembershipFactory(organization=northwind, level="gold", purchased_on=D - 60 * DAY)
    MembershipFactory(organization=tailspin, level="silver", purchased_on=datetime.date(2025, 11, 30))
    MembershipFactory(organization=wingtip, level="silver", purchased_on=datetime.date(2025, 10, 26))
    OverrideFactory(organization=northwind, competency=cloud, level="gold", starts_on=D - 90 * DAY, expires_on=D,
                    state="active")
    statuses_refresh(organization_ids=list(cm.Organization.objects.values_list("pk", flat=True)), day=D - DAY)
    # Day D: Jane moves to Contoso (what association_start writes, without its re-evaluation on commit).
    cm.Association.objects.filter(employee=jane, ends_on__isnull=True).update(ends_on=D)
    AssociationFactory(employee=jane, organization=contoso, starts_on=D)


def reset_database() -> None:
    """Empty every table and restart the ids, so each run builds the same rows with the same ids."""
    call_command("flush", interactive=False, verbosity=0)


def outcome() -> dict:
    """What a night decides, without the instants it happened at.

    Statuses, history, overrides and their audit, notifications, emails.
    """
    notification_keys = dict(Notification.objects.values_list("pk", "key"))
    return {
        "statuses": sorted(cm.CompetencyStatus.objects.values_list(
            "organization_id", "competency_id", "as_of", "evaluated_level", "effective_level", "override_id")),
        "history": sorted((*row[:-1], json.dumps(row[-1], sort_keys=True)) for row in cm.StatusChange.objects.values_list(
            "organization_id", "competency_id", "day", "old_evaluated", "new_evaluated", "old_effective",
            "new_effective", "cause", "cause_params")),
        "overrides": sorted(cm.Override.objects.values_list("pk", "state", "expires_on")),
        "override_audit": sorted(cm.OverrideAudit.objects.values_list("override_id", "action", "day")),
        "notifications": sorted((n.key, n.kind, n.raised_on, n.cleared_on, json.dumps(n.payload, sort_keys=True))
                                for n in Notification.objects.all()),
        # An email's own key names its notification's id, which depends on which batch ran first: use its key.
        "emails": sorted((notification_keys.get(e.notification_id, ""), e.to_email, e.subject, e.body_text, e.status)
                         for e in OutboundEmail.objects.all()),
    }


def differences(got: dict, expected: dict) -> dict:
    """Per part of the outcome, what only the faulty run has and what only the reference has."""
    found = {}
    for part in expected:
        extra = [row for row in got[part] if row not in expected[part]]
        missing = [row for row in expected[part] if row not in got[part]]
        if extra or missing:
            found[part] = {"extra": extra, "missing": missing}
    return found


def message_id(email: OutboundEmail) -> str:
    return row_message_id(email, DOMAIN)


# ---------------------------------------------------------------------------
# The broker


def broker_reset(control) -> None:
    """Forget every message of an earlier run, acknowledged or not (a killed worker leaves some behind)."""
    control.control.purge()
    url = control.conf.broker_write_url
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        client.delete("unacked", "unacked_index", "unacked_mutex", *client.keys("celery*"))


class TaskLog(WorkerLog):
    """The worker's log, read for which tasks it received and has not finished yet.

    A task is waiting from its last "received" to its "succeeded" (or retry, raised, failed). A retry is
    received again. When the connection to the broker is lost, the worker gives back what it had received
    and not started ("Restoring N unacknowledged message(s)"): those are the broker's again, not the log's.
    """

    EVENT = re.compile(r"Task [\w.]+\[([0-9a-f-]+)\] (received|succeeded|retry|raised|failed)")

    def unfinished(self) -> int:
        waiting = set()
        for line in list(self.lines):
            if "Connection to broker lost" in line:
                waiting.clear()
            elif match := self.EVENT.search(line):
                (waiting.add if match.group(2) == "received" else waiting.discard)(match.group(1))
        return len(waiting)


def broker_waiting(control) -> int:
    """Messages waiting in the queue, and (Redis) delivered to a worker but not acknowledged yet."""
    url = control.conf.broker_write_url
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        return client.llen("celery") + client.hlen("unacked")
    with control.connection_for_write() as conn:
        return conn.default_channel.queue_declare("celery", passive=True).message_count


def settle(control, worker, *, timeout=90, process=None) -> bool:
    """Wait until nothing waits in the broker and the worker has finished every task it received, three times in a row.

    `worker` is its log (a `TaskLog`) or a `Supervised` worker, restarted meanwhile if it exits. With
    `process` (the worker's), False as soon as that process has died: a kill chosen among the last
    statements of a night (an email sent after the last range's reminders) falls here.
    """
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        log = worker.check() and worker.log if isinstance(worker, Supervised) else worker
        quiet = quiet + 1 if broker_waiting(control) == 0 and log.unfinished() == 0 else 0
        if quiet >= 3:
            return True
        time.sleep(0.2)
    records = [line for line in log.lines if line.startswith("[")]
    raise AssertionError("the worker never went quiet:\n" + "".join(records[-40:]))


def beat_sweep(smtp) -> dict:
    """Beat's "deliver-pending-emails" (every five minutes), run here as 15 minutes on: stuck rows are reclaimed."""
    return emails_deliver_pending(now=timezone.now() + STUCK_AFTER + datetime.timedelta(minutes=1))


# ---------------------------------------------------------------------------
# A worker killed at random points of the night


class Run:
    """One night through a worker: optionally killed before statement `kill_at`, then restarted and run again."""

    def __init__(self, tmp: Path, smtp: FakeSMTP, control, *, kill_at: int = 0,
                 rerun: str = "partnercenter.tasks.run_nightly", kill_before: dict | None = None):
        self.counter = tmp / f"statements-{kill_at}"
        self.counter.write_text("0")
        (tmp / f"statements-{kill_at}.killed").unlink(missing_ok=True)
        self.smtp, self.control, self.kill_at, self.rerun = smtp, control, kill_at, rerun
        self.kill_before = kill_before or {}
        self.killed: dict | None = None
        self.statements = 0

    def env(self, kill_at: int) -> dict:
        return {**WORKER_ENV, "TEST_WORKER_EMAIL_URL": self.smtp.url, "FAULT_COUNTER": str(self.counter),
                "FAULT_KILL_AT": str(kill_at), **(self.kill_before if kill_at else {})}

    def night(self, log: TaskLog, process, task: str = "partnercenter.tasks.run_nightly") -> bool:
        """Enqueue the night of D (what beat does); True once every range's chain has run, False if the worker died."""
        done = log.succeeded("partnercenter.tasks.remind_batch")
        ranges = len(list(organization_ranges(size=BATCH)))
        self.control.send_task(task, args=[D.isoformat()])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if log.succeeded("partnercenter.tasks.remind_batch") >= done + ranges:
                return True
            time.sleep(0.1)
        raise AssertionError(f"the night did not finish: {''.join(log.lines[-30:])}")

    def go(self) -> None:
        broker_url = self.control.conf.broker_write_url
        with celery_worker(concurrency=2, extra_env=self.env(self.kill_at), broker_url=broker_url,
                           include=("tests.fault_hooks",), purge=False, graceful=False) as process:
            log = TaskLog(process)
            # The night may end (every range's reminders done) and the worker still die while it sends the emails.
            finished = self.night(log, process) and settle(self.control, log, process=process)
            if finished:
                assert log.failures() == [], "".join(log.failures())
        killed = self.counter.with_name(self.counter.name + ".killed")
        if not finished:
            assert killed.exists(), "the worker died without being killed: " + "".join(log.lines[-30:])
            self.killed = json.loads(killed.read_text())
            self.restarted_at = time.time()
            # A new worker, and the night again: `manage.py run_nightly` by an operator, or beat's catch-up.
            with celery_worker(concurrency=2, extra_env=self.env(0), broker_url=broker_url,
                               include=("tests.fault_hooks",), purge=False, graceful=False) as process:
                log = TaskLog(process)
                assert self.night(log, process, self.rerun), "the worker died again"
                settle(self.control, log)
                # Beat's sweep 15 minutes on: a row the dead worker left in `sending` is reclaimed and sent.
                # (Only now that the live worker is idle: no row is being sent by it.)
                beat_sweep(self.smtp)
                settle(self.control, log)
        self.statements = int(self.counter.read_text() or 0)

    def duplicates_allowed(self, email: OutboundEmail, arrivals: list[float]) -> bool:
        """The one window of rules.md: the SMTP server accepted the email, the worker died before marking it sent.

        Then the row was still `sending` when the worker died, so it was claimed twice (by the dead worker,
        then by beat's sweep 15 minutes on): the first copy arrived before the new worker started (it may
        arrive an instant after the kill: the message was on its way), the second after.
        """
        if not self.killed or len(arrivals) != 2:
            return False
        return email.attempts >= 2 and arrivals[0] < self.restarted_at < arrivals[1]


def check_every_email_arrived_once(smtp: FakeSMTP, run: Run | None = None) -> int:
    """Each email row sent and received by the SMTP server exactly once (twice only in the documented window)."""
    received = smtp.message_ids()
    rows = {message_id(e): e for e in OutboundEmail.objects.all()}
    assert set(received) == set(rows), (sorted(received), sorted(rows))  # nothing lost, nothing foreign
    twice = 0
    for mid, email in rows.items():
        assert email.status == "sent", (mid, email.status, email.last_error)
        if received[mid] == 2 and run is not None and run.duplicates_allowed(email, smtp.arrivals(mid)):
            twice += 1
            continue
        assert received[mid] == 1, (mid, received[mid], run.killed if run else None)
    return twice


@pytest.fixture
def smtp(settings):
    server = FakeSMTP()
    server.accept()
    settings.MAILERS = {"default": mailer_from_url(server.url)}
    yield server
    server.close()


def test_a_worker_killed_at_random_points_of_the_night_then_rerun_ends_as_a_clean_run(tmp_path, smtp):
    control = broker_app()
    seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(10**6))
    rng = random.Random(seed)

    # The reference: the night run synchronously (manage.py run_nightly), then a clean night through the worker.
    reset_database()
    build_night()
    run_nightly(day=D, now=timezone.now())
    reference = outcome()
    assert len(reference["emails"]) == 5 and {e[-1] for e in reference["emails"]} == {"sent"}
    check_every_email_arrived_once(smtp)

    reset_database()
    smtp.clear()
    broker_reset(control)
    build_night()
    clean = Run(tmp_path, smtp, control)
    clean.go()
    assert clean.killed is None and differences(outcome(), reference) == {}
    check_every_email_arrived_once(smtp)
    statements = clean.statements
    assert statements > 100

    report, statements_killed_before = Counter(), Counter()
    for number in range(1, FAULT_RUNS + 1):
        reset_database()
        smtp.clear()
        broker_reset(control)
        build_night()
        # The last run dies among the night's last statements (an email after the last range's reminders).
        kill_at = statements - 2 if number == FAULT_RUNS else rng.randint(1, statements)
        rerun = "partnercenter.tasks.run_nightly" if number % 2 else "partnercenter.tasks.nightly_catch_up"
        run = Run(tmp_path, smtp, control, kill_at=kill_at, rerun=rerun)
        run.go()
        where = f"run {number}, seed {seed}, killed before statement {kill_at}, then {rerun}: {run.killed}"
        assert differences(outcome(), reference) == {}, where
        try:
            report["smtp_duplicates_in_window"] += check_every_email_arrived_once(smtp, run)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        report["runs"] += 1
        report["kills"] += run.killed is not None
        if run.killed:
            statements_killed_before[run.killed["sql"].split()[0].upper()] += 1
    figures.count("faults.worker_kill_runs", report["runs"])
    figures.count("faults.worker_kills", report["kills"])
    figures.count("faults.statements_per_clean_night", statements)
    figures.count("faults.smtp_duplicates_in_documented_window", report["smtp_duplicates_in_window"])
    figures.record("faults.worker_kills_by_statement", dict(sorted(statements_killed_before.items())))
    figures.record("faults.worker_kill_seed", seed)
    figures.count("faults.data_lost", 0)
    assert report["kills"] >= max(1, FAULT_RUNS * 3 // 4), report


def test_a_worker_killed_after_the_smtp_server_accepted_an_email_and_before_marking_it_sends_it_again_once(
    tmp_path, smtp
):
    """The one way an email may go out twice (rules.md): the same Message-ID again, and nothing else doubled."""
    control = broker_app()
    reset_database()
    smtp.clear()
    broker_reset(control)
    build_night()
    run = Run(tmp_path, smtp, control, kill_at=1, kill_before={
        "FAULT_KILL_BEFORE": 'UPDATE "memberships_outboundemail" SET "status"', "FAULT_KILL_PARAM": "sent"})
    run.go()
    assert run.killed is not None and run.killed["params"][0] == "sent"
    received = smtp.message_ids()
    twice = [mid for mid, n in received.items() if n == 2]
    assert len(twice) >= 1 and set(received.values()) <= {1, 2}
    assert check_every_email_arrived_once(smtp, run) == len(twice)  # each second copy in the window, and only those
    figures.count("faults.smtp_duplicates_forced_in_the_window", len(twice))


# ---------------------------------------------------------------------------
# The SMTP server down, then refusing, then accepting


def test_every_email_arrives_once_when_the_smtp_server_is_down_then_refuses_then_accepts(settings):
    smtp = FakeSMTP()  # down: the port is closed
    settings.MAILERS = {"default": mailer_from_url(smtp.url)}
    reset_database()
    build_night()
    control = broker_app()
    try:
        with celery_worker(concurrency=2, extra_env={**WORKER_ENV, "TEST_WORKER_EMAIL_URL": smtp.url},
                           graceful=False) as process:
            log = TaskLog(process)
            control.send_task("partnercenter.tasks.run_nightly", args=[D.isoformat()])
            wait_for(lambda: OutboundEmail.objects.count() == 5 and not OutboundEmail.objects.filter(
                attempts=0).exists(), timeout=60)
            assert smtp.received == [] and not OutboundEmail.objects.filter(status="sent").exists()
            # Listening now, but every message gets "451 try again later": until each email was refused so
            # (its last error the 451, not the closed port of an attempt made while the server was starting).
            smtp.refuse()
            wait_for(lambda: all("451" in error for error in OutboundEmail.objects.values_list("last_error", flat=True)),
                     timeout=60)
            assert smtp.received == [] and smtp.refused >= 5
            smtp.accept()
            # The worker's own retries (1, 2, 4 … seconds here; minutes in production) send them; beat's
            # five-minute sweep is the safety net for an email whose task gave up.
            wait_for(lambda: not OutboundEmail.objects.exclude(status="sent").exists(), timeout=60)
            control.send_task("memberships.tasks.deliver_pending")
            settle(control, log)
            assert log.failures() == [], "".join(log.failures())
        assert check_every_email_arrived_once(smtp) == 0
        attempts = list(OutboundEmail.objects.values_list("attempts", flat=True))
        assert min(attempts) >= 3 and max(attempts) < 10  # refused at least twice each, never given up on
        figures.count("faults.smtp_refusals", smtp.refused)
        figures.count("faults.smtp_emails_delivered_once", len(attempts))
    finally:
        smtp.close()


# ---------------------------------------------------------------------------
# Redis killed during the night, then back


class Supervised:
    """A worker kept running as systemd's `Restart=always` keeps it: started again whenever it exits.

    (kombu 5.7 may end a worker that loses Redis while it holds an unacknowledged message: "Unrecoverable
    error: AttributeError(... 'hostname')". Production runs workers under such a supervisor.)
    """

    def __init__(self, **options):
        self.options, self.logs, self.restarts = options, [], 0
        self._start()

    def _start(self):
        self._context = celery_worker(**self.options)
        self.process = self._context.__enter__()
        self.logs.append(TaskLog(self.process))

    def check(self) -> bool:
        if self.process.poll() is not None:
            self._context.__exit__(None, None, None)
            self.restarts += 1
            self._start()
        return True

    def succeeded(self, task: str) -> int:
        return sum(log.succeeded(task) for log in self.logs)

    @property
    def log(self) -> TaskLog:
        return self.logs[-1]

    def stop(self):
        self._context.__exit__(None, None, None)


REDIS_RUNS = int(os.environ.get("REDIS_RUNS", "3"))
RESTART_AFTER = ["partnercenter.tasks.evaluate_batch", "partnercenter.tasks.notify_batch",
                 "memberships.tasks.deliver_email"]


@pytest.mark.stress
def test_the_night_completes_after_redis_comes_back(tmp_path, settings):
    server = shutil.which("redis-server")
    assert server, "make stress needs redis-server (apt-get install redis-server)"
    smtp = FakeSMTP()
    smtp.accept()
    settings.MAILERS = {"default": mailer_from_url(smtp.url)}
    port = free_port()
    data = Path(tempfile.mkdtemp(dir=tmp_path))
    # As a broker must be run in production: every write appended to disk before it is acknowledged.
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
               "--appendfsync", "always", "--dir", str(data)]

    def start_redis():
        import redis

        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        wait_for(lambda: _pings(redis.Redis(port=port)), timeout=20)
        return process

    url = f"redis://127.0.0.1:{port}/0"
    reset_database()
    build_night()
    run_nightly(day=D, now=timezone.now())
    reference = outcome()

    redis_process = start_redis()
    control = broker_app(url)
    report = Counter()
    try:
        for number in range(REDIS_RUNS):
            reset_database()
            smtp.clear()
            broker_reset(control)
            build_night()
            control = broker_app(url)  # a fresh connection pool: the last one's connections died with Redis
            after = RESTART_AFTER[number % len(RESTART_AFTER)]
            worker = Supervised(concurrency=2, extra_env={**WORKER_ENV, "TEST_WORKER_EMAIL_URL": smtp.url},
                                broker_url=url, graceful=False)
            try:
                control.send_task("partnercenter.tasks.run_nightly", args=[D.isoformat()])
                wait_for(lambda: worker.succeeded(after) >= 1, timeout=60)  # noqa: B023 - waited for here, in this iteration
                redis_process.kill()  # SIGKILL: a crash, not a shutdown
                redis_process.wait()
                time.sleep(3)
                redis_process = start_redis()
                report["restarts"] += 1
                # What was queued goes on (acknowledged work survives in the append-only file); a worker that
                # died is started again; then beat's 04:00 catch-up runs whatever a lost message left undone.
                settle(control, worker)
                report["complete_before_catch_up"] += differences(outcome(), reference) == {}
                control.send_task("partnercenter.tasks.nightly_catch_up", args=[D.isoformat()])
                settle(control, worker)
                # Emails whose delivery task could not be queued while Redis was away: beat's sweep sends them.
                control.send_task("memberships.tasks.deliver_pending")
                settle(control, worker)
                beat_sweep(smtp)  # 15 minutes on: a row a dying worker left in `sending` is sent
            finally:
                worker.stop()
            assert differences(outcome(), reference) == {}, f"run {number}, Redis killed after {after}"
            assert check_every_email_arrived_once(smtp) == 0
            report["worker_restarts"] += worker.restarts
        figures.count("faults.redis_restarts", report["restarts"])
        figures.count("faults.worker_restarts_after_redis_loss", report["worker_restarts"])
        figures.count("faults.redis_nights_complete_before_the_catch_up", report["complete_before_catch_up"])
        figures.count("faults.data_lost", 0)
    finally:
        redis_process.kill()
        redis_process.wait()
        smtp.close()


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:  # noqa: BLE001 - not up yet
        return False


# ---------------------------------------------------------------------------
# Two agents, one override, the same instant


def test_two_agents_saving_the_same_override_at_once_one_wins_and_the_other_is_told_why(monkeypatch):
    import importlib

    from django.apps import apps

    from competencies import admin_overrides as competency_admin
    from competencies import overrides

    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    cloud = build_competency("cloud-platform", name="Cloud Platform",
                             silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]])
    fabrikam = OrganizationFactory(name="Fabrikam", mpn_id="1000001")
    agents = []
    for address in ("ada@microsoft.example", "ben@microsoft.example"):
        agent = EmployeeFactory(email=address, is_staff=True)
        agent.groups.add(Group.objects.get(name="agent"))
        agents.append(agent)
    url = reverse("admin:competencies_override_add")
    form = {"organization": fabrikam.pk, "competency": cloud.pk, "level": "gold", "starts_on": timezone.localdate(),
            "expires_on": "", "reason": "Exam results pending at Pearson VUE"}

    # Both agents preview, then save at the same instant. On PostgreSQL both saves pass every check before
    # either writes (a barrier holds them), so the database's unique index decides; SQLite serialises the
    # two transactions from their start, so the second one's check sees the first override.
    clients = []
    for agent in agents:
        client = Client()
        client.login(username=agent.email, password=PASSWORD)
        preview = client.post(url, {**form, "_preview": "Preview"})
        clients.append((client, preview.context["adminform"].form.initial["preview_token"],
                        preview.context["adminform"].form.initial["expires_on"]))
    barrier = threading.Barrier(2, timeout=20)
    apply = overrides.override_apply

    def at_once(**kwargs):
        barrier.wait()
        return apply(**kwargs)

    if connection.vendor == "postgresql":
        monkeypatch.setattr(competency_admin, "override_apply", at_once)
    start = threading.Barrier(2, timeout=20)
    responses = [None, None]

    def save(index):
        client, token, expires_on = clients[index]
        start.wait()
        try:
            data = {**form, "expires_on": expires_on, "preview_token": token, "_save": "Save"}
            responses[index] = client.post(url, data, follow=True)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cm.Override.objects.filter(state="active").count() == 1 and cm.OverrideAudit.objects.count() == 1
    pages = [r.content.decode() for r in responses]
    won = [p for p in pages if "was added successfully" in p]
    lost = [p for p in pages if "An active override already exists for Fabrikam in Cloud Platform (Gold until" in p]
    assert len(won) == 1 and len(lost) == 1
    assert "extend or revoke it instead" in lost[0]
    figures.count("faults.concurrent_override_races", 1)
