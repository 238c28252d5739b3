"""Django admin: the agents' surface. Fields the scheduler owns are read-only."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from . import models


@admin.register(models.Employee)
class EmployeeAdmin(UserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active"]
    search_fields = ["email", "name", "mcp_id"]
    list_filter = ["is_staff", "is_active", "groups"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Profile"), {"fields": ["name", "mcp_id", "language"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]
    readonly_fields = ["date_joined"]


class AssociationInline(admin.TabularInline):
    model = models.Association
    extra = 0
    fields = ["employee", "starts_on", "ends_on"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


class StatusInline(admin.TabularInline):
    model = models.CompetencyStatus
    extra = 0
    fields = ["competency", "evaluated_level", "effective_level", "as_of"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["mpn_id", "name", "country", "market", "public_profile"]
    search_fields = ["mpn_id", "name"]
    list_filter = ["market", "public_profile", "country"]
    filter_horizontal = ["admins"]
    inlines = [StatusInline, AssociationInline]


@admin.register(models.Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["code", "kind", "title", "valid_days", "retired_on", "accepted_until"]
    search_fields = ["code", "title"]
    list_filter = ["kind"]


class RequirementInline(admin.TabularInline):
    model = models.Requirement
    extra = 0


class OptionInline(admin.TabularInline):
    model = models.AttainmentOption
    extra = 0
    show_change_link = True


@admin.register(models.CenterOfExcellence)
class CenterAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]


@admin.register(models.Competency)
class CompetencyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "center"]
    list_filter = ["center"]
    search_fields = ["name", "slug"]
    inlines = [OptionInline]


@admin.register(models.AttainmentOption)
class AttainmentOptionAdmin(admin.ModelAdmin):
    list_display = ["competency", "level", "name"]
    list_filter = ["level", "competency"]
    inlines = [RequirementInline]


@admin.register(models.Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "unit"]


@admin.register(models.CompetencyStatus)
class CompetencyStatusAdmin(admin.ModelAdmin):
    list_display = ["organization", "competency", "evaluated_level", "effective_level", "as_of"]
    list_filter = ["effective_level", "competency"]
    search_fields = ["organization__mpn_id", "organization__name"]
    readonly_fields = [f.name for f in models.CompetencyStatus._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
