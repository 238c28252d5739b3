"""Sending webhook deliveries: claimed by one worker, signed, retried with backoff until the receiver accepts (2xx).

At least once: a delivery is marked delivered only after a 2xx; a worker that
dies after sending leaves it claimed, and it is claimed again after
STUCK_AFTER, so a receiver may see an event twice, always with the same id.
"""

import datetime
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import WebhookDelivery

SIGNATURE_HEADER = "X-PartnerCenter-Signature"
EVENT_ID_HEADER = "X-PartnerCenter-Event-Id"
STUCK_AFTER = datetime.timedelta(minutes=10)
MAX_ATTEMPTS = 15
MAX_BACKOFF_SECONDS = 6 * 3600


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the endpoint's secret>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_valid(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (replays refused)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), header)


def event_body(delivery: WebhookDelivery) -> bytes:
    event = delivery.event
    payload = {"id": f"evt_{event.pk}", "type": event.type, "occurred_on": event.occurred_on,
               "organization": event.organization.mpn_id, "data": event.data}
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def backoff_seconds(attempts: int) -> int:
    """After the n-th failed attempt wait base × 2^(n-1) seconds, at most six hours."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def webhook_claim_next(*, now: datetime.datetime) -> WebhookDelivery | None:
    """The next due delivery, claimed for this worker (rows other workers hold are skipped)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STUCK_AFTER))
            .order_by("next_attempt_at", "id")
            .first()
        )
        if delivery is None:
            return None
        WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_at=now)
    return WebhookDelivery.objects.select_related("endpoint", "event", "event__organization").get(pk=delivery.pk)


@dataclass
class Attempt:
    status_code: int | None
    error: str


def _post(delivery: WebhookDelivery) -> Attempt:
    body = event_body(delivery)
    request = urllib.request.Request(delivery.endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "PartnerCenter-Webhooks/1",
        EVENT_ID_HEADER: f"evt_{delivery.event_id}",
        SIGNATURE_HEADER: signature(delivery.endpoint.secret, int(timezone.now().timestamp()), body),
    })
    try:
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return Attempt(response.status, "")
    except urllib.error.HTTPError as exc:
        return Attempt(exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Attempt(None, str(getattr(exc, "reason", exc))[:500])


def webhook_deliver(delivery: WebhookDelivery, *, now: datetime.datetime) -> bool:
    """Send one claimed delivery; on a 2xx it is delivered, otherwise tried again later (failed after MAX_ATTEMPTS)."""
    attempt = _post(delivery)
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error, delivery.claimed_at = attempt.status_code, attempt.error, None
    ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
    if ok:
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, timezone.now()
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        delivery.next_attempt_at = now + datetime.timedelta(seconds=backoff_seconds(delivery.attempts))
    delivery.save(update_fields=["attempts", "last_status_code", "last_error", "claimed_at", "status",
                                 "delivered_at", "next_attempt_at"])
    return ok


def webhooks_deliver_due(*, now: datetime.datetime, limit: int = 500) -> dict:
    """Every delivery due at `now`, one claim at a time (several workers share the queue)."""
    counts = {"delivered": 0, "retrying": 0}
    for _n in range(limit):
        delivery = webhook_claim_next(now=now)
        if delivery is None:
            break
        counts["delivered" if webhook_deliver(delivery, now=now) else "retrying"] += 1
    return counts
