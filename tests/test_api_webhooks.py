"""Webhooks: events collected from the records, delivered through rows claimed by a worker, signed, retried with
backoff. A local receiver (127.0.0.1 only) fails, times out, then accepts: every event arrives, an event seen twice
carries the same id, and every signature verifies."""

import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.test import Client, override_settings

from api.deliveries import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_valid, webhooks_deliver_due
from api.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from api.webhooks import WebhookError, endpoint_create, webhook_events_collect, webhook_test_send
from memberships.models import Notification

from .common import NOW
from .common import TODAY as D
from .factories import AssociationFactory, EmployeeFactory, MembershipFactory, StatusChangeFactory


class Receiver(BaseHTTPRequestHandler):
    """Answers 500 to the first request, hangs past the sender's timeout on the second, then accepts."""

    received: list = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            n = len(self.received)
            self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        if n == 0:
            self.send_response(500)
        elif n == 1:
            time.sleep(1.5)
            self.send_response(200)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_it_refuses_an_address_that_is_not_https(org, admin):
    for url in ("http://example.com/hook", "ftp://example.com/", "not a url", ""):
        with pytest.raises(WebhookError):
            endpoint_create(organization=org, url=url, events=["level.changed"], by=admin)
    with pytest.raises(WebhookError):
        endpoint_create(organization=org, url="https://example.com/hook", events=["nope"], by=admin)
    assert not WebhookEndpoint.objects.exists()


@override_settings(WEBHOOK_INSECURE_HOSTS=["127.0.0.1"], WEBHOOK_TIMEOUT_SECONDS=0.5, WEBHOOK_RETRY_BASE_SECONDS=30)
def test_a_receiver_that_fails_then_times_out_then_accepts_loses_nothing(org, admin, other_org, receiver):
    with time_machine.travel(NOW, tick=False):
        endpoint = endpoint_create(organization=org, url=receiver, events=["level.changed", "at_risk.raised",
                                   "at_risk.cleared", "membership.bought", "person.joined", "person.left"], by=admin)
        StatusChangeFactory(organization=org, day=D)
        StatusChangeFactory(organization=other_org, day=D)  # another organization's: never sent here
        Notification.objects.create(organization=org, kind="at_risk", key="risk-1", raised_on=D, cleared_on=D)
        MembershipFactory(organization=org, purchased_on=D)
        AssociationFactory(employee=EmployeeFactory(), organization=org, starts_on=D)
        # Joined before the endpoint existed (not sent), left after (sent).
        AssociationFactory(employee=EmployeeFactory(), organization=org, starts_on=D - datetime.timedelta(days=3),
                           ends_on=D)
        webhook_events_collect(day=D)
        assert webhook_events_collect(day=D) == 0  # collecting again adds nothing
    expected = {f"evt_{pk}" for pk in WebhookEvent.objects.filter(organization=org, occurred_on__gte=D)
                .values_list("pk", flat=True)}
    assert len(expected) == 6 and WebhookDelivery.objects.count() == 6
    now = NOW
    for _round in range(8):
        with time_machine.travel(now, tick=False):
            webhooks_deliver_due(now=now)
        now += datetime.timedelta(hours=1)
        if not WebhookDelivery.objects.exclude(status="delivered").exists():
            break
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    retried = WebhookDelivery.objects.filter(attempts__gt=1)
    assert retried.count() == 2  # the one answered 500 and the one that timed out
    received_ids = []
    for headers, body in Receiver.received:
        payload = json.loads(body)
        assert headers[EVENT_ID_HEADER.lower()] == payload["id"]
        assert payload["organization"] == org.mpn_id
        stamp = int(headers[SIGNATURE_HEADER.lower()].split(",")[0][2:])
        assert signature_valid(endpoint.secret, headers[SIGNATURE_HEADER.lower()], body, now=stamp)
        assert not signature_valid("whsec_wrong", headers[SIGNATURE_HEADER.lower()], body, now=stamp)
        received_ids.append(payload["id"])
    assert set(received_ids) == expected  # every event arrived; a repeat is the same event, same id


def test_backoff_waits_longer_after_each_failure(org, admin):
    from api.deliveries import backoff_seconds

    waits = [backoff_seconds(n) for n in range(1, 12)]
    assert waits == sorted(waits) and waits[0] > 0 and waits[-1] <= 6 * 3600


def test_the_page_registers_an_endpoint_sends_a_test_event_and_shows_the_log(org, admin, other_org, outsider):
    client = Client()
    client.force_login(admin)
    answer = client.post("/dashboard/api-tokens/webhooks/", {"organization": org.mpn_id,
                         "url": "https://hooks.fabrikam.example/pc", "events": ["level.changed", "person.left"]})
    endpoint = WebhookEndpoint.objects.get(organization=org)
    assert endpoint.secret in answer.content.decode()
    assert client.post("/dashboard/api-tokens/webhooks/", {"organization": org.mpn_id, "url": "http://x.example",
                       "events": ["level.changed"]}).status_code == 400
    theirs = endpoint_create(organization=other_org, url="https://northwind.example/h", events=["person.left"], by=outsider)
    assert client.post(f"/dashboard/api-tokens/webhooks/{theirs.pk}/test/", {"organization": org.mpn_id}
                       ).status_code == 404
    client.post(f"/dashboard/api-tokens/webhooks/{endpoint.pk}/test/", {"organization": org.mpn_id})
    assert WebhookDelivery.objects.filter(endpoint=endpoint, event__type="test").count() == 1
    assert not WebhookDelivery.objects.filter(endpoint=theirs).exists()
    page = client.get("/dashboard/api-tokens/").content.decode()
    assert "evt_" in page and "northwind" not in page
    webhook_test_send(endpoint=endpoint)
