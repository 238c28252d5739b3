"""Django admin for people: employees (with their associations and credentials), associations, invitations."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from . import models
from .admin_base import MalformedIdIs404, ModelAdmin, OrganizationColumn, ReadOnly, ReadOnlyInline
from .identity import InvalidEmail, canonical_email


class EmployeeEmailMixin:
    """The email is the login: stored in its canonical form, one account per address however spelled (docs/rules.md)."""

    def clean_email(self):
        try:
            email = canonical_email(self.cleaned_data["email"])
        except InvalidEmail:
            raise forms.ValidationError(_("Enter a valid email address."), code="invalid") from None
        others = models.Employee.objects.filter(email=email).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(_("An employee with this email already exists."), code="unique")
        return email


class EmployeeAddForm(EmployeeEmailMixin, UserAdmin.add_form):
    pass


class EmployeeChangeForm(EmployeeEmailMixin, UserAdmin.form):
    pass


class EmployeeAssociationInline(ReadOnlyInline):
    model = models.Association
    fk_name = "employee"
    fields = ["organization", "starts_on", "ends_on", "ended_by"]
    readonly_fields = fields
    verbose_name_plural = _("associations")


class EarnedCredentialInline(ReadOnlyInline):
    model = models.EarnedCredential
    fields = ["credential", "earned_on", "expires_on"]
    readonly_fields = fields


@admin.register(models.Association)
class AssociationAdmin(ReadOnly, OrganizationColumn, ModelAdmin):
    """Who counts for which organization, and since when: written by invitations, imports and removals; read-only."""

    list_display = ["employee", "organization_name", "starts_on", "ends_on"]
    list_filter = [("ends_on", admin.EmptyFieldListFilter)]
    search_fields = ["employee__email", "employee__name", "organization__mpn_id", "organization__name"]
    list_select_related = ["employee", "organization"]
    date_hierarchy = "starts_on"
    fields = ["employee", "organization", "starts_on", "ends_on", "ended_by"]
    readonly_fields = fields


@admin.register(models.Invitation)
class InvitationAdmin(ReadOnly, OrganizationColumn, ModelAdmin):
    """Invitations an organization's admins sent: read-only (sent, accepted, declined and withdrawn on the dashboard)."""

    list_display = ["email", "organization_name", "created_on", "expires_on", "state"]
    list_filter = ["state"]
    search_fields = ["email", "organization__mpn_id", "organization__name"]
    list_select_related = ["organization"]
    date_hierarchy = "created_on"
    fields = ["organization", "email", "invited_by", "created_on", "expires_on", "state", "closed_on", "closed_by"]
    readonly_fields = fields


@admin.register(models.Employee)
class EmployeeAdmin(MalformedIdIs404, UserAdmin):
    add_form = EmployeeAddForm
    form = EmployeeChangeForm
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
    inlines = [EmployeeAssociationInline, EarnedCredentialInline]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []
