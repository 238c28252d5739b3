"""Memberships, the benefit catalog, and what an organization redeems."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from competencies.models import Competency, Level, Organization

PAID_LEVELS = [c for c in Level.choices if c[0] != "none"]


class MembershipPlan(models.Model):
    """The yearly fee of a membership level."""

    level = models.CharField(_("level"), max_length=10, choices=PAID_LEVELS, unique=True)
    price_usd = models.DecimalField(_("price (USD)"), max_digits=10, decimal_places=2)
    price_confirmed = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("membership plan")
        verbose_name_plural = _("membership plans")

    def __str__(self):
        return f"{self.get_level_display()} USD {self.price_usd}"


class Benefit(models.Model):
    """What a membership level, or a competency at a level, entitles an organization to."""

    slug = models.SlugField(unique=True, max_length=80)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    price_usd = models.DecimalField(_("price (USD)"), max_digits=10, decimal_places=2, null=True, blank=True)
    value_usd = models.DecimalField(_("value (USD)"), max_digits=10, decimal_places=2, null=True, blank=True)
    membership_level = models.CharField(max_length=10, choices=PAID_LEVELS, blank=True)
    competency = models.ForeignKey(Competency, on_delete=models.CASCADE, null=True, blank=True, related_name="benefits")
    level = models.CharField(max_length=10, choices=PAID_LEVELS, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True)

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(competency__isnull=True) & ~Q(membership_level=""))
                | (Q(competency__isnull=False) & ~Q(level="")),
                name="benefit_entitled_by_membership_or_competency",
            )
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A one-year Silver or Gold term: active on D when `starts_on <= D < ends_on`."""

    class Source(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        RENEWAL = "renewal", _("Renewal")
        UPGRADE = "upgrade", _("Upgrade")
        IMPORT = "import", _("Carried over")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    level = models.CharField(_("level"), max_length=10, choices=PAID_LEVELS)
    purchased_on = models.DateField(_("purchased on"))
    starts_on = models.DateField(_("term starts"))
    ends_on = models.DateField(_("term ends"))
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PURCHASE)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organization", "starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "level", "starts_on"], name="membership_term_unique"),
            models.CheckConstraint(condition=Q(ends_on__gt=models.F("starts_on")), name="membership_ends_after_start"),
        ]

    def __str__(self):
        return f"{self.organization.mpn_id} {self.level} [{self.starts_on}, {self.ends_on})"


class Notification(models.Model):
    """An alert shown on every dashboard page of the organization while open, and emailed to its admins.

    `key` makes raising idempotent: the nightly run computes the same key for
    the same situation, so a second run finds the row and raises nothing.
    """

    class Kind(models.TextChoices):
        AT_RISK = "at_risk", _("Achievement at risk")
        BACK_ON_TRACK = "back_on_track", _("Back on track")
        EXPIRING_SOON = "expiring_soon", _("Expiring soon")
        RENEWAL_REMINDER = "renewal_reminder", _("Renewal reminder")
        REFERRAL = "referral", _("Referral request")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="notifications")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True)
    raised_on = models.DateField()
    cleared_on = models.DateField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-raised_on", "-id"]
        indexes = [models.Index(fields=["organization", "cleared_on"])]


class OutboundEmail(models.Model):
    """An email is a row first; a worker claims it, sends it, and marks it sent. Never sent twice."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, null=True, blank=True, related_name="emails")
    key = models.CharField(max_length=240, unique=True)
    to_email = models.EmailField()
    language = models.CharField(max_length=10, default="en")
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("outbound email")
        verbose_name_plural = _("outbound emails")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"])]
