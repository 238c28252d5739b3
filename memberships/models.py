"""Memberships, the benefit catalog, and what an organization redeems."""

from django.db import models
from django.db.models import Q
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from competencies.fields import creation_time, employee_by, level_field, organization_key
from competencies.formatting import format_money
from competencies.levels import LEVELS_ABOVE_NONE
from competencies.localized import LocalizedDescription, LocalizedName
from competencies.models import Competency, Organization

PAID_LEVELS = LEVELS_ABOVE_NONE


class MembershipPlan(models.Model):
    """The yearly fee of a membership level."""

    level = level_field(choices=PAID_LEVELS, unique=True)
    price_usd = models.DecimalField(_("price (USD)"), max_digits=10, decimal_places=2)
    price_confirmed = models.BooleanField(_("price confirmed"), default=True)

    class Meta:
        verbose_name = _("membership plan")
        verbose_name_plural = _("membership plans")

    def __str__(self):
        return f"{self.get_level_display()} {format_money(self.price_usd)}"


class Period(models.TextChoices):
    """The period a benefit's limit counts in: a month of the term (from the term's start day) or the whole term."""

    MONTH = "month", _("a month")
    TERM = "term", _("a term")


class Benefit(LocalizedName, LocalizedDescription):
    """What a membership level, or a competency at a level, entitles an organization to."""

    slug = models.SlugField(_("slug"), unique=True, max_length=80)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    price_usd = models.DecimalField(_("price (USD)"), max_digits=10, decimal_places=2, null=True, blank=True)
    value_usd = models.DecimalField(_("value (USD)"), max_digits=10, decimal_places=2, null=True, blank=True)
    membership_level = level_field(_("membership level"), choices=PAID_LEVELS, blank=True)
    competency = models.ForeignKey(
        Competency, on_delete=models.CASCADE, null=True, blank=True, related_name="benefits", verbose_name=_("competency")
    )
    level = level_field(choices=PAID_LEVELS, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True, help_text=_("Units per term."))
    # A per-period limit on top of the quantity: at most `period_limit` units in each period ("one a month").
    per_period = models.CharField(_("limit period"), max_length=10, choices=Period.choices, blank=True)
    period_limit = models.PositiveIntegerField(_("units per period"), null=True, blank=True)

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(per_period="") & Q(period_limit__isnull=True))
                | (~Q(per_period="") & Q(period_limit__isnull=False, period_limit__gte=1, quantity__isnull=False)),
                name="benefit_period_limit_with_its_period",
            ),
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

    organization = organization_key("memberships")
    level = level_field(choices=PAID_LEVELS)
    purchased_on = models.DateField(_("purchased on"))
    starts_on = models.DateField(_("term starts"))
    ends_on = models.DateField(_("term ends"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.PURCHASE)
    # An upgrade ends the Silver term on the upgrade day: `ends_on` becomes that day (so every reader's
    # "active on D" holds without knowing about upgrades) and this points at the Gold term that replaced it.
    superseded_by = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes", verbose_name=_("superseded by")
    )

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organization", "starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "level", "starts_on"], name="membership_term_unique"),
            # A term bought and upgraded on the same day covers no day at all, and history still keeps it.
            models.CheckConstraint(
                condition=Q(ends_on__gt=models.F("starts_on"))
                | Q(superseded_by__isnull=False, ends_on=models.F("starts_on")),
                name="membership_ends_after_start_unless_superseded",
            ),
        ]

    def __str__(self):
        return f"{self.organization.mpn_id} {self.get_level_display()} [{self.starts_on}, {self.ends_on})"


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
        EARLY_WARNING = "early_warning", _("Early warning")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="notifications")
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
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

    def __str__(self):
        return _("%(organization)s — %(kind)s, raised on %(day)s") % {
            "organization": self.organization.name, "kind": self.get_kind_display(), "day": date_format(self.raised_on),
        }


class OutboundEmail(models.Model):
    """An email is a row first; a worker claims it, sends it, and marks it sent. Never sent twice."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
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

    def __str__(self):
        return _("“%(subject)s” to %(to)s (%(status)s)") % {
            "subject": self.subject, "to": self.to_email, "status": self.get_status_display(),
        }


class Order(models.Model):
    """A purchase: a membership bought, upgraded or renewed, or a paid offer (MAPS).

    Written `pending` once the rule allowed it, then `paid` or `failed` by the
    payment step. The membership (or subscription) it pays for is created in
    the same transaction as the change to `paid`, never before.
    """

    class Kind(models.TextChoices):
        BUY = "buy", _("Purchase")
        UPGRADE = "upgrade", _("Upgrade")
        RENEW = "renew", _("Renewal")
        MAPS = "maps", _("Microsoft Action Pack subscription")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Failed")

    organization = organization_key("orders")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    level = level_field(choices=PAID_LEVELS, blank=True)
    benefit = models.ForeignKey(
        Benefit, on_delete=models.PROTECT, null=True, blank=True, related_name="orders", verbose_name=_("benefit")
    )
    amount_usd = models.DecimalField(_("amount (USD)"), max_digits=10, decimal_places=2)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    day = models.DateField(_("day"), help_text=_("The day the order was placed and its rule checked."))
    created_by = employee_by(_("placed by"))
    created_at = creation_time()
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    provider = models.CharField(_("payment provider"), max_length=60, blank=True)
    reference = models.CharField(_("payment reference"), max_length=120, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    # The term a renewal follows or an upgrade replaces.
    replaces = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("replaces")
    )
    # The term this order paid for: set with the change to `paid`.
    membership = models.OneToOneField(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="order", verbose_name=_("membership")
    )
    # The one-time token of the review page the order was confirmed from: a second submission finds this order.
    checkout_token = models.CharField(_("checkout token"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_usd__gte=0), name="order_amount_not_negative"),
            # A paid membership order always has its term; a MAPS order has its offer and no level.
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(kind="maps") | Q(membership__isnull=False),
                name="order_paid_has_its_membership",
            ),
            models.CheckConstraint(
                condition=(Q(kind="maps") & Q(benefit__isnull=False) & Q(level=""))
                | (~Q(kind="maps") & ~Q(level="")),
                name="order_buys_a_level_or_an_offer",
            ),
            models.UniqueConstraint(
                fields=["checkout_token"], condition=~Q(checkout_token=""), name="order_checkout_token_once"
            ),
        ]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self):
        what = self.get_level_display() if self.level else self.benefit_id
        return (
            f"{self.organization.mpn_id} {self.get_kind_display()} {what} {format_money(self.amount_usd)} "
            f"{self.get_status_display()}"
        )


class BenefitSubscription(models.Model):
    """A paid offer (MAPS) held for a year from its purchase day: active on D when `starts_on <= D < ends_on`."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="benefit_subscriptions")
    benefit = models.ForeignKey(Benefit, on_delete=models.PROTECT, related_name="subscriptions")
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="subscription")
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))

    class Meta:
        verbose_name = _("offer subscription")
        verbose_name_plural = _("offer subscriptions")
        ordering = ["organization", "-starts_on"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gt=models.F("starts_on")), name="subscription_ends_after_start"),
        ]

    def __str__(self):
        return f"{self.benefit_id} [{self.starts_on}, {self.ends_on})"


class BenefitAllowance(models.Model):
    """How much of an offer an organization has redeemed in one membership term.

    The database enforces "redemptions never exceed the quantity": `redeemed`
    moves only by a conditional `UPDATE … SET redeemed = redeemed + 1`, and
    the check constraint refuses any row past its quantity, whatever the
    concurrency.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="benefit_allowances")
    benefit = models.ForeignKey(Benefit, on_delete=models.PROTECT, related_name="allowances")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="allowances")
    quantity = models.PositiveIntegerField(_("quantity"))
    redeemed = models.PositiveIntegerField(_("redeemed"), default=0)

    class Meta:
        verbose_name = _("offer allowance")
        verbose_name_plural = _("offer allowances")
        constraints = [
            models.UniqueConstraint(fields=["organization", "benefit", "membership"], name="one_allowance_per_offer_term"),
            models.CheckConstraint(condition=Q(redeemed__lte=models.F("quantity")), name="allowance_redeemed_within_quantity"),
        ]

    def __str__(self):
        return f"{self.benefit_id}: {self.redeemed}/{self.quantity}"

    @property
    def remaining(self) -> int:
        return self.quantity - self.redeemed


class BenefitPeriodUse(models.Model):
    """How many units of an offer were redeemed in one period ([starts_on, ends_on)) of a term.

    The per-period limit is enforced like the quantity: `used` moves only by a
    conditional `UPDATE … SET used = used + n WHERE used + n <= period_limit`,
    and the check constraint refuses any row past its limit.
    """

    allowance = models.ForeignKey(BenefitAllowance, on_delete=models.CASCADE, related_name="period_uses")
    starts_on = models.DateField(_("period starts"))
    ends_on = models.DateField(_("period ends"))
    period_limit = models.PositiveIntegerField(_("units per period"))
    used = models.PositiveIntegerField(_("used"), default=0)

    class Meta:
        verbose_name = _("offer use in a period")
        verbose_name_plural = _("offer uses in a period")
        constraints = [
            models.UniqueConstraint(fields=["allowance", "starts_on"], name="one_use_row_per_offer_period"),
            models.CheckConstraint(condition=Q(used__lte=models.F("period_limit")), name="period_use_within_limit"),
        ]

    def __str__(self):
        return f"{self.allowance_id} {self.starts_on}: {self.used}/{self.period_limit}"


class Redemption(models.Model):
    """One redemption of an offer, and its activation record (the code the admin uses)."""

    allowance = models.ForeignKey(
        BenefitAllowance, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("allowance")
    )
    organization = organization_key("redemptions")
    benefit = models.ForeignKey(
        Benefit, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("benefit")
    )
    code = models.CharField(_("activation code"), max_length=40, unique=True)
    units = models.PositiveIntegerField(_("units"), default=1)
    # The one-time token of the confirmation page: a second submission finds this redemption.
    request_token = models.CharField(_("confirmation token"), max_length=64, blank=True, default="")
    day = models.DateField(_("redeemed on"))
    redeemed_by = employee_by(_("redeemed by"))
    created_at = creation_time()

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(units__gte=1), name="redemption_at_least_one_unit"),
            models.UniqueConstraint(
                fields=["request_token"], condition=~Q(request_token=""), name="redemption_token_once"
            ),
        ]

    def __str__(self):
        return f"{self.organization.name} — {self.benefit.name} ({self.code}, {date_format(self.day)})"


class Referral(models.Model):
    """A customer's request, sent from the public directory, to be contacted by a partner."""

    organization = organization_key("referrals")
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email"))
    need = models.TextField(_("need"), max_length=4000)
    received_on = models.DateField(_("received on"))
    language = models.CharField(_("language"), max_length=10, default="en")
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self):
        return f"{self.name} <{self.email}> → {self.organization.mpn_id}"
