"""Email delivery: rows first, claimed one at a time, retried on SMTP failure, never sent twice."""

import datetime
import re
import smtplib
import threading

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction

from memberships import tasks
from memberships.models import OutboundEmail
from memberships.outbox import (
    MAX_ATTEMPTS,
    email_claim,
    email_deliver,
    email_enqueue,
    emails_deliver_pending,
    emails_reclaim_stuck,
    message_id,
)
from memberships.tasks import deliver_on_commit

from .factories import OrganizationFactory, ReferralFactory

NOW = datetime.datetime(2026, 11, 20, 2, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


class FlakyBackend(BaseEmailBackend):
    """An SMTP server that refuses the first `refusals` connections, then accepts."""

    refusals = 1
    calls = 0
    delivered: list = []

    def send_messages(self, messages):
        FlakyBackend.calls += 1
        if FlakyBackend.calls <= FlakyBackend.refusals:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        FlakyBackend.delivered.extend(messages)
        return len(messages)


@pytest.fixture
def flaky(settings):
    FlakyBackend.refusals, FlakyBackend.calls, FlakyBackend.delivered = 1, 0, []
    settings.MAILERS = {"default": {"BACKEND": "tests.test_email_delivery.FlakyBackend"}}
    return FlakyBackend


def queue(n=1, **kwargs):
    org = OrganizationFactory(name="Fabrikam")
    rows = []
    for i in range(n):
        referral = ReferralFactory(organization=org, name=f"Customer {i}")
        rows.append(email_enqueue(key=f"test:{referral.pk}", to_email=f"admin{i}@fabrikam.example", template="referral",
                                  context={"organization": org, "referral": referral, "admin": org}, **kwargs))
    return rows


def test_it_sends_plain_text_and_html_through_django_mail_and_marks_the_row_sent(db):
    [email] = queue()
    assert email_deliver(email_id=email.pk, now=NOW).outcome == "sent"
    email.refresh_from_db()
    assert (email.status, email.attempts, email.sent_at, email.last_error) == ("sent", 1, NOW, "")
    [sent] = mail.outbox
    assert sent.to == ["admin0@fabrikam.example"] and sent.subject == email.subject
    assert sent.body == email.body_text
    assert sent.alternatives[0].content == email.body_html and sent.alternatives[0].mimetype == "text/html"
    assert sent.extra_headers["Message-ID"] == message_id(email, "partnercenter.localhost")
    assert re.fullmatch(rf"<outbound-{email.pk}\.\d{{20}}@partnercenter\.localhost>", sent.extra_headers["Message-ID"])


def test_the_message_id_is_the_same_at_every_attempt_and_not_handed_out_again_after_a_restore(db, flaky):
    FlakyBackend.refusals = 1
    with time_machine.travel(NOW, tick=False):
        [email] = queue()
    assert email_deliver(email_id=email.pk, now=NOW).outcome == "retry"
    assert email_deliver(email_id=email.pk, now=NOW + MINUTE).outcome == "sent"
    [sent] = FlakyBackend.delivered
    email.refresh_from_db()
    assert sent.extra_headers["Message-ID"] == message_id(email, "partnercenter.localhost")
    # A database restored from a backup hands this id out again, to another email: another Message-ID.
    pk, before = email.pk, sent.extra_headers["Message-ID"]
    OutboundEmail.objects.filter(pk=pk).delete()
    with time_machine.travel(NOW + datetime.timedelta(days=1), tick=False):
        again = OutboundEmail.objects.create(pk=pk, key="after-restore", to_email="x@fabrikam.example", subject="s",
                                             body_text="b")
    assert again.pk == pk and message_id(again, "partnercenter.localhost") != before


def test_a_row_is_sent_once_whoever_asks(db):
    [email] = queue()
    assert email_claim(email_id=email.pk, now=NOW) is not None
    assert email_claim(email_id=email.pk, now=NOW) is None  # claimed: nobody else gets it
    assert email_deliver(email_id=email.pk, now=NOW).outcome == "skipped"
    assert mail.outbox == []


def test_a_refused_send_goes_back_to_pending_and_the_next_attempt_sends_it_once(db, flaky):
    [email] = queue()
    first = email_deliver(email_id=email.pk, now=NOW)
    assert (first.outcome, first.attempts) == ("retry", 1)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("pending", 1)
    assert email.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert flaky.delivered == []
    assert email_deliver(email_id=email.pk, now=NOW + MINUTE).outcome == "sent"
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == ("sent", 2, "")
    assert [m.to for m in flaky.delivered] == [["admin0@fabrikam.example"]]


def test_every_email_arrives_once_when_smtp_refuses_then_accepts(db, flaky):
    flaky.refusals = 2
    rows = queue(5)
    first = emails_deliver_pending(now=NOW)
    # Each row tried once per run: the two refused ones wait for the next run instead of looping.
    assert (first["sent"], first["retry"]) == (3, 2)
    second = emails_deliver_pending(now=NOW + 5 * MINUTE)
    assert (second["sent"], second["retry"]) == (2, 0)
    assert emails_deliver_pending(now=NOW + 10 * MINUTE)["sent"] == 0
    assert sorted(m.to[0] for m in flaky.delivered) == sorted(r.to_email for r in rows)
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}


def test_the_delivery_task_retries_a_refused_email_and_it_arrives_once(db, flaky, monkeypatch):
    countdowns = []
    real_retry = tasks.deliver_email.retry

    def retry(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(tasks.deliver_email, "retry", retry)
    [email] = queue()
    # In-process, the retry runs at once instead of a minute later (a real worker: tests/test_worker_nightly.py).
    tasks.deliver_email.apply(args=[email.pk], throw=False)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 2)
    assert countdowns == [60]
    assert len(flaky.delivered) == 1


def test_the_backoff_doubles_up_to_an_hour():
    assert [tasks.retry_countdown(n) for n in (1, 2, 3, 4, 7, 8, 20)] == [60, 120, 240, 480, 3600, 3600, 3600]


def test_after_the_last_attempt_the_row_is_failed_and_left_alone(db, flaky):
    flaky.refusals = 100
    [email] = queue()
    for minute in range(MAX_ATTEMPTS):
        email_deliver(email_id=email.pk, now=NOW + minute * MINUTE)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("failed", MAX_ATTEMPTS)
    assert emails_deliver_pending(now=NOW + 60 * MINUTE)["sent"] == 0
    assert flaky.calls == MAX_ATTEMPTS


def test_a_row_left_in_sending_by_a_dead_worker_is_reclaimed_after_15_minutes(db):
    [email] = queue()
    email_claim(email_id=email.pk, now=NOW)  # the worker died before sending or marking it
    assert emails_reclaim_stuck(now=NOW + 14 * MINUTE) == 0
    assert emails_reclaim_stuck(now=NOW + 16 * MINUTE) == 1
    assert emails_deliver_pending(now=NOW + 16 * MINUTE)["sent"] == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 2)
    assert len(mail.outbox) == 1


def test_delivery_is_queued_when_the_transaction_commits_and_not_if_it_rolls_back(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            [lost] = queue()
            deliver_on_commit([lost.pk])
            raise RuntimeError("rolled back")
    assert callbacks == [] and not OutboundEmail.objects.exists()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            [email] = queue()
            deliver_on_commit([email.pk])
            assert mail.outbox == []  # nothing is sent from inside the transaction
    assert len(callbacks) == 1
    email.refresh_from_db()
    assert email.status == "sent" and len(mail.outbox) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent workers need PostgreSQL; SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_workers_draining_at_once_send_each_email_exactly_once():
    rows = queue(12)
    barrier = threading.Barrier(4)
    errors = []

    def worker():
        try:
            barrier.wait()
            emails_deliver_pending(now=NOW)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.to_email for r in rows)
    assert set(OutboundEmail.objects.values_list("attempts", "status")) == {(1, "sent")}
