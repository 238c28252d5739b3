from django.contrib import admin

from . import models


@admin.register(models.MembershipPlan)
class MembershipPlanAdmin(admin.ModelAdmin):
    list_display = ["level", "price_usd", "price_confirmed"]


@admin.register(models.Benefit)
class BenefitAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "membership_level", "competency", "level", "quantity"]
    search_fields = ["slug", "name"]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["organization", "level", "starts_on", "ends_on", "source"]
    list_filter = ["level", "source"]
    search_fields = ["organization__mpn_id", "organization__name"]
