"""Webhook endpoints and the events they receive, collected from the rows the product already writes.

Events are read from the append-only records, never from a signal: a level
change is a `StatusChange` row; at risk raised or cleared and the early
warning are `Notification` rows; a membership bought or renewed is a
`Membership` row; a person joined or left is an `Association` row starting
or ending. Each source row gives one event with a stable key, so collecting
twice finds the same events (idempotent), and each event is delivered once
per subscribed endpoint (a unique delivery row): rows first, sent later.
"""

import datetime
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from competencies.models import Association, Employee, Organization, StatusChange
from memberships.models import Membership, Notification

from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENT_TYPES = {
    "level.changed": gettext_lazy("A competency's level changed"),
    "at_risk.raised": gettext_lazy("An achievement is at risk"),
    "at_risk.cleared": gettext_lazy("An achievement is back on track"),
    "early_warning.raised": gettext_lazy("Early warning: something expires soon"),
    "membership.bought": gettext_lazy("A membership was bought"),
    "membership.renewed": gettext_lazy("A membership was renewed"),
    "person.joined": gettext_lazy("A person joined"),
    "person.left": gettext_lazy("A person left"),
}
TEST_EVENT = "test"
# Collecting looks this many days back: a worker that was down for less loses nothing.
LOOKBACK_DAYS = 7


class WebhookError(ValueError):
    """An endpoint the rules refuse; the message says why."""


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    insecure_ok = parts.scheme == "http" and parts.hostname in settings.WEBHOOK_INSECURE_HOSTS
    if len(url) > 500 or not parts.hostname or (parts.scheme != "https" and not insecure_ok):
        raise WebhookError(_("Enter an HTTPS address, such as https://example.com/hooks/partner-center."))
    return url


def endpoint_create(*, organization: Organization, url: str, events: list[str], by: Employee) -> WebhookEndpoint:
    """Register an HTTPS endpoint for some of EVENT_TYPES (at least one); it gets a new signing secret."""
    url = _check_url(url)
    events = sorted(set(events or ()))
    if not events or any(e not in EVENT_TYPES for e in events):
        raise WebhookError(_("Choose at least one event."))
    return WebhookEndpoint.objects.create(
        organization=organization, url=url, events=events, secret=f"whsec_{secrets.token_urlsafe(32)}", created_by=by
    )


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """An endpoint removed receives nothing more; its pending deliveries go with it."""
    endpoint.delete()


def webhook_test_send(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `test` event for this endpoint alone, delivered like any other (the page's "Send test event")."""
    event = WebhookEvent.objects.create(
        organization=endpoint.organization, key=f"test:{endpoint.pk}:{secrets.token_hex(8)}", type=TEST_EVENT,
        occurred_on=timezone.localdate(), data={"endpoint_url": endpoint.url},
    )
    return WebhookDelivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=timezone.now())


def _level_events(org_ids, since) -> list[WebhookEvent]:
    changes = StatusChange.objects.filter(organization_id__in=org_ids, day__gte=since).filter(
        ~Q(old_effective=F("new_effective")) | ~Q(old_evaluated=F("new_evaluated"))
    ).select_related("competency")
    return [
        WebhookEvent(organization_id=c.organization_id, key=f"level.changed:{c.pk}", type="level.changed",
                     occurred_on=c.day, data={"competency": c.competency.slug, "day": c.day.isoformat(),
                                              "old_evaluated": c.old_evaluated, "new_evaluated": c.new_evaluated,
                                              "old_effective": c.old_effective, "new_effective": c.new_effective,
                                              "cause": c.cause})
        for c in changes
    ]


def _notification_events(org_ids, since) -> list[WebhookEvent]:
    kinds = {Notification.Kind.AT_RISK: "at_risk", Notification.Kind.EXPIRING_SOON: "early_warning"}
    events = []
    rows = Notification.objects.filter(organization_id__in=org_ids, kind__in=list(kinds)).filter(
        Q(raised_on__gte=since) | Q(cleared_on__gte=since))
    for n in rows:
        data = {"notification_id": n.pk, "kind": n.kind, "raised_on": n.raised_on.isoformat(),
                "cleared_on": n.cleared_on.isoformat() if n.cleared_on else None}
        if n.raised_on >= since:
            events.append(WebhookEvent(organization_id=n.organization_id, key=f"{kinds[n.kind]}.raised:{n.pk}",
                                       type=f"{kinds[n.kind]}.raised", occurred_on=n.raised_on, data=data))
        if n.cleared_on and n.cleared_on >= since and n.kind == Notification.Kind.AT_RISK:
            events.append(WebhookEvent(organization_id=n.organization_id, key=f"at_risk.cleared:{n.pk}",
                                       type="at_risk.cleared", occurred_on=n.cleared_on, data=data))
    return events


def _membership_events(org_ids, since) -> list[WebhookEvent]:
    types = {Membership.Source.PURCHASE: "membership.bought", Membership.Source.UPGRADE: "membership.bought",
             Membership.Source.RENEWAL: "membership.renewed"}
    return [
        WebhookEvent(organization_id=m.organization_id, key=f"membership:{m.pk}", type=types[m.source],
                     occurred_on=m.purchased_on, data={"level": m.level, "source": m.source,
                                                       "starts_on": m.starts_on.isoformat(),
                                                       "ends_on": m.ends_on.isoformat()})
        for m in Membership.objects.filter(organization_id__in=org_ids, purchased_on__gte=since, source__in=list(types))
    ]


def _person_events(org_ids, since, day) -> list[WebhookEvent]:
    events = []
    rows = Association.objects.filter(organization_id__in=org_ids).filter(
        Q(starts_on__gte=since, starts_on__lte=day) | Q(ends_on__gte=since, ends_on__lte=day)).select_related("employee")
    for a in rows:
        data = {"employee_id": a.employee_id, "name": a.employee.display_name, "email": a.employee.email}
        if since <= a.starts_on <= day:
            events.append(WebhookEvent(organization_id=a.organization_id, key=f"person.joined:{a.pk}",
                                       type="person.joined", occurred_on=a.starts_on, data=data))
        if a.ends_on and since <= a.ends_on <= day:
            events.append(WebhookEvent(organization_id=a.organization_id, key=f"person.left:{a.pk}",
                                       type="person.left", occurred_on=a.ends_on, data=data))
    return events


def webhook_events_collect(*, day: datetime.date) -> int:
    """Turn what happened up to `day` (the last LOOKBACK_DAYS) into events and deliveries; returns deliveries added.

    Only organizations with an active endpoint are read; an endpoint receives the
    events of its types that occurred on or after the day it was registered.
    """
    endpoints = list(WebhookEndpoint.objects.filter(active=True))
    if not endpoints:
        return 0
    org_ids = sorted({e.organization_id for e in endpoints})
    since = day - datetime.timedelta(days=LOOKBACK_DAYS)
    events = (_level_events(org_ids, since) + _notification_events(org_ids, since)
              + _membership_events(org_ids, since) + _person_events(org_ids, since, day))
    with transaction.atomic():
        WebhookEvent.objects.bulk_create(events, ignore_conflicts=True)
        stored = WebhookEvent.objects.filter(key__in=[e.key for e in events])
        now = timezone.now()
        deliveries = [
            WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=now)
            for event in stored
            for endpoint in endpoints
            if endpoint.organization_id == event.organization_id and event.type in endpoint.events
            and event.occurred_on >= timezone.localdate(endpoint.created_at)
        ]
        before = WebhookDelivery.objects.count()
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        return WebhookDelivery.objects.count() - before


LOG_SIZE = 20


def webhook_context(organization: Organization) -> dict:
    endpoints = list(WebhookEndpoint.objects.filter(organization=organization))
    return {
        "event_types": list(EVENT_TYPES.items()),
        "endpoints": endpoints,
        "deliveries": list(
            WebhookDelivery.objects.filter(endpoint__organization=organization)
            .select_related("endpoint", "event").order_by("-id")[:LOG_SIZE]
        ),
    }
