"""API tokens, webhook endpoints, the events they receive and each delivery (the webhook outbox)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from competencies.fields import creation_time
from competencies.models import Organization


class ApiToken(models.Model):
    """A secret an organization's system sends as `Authorization: Bearer pc_<prefix>_<secret>`.

    Only an HMAC-SHA256 of the whole token (keyed with SECRET_KEY) is stored; the
    prefix finds the row. A token without an organization is an agent's (staff):
    it reads any organization named in the request.
    """

    class Scope(models.TextChoices):
        READ = "read", _("Read")
        WRITE = "write", _("Read and write")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = creation_time()
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    request_count = models.PositiveBigIntegerField(_("requests"), default=0)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix})"


class WebhookEndpoint(models.Model):
    """An HTTPS address of the organization's that receives the events it subscribed to, signed with `secret`."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(max_length=80)
    events = models.JSONField(_("events"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = creation_time()

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.url


class WebhookEvent(models.Model):
    """Something that happened to an organization, once: `key` names its source row, `id` is what receivers dedupe on."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_events")
    key = models.CharField(max_length=120, unique=True)
    type = models.CharField(max_length=40)
    occurred_on = models.DateField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return self.key


class WebhookDelivery(models.Model):
    """One event for one endpoint: a row first, then claimed by a worker, sent, retried with backoff until accepted."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event_id} → {self.endpoint_id}"
