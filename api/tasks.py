"""The webhook worker: collect the events, then send what is due (every minute, from Celery beat)."""

from celery import shared_task
from django.utils import timezone

from .deliveries import webhooks_deliver_due
from .webhooks import webhook_events_collect


@shared_task(name="api.tasks.deliver_webhooks")
def deliver_webhooks() -> dict:
    added = webhook_events_collect(day=timezone.localdate())
    return {"added": added, **webhooks_deliver_due(now=timezone.now())}
