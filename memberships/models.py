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
