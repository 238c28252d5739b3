"""Django admin for memberships: the catalog agents edit, and what an organization bought, redeemed and was told.

Orders, redemptions, referrals, notifications and their emails are written by the services and the night:
every page about them is read-only (agents hold only their view permissions, migration 0009 of competencies).
"""

from django.contrib import admin
from django.template.defaultfilters import linebreaksbr
from django.utils import translation
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from competencies.admin_base import ModelAdmin, ReadOnly, ReadOnlyInline, choice_filter

from . import models
from .wording import at_risk_items


@admin.register(models.MembershipPlan)
class MembershipPlanAdmin(ModelAdmin):
    list_display = ["level", "price_usd", "price_confirmed"]


@admin.register(models.Benefit)
class BenefitAdmin(ModelAdmin):
    list_display = ["slug", "name", "membership_level", "competency", "level", "quantity"]
    list_filter = ["membership_level", "level"]
    search_fields = ["slug", "name"]


@admin.register(models.Membership)
class MembershipAdmin(ModelAdmin):
    list_display = ["organization", "level", "starts_on", "ends_on", "source"]
    list_filter = ["level", "source"]
    search_fields = ["organization__mpn_id", "organization__name"]
    list_select_related = ["organization"]
    date_hierarchy = "ends_on"


@admin.register(models.Order)
class OrderAdmin(ReadOnly, ModelAdmin):
    """Orders are written by the purchase services and the payment step: read-only here."""

    list_display = ["day", "organization", "kind", "level", "amount_usd", "status"]
    list_filter = ["status", "kind", "level"]
    search_fields = ["organization__mpn_id", "organization__name", "reference"]
    list_select_related = ["organization"]
    date_hierarchy = "day"
    readonly_fields = [f.name for f in models.Order._meta.fields if f.name != "checkout_token"]
    exclude = ["checkout_token"]


@admin.register(models.Redemption)
class RedemptionAdmin(ReadOnly, ModelAdmin):
    list_display = ["day", "organization", "benefit", "units", "code", "redeemed_by"]
    list_filter = ["benefit"]
    search_fields = ["organization__mpn_id", "organization__name", "code"]
    list_select_related = ["organization", "benefit", "redeemed_by"]
    date_hierarchy = "day"
    readonly_fields = [f.name for f in models.Redemption._meta.fields if f.name != "request_token"]
    exclude = ["request_token"]


@admin.register(models.Referral)
class ReferralAdmin(ReadOnly, ModelAdmin):
    list_display = ["received_on", "organization", "name", "email"]
    search_fields = ["organization__mpn_id", "organization__name", "email"]
    list_select_related = ["organization"]
    readonly_fields = [f.name for f in models.Referral._meta.fields]


class EmailColumns:
    """An email's columns with their names in the agent's language (the model's fields have none)."""

    @admin.display(description=_("to"), ordering="to_email")
    def recipient(self, obj):
        return obj.to_email

    @admin.display(description=_("subject"))
    def subject_line(self, obj):
        return obj.subject

    @admin.display(description=_("delivery"), ordering="status")
    def delivery(self, obj):
        return obj.get_status_display()

    @admin.display(description=_("sent at"), ordering="sent_at")
    def sent(self, obj):
        return obj.sent_at or "—"

    @admin.display(description=_("attempts"))
    def tries(self, obj):
        return obj.attempts

    @admin.display(description=_("last error"))
    def error(self, obj):
        return obj.last_error or "—"

    @admin.display(description=_("language"))
    def email_language(self, obj):
        return obj.language


class EmailInline(EmailColumns, ReadOnlyInline):
    model = models.OutboundEmail
    fields = ["recipient", "subject_line", "delivery", "sent", "tries"]
    readonly_fields = fields
    show_change_link = True


DeliveryFilter = choice_filter(
    title=_("delivery"), parameter_name="delivery", field="status", choices=models.OutboundEmail.Status.choices
)
KindFilter = choice_filter(title=_("kind"), parameter_name="kind", field="kind", choices=models.Notification.Kind.choices)


class OpenFilter(admin.SimpleListFilter):
    title = _("open")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", _("Open")), ("no", _("Cleared"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(cleared_on__isnull=self.value() == "yes")
        return queryset


@admin.register(models.Notification)
class NotificationAdmin(ReadOnly, ModelAdmin):
    """What an organization was told (the banner and its emails), in the agent's language."""

    list_display = ["raised", "organization", "kind_name", "cleared"]
    list_filter = [KindFilter, OpenFilter]
    search_fields = ["organization__mpn_id", "organization__name"]
    list_select_related = ["organization"]
    fields = ["organization", "kind_name", "raised", "cleared", "what_it_says"]
    readonly_fields = fields
    inlines = [EmailInline]

    @admin.display(description=_("kind"), ordering="kind")
    def kind_name(self, obj):
        return obj.get_kind_display()

    @admin.display(description=_("raised on"), ordering="raised_on")
    def raised(self, obj):
        return date_format(obj.raised_on)

    @admin.display(description=_("cleared on"), ordering="cleared_on")
    def cleared(self, obj):
        return date_format(obj.cleared_on) if obj.cleared_on else "—"

    @admin.display(description=_("what it says"))
    def what_it_says(self, obj):
        """An at-risk notification's items in words (what was lost, why); the others say it in their emails."""
        if obj.kind != models.Notification.Kind.AT_RISK:
            return _("See the emails below.")
        items = at_risk_items(obj.payload, translation.get_language() or "en")
        if not items:
            return _("Every item is met again.")
        return format_html_join("", "<p>{}</p>", ((item["text"],) for item in items))


@admin.register(models.OutboundEmail)
class OutboundEmailAdmin(EmailColumns, ReadOnly, ModelAdmin):
    """Every email the product queued, and whether it went out."""

    list_display = ["created_at", "recipient", "subject_line", "delivery", "sent"]
    list_filter = [DeliveryFilter]
    search_fields = ["to_email", "subject", "notification__organization__name", "notification__organization__mpn_id"]
    date_hierarchy = "created_at"
    fields = ["notification", "recipient", "email_language", "subject_line", "delivery", "tries", "sent", "error",
              "message"]
    readonly_fields = fields

    def lookup_allowed(self, lookup, value, request=None):
        # An organization's page links to its emails (competencies/admin.py ORGANIZATION_LINKS).
        return lookup == "notification__organization__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("message"))
    def message(self, obj):
        return linebreaksbr(obj.body_text)
