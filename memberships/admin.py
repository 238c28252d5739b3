from django.contrib import admin

from competencies.admin_base import ModelAdmin

from . import models


@admin.register(models.MembershipPlan)
class MembershipPlanAdmin(ModelAdmin):
    list_display = ["level", "price_usd", "price_confirmed"]


@admin.register(models.Benefit)
class BenefitAdmin(ModelAdmin):
    list_display = ["slug", "name", "membership_level", "competency", "level", "quantity"]
    search_fields = ["slug", "name"]


@admin.register(models.Membership)
class MembershipAdmin(ModelAdmin):
    list_display = ["organization", "level", "starts_on", "ends_on", "source", "superseded_by"]
    list_filter = ["level", "source"]
    search_fields = ["organization__mpn_id", "organization__name"]


@admin.register(models.Order)
class OrderAdmin(ModelAdmin):
    """Orders are written by the purchase services and the payment step: read-only here."""

    list_display = ["organization", "kind", "level", "amount_usd", "status", "day", "reference"]
    list_filter = ["kind", "status", "level"]
    search_fields = ["organization__mpn_id", "organization__name", "reference"]
    readonly_fields = [f.name for f in models.Order._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.Redemption)
class RedemptionAdmin(ModelAdmin):
    list_display = ["organization", "benefit", "code", "day", "redeemed_by"]
    search_fields = ["organization__mpn_id", "organization__name", "code"]
    readonly_fields = [f.name for f in models.Redemption._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.Referral)
class ReferralAdmin(ModelAdmin):
    list_display = ["organization", "name", "email", "received_on"]
    search_fields = ["organization__mpn_id", "organization__name", "email"]
    readonly_fields = [f.name for f in models.Referral._meta.fields]

    def has_add_permission(self, request):
        return False
