"""Django admin: the agents' surface. Fields the scheduler owns are read-only.

Agents (the "agent" group, created by migration 0003) view organizations,
their statuses and history, and memberships; apply, extend and revoke
overrides; view the override audit; edit the catalog. Every override change
goes through the services (`override_apply`, `override_extend`,
`override_revoke`), which require a reason and write the audit row; nothing
here saves an override itself.
"""

import copy
import datetime
import hashlib

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext_lazy as _

from . import admin_base, models
from .admin_base import MalformedIdIs404, ModelAdmin, valid_id_or_404
from .identity import InvalidEmail, canonical_email
from .causes import cause_words
from .engine import evaluate
from .overrides import (
    OverrideError,
    active_override_exists_error,
    override_apply,
    override_extend,
    override_preview,
    override_revoke,
    override_validate,
)
from .statuses import reevaluate_everyone_on_commit


# Django 6.1's date hierarchy ("Filter by expires on") is not in its own Chinese catalogs yet: ours says it.
gettext_noop("Filter by %(field_name)s")

admin.site.site_header = _("Partner Center administration")
admin.site.site_title = _("Partner Center administration")
admin.site.index_title = _("Organizations, competencies and overrides")


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


class OrganizationOverrideInline(admin.TabularInline):
    model = models.Override
    extra = 0
    fields = ["competency", "level", "starts_on", "expires_on", "state", "revoked_on"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("overrides")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.Organization)
class OrganizationAdmin(ModelAdmin):
    list_display = ["mpn_id", "name", "country", "market", "public_profile"]
    search_fields = ["mpn_id", "name"]
    list_filter = ["market", "public_profile", "country"]
    filter_horizontal = ["admins"]
    inlines = [StatusInline, OrganizationOverrideInline, AssociationInline]


class ReevaluatesEveryone:
    """An agent's edit of what evaluation reads re-evaluates every organization once it commits (cause: the catalog)."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.has_changed() or any(formset.has_changed() for formset in formsets):
            reevaluate_everyone_on_commit(day=timezone.localdate())


@admin.register(models.Credential)
class CredentialAdmin(ReevaluatesEveryone, ModelAdmin):
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
class CenterAdmin(ModelAdmin):
    list_display = ["name", "slug", "position"]


@admin.register(models.Competency)
class CompetencyAdmin(ReevaluatesEveryone, ModelAdmin):
    list_display = ["name", "slug", "center"]
    list_filter = ["center"]
    search_fields = ["name", "slug"]
    inlines = [OptionInline]


@admin.register(models.AttainmentOption)
class AttainmentOptionAdmin(ReevaluatesEveryone, ModelAdmin):
    list_display = ["competency", "level", "name"]
    list_filter = ["level", "competency"]
    inlines = [RequirementInline]


@admin.register(models.Metric)
class MetricAdmin(ModelAdmin):
    list_display = ["slug", "name", "unit"]


@admin.register(models.CompetencyStatus)
class CompetencyStatusAdmin(ModelAdmin):
    list_display = ["organization", "competency", "evaluated_level", "effective_level", "as_of"]
    list_filter = ["effective_level", "competency"]
    search_fields = ["organization__mpn_id", "organization__name"]
    readonly_fields = [f.name for f in models.CompetencyStatus._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.StatusChange)
class StatusChangeAdmin(ModelAdmin):
    """The append-only history: read-only for everyone."""

    list_display = ["day", "organization", "competency", "old_effective", "new_effective", "cause", "detail"]
    list_filter = ["cause", "new_effective", "competency"]
    search_fields = ["organization__mpn_id", "organization__name", "cause_params"]
    date_hierarchy = "day"
    list_select_related = ["organization", "competency"]
    readonly_fields = [f.name for f in models.StatusChange._meta.fields]

    @admin.display(description=_("detail"), ordering="cause")
    def detail(self, obj):
        """The cause's words in the agent's language; the search finds names and codes in its parameters."""
        return cause_words(obj.cause_params)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---------------------------------------------------------------------------
# Overrides


class ExpiringWithinFilter(admin.SimpleListFilter):
    """Active overrides whose last day comes in the next 30 days (`today < expires_on <= today + 30`)."""

    title = _("expiry")
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [("30", _("within 30 days"))]

    def queryset(self, request, queryset):
        if self.value() == "30":
            today = timezone.localdate()
            return queryset.filter(
                state=models.Override.State.ACTIVE,
                expires_on__gt=today,
                expires_on__lte=today + datetime.timedelta(days=30),
            )
        return queryset


LEVEL_CHOICES = [(level.value, level.label) for level in models.ACHIEVABLE_LEVELS]


class OverrideAddForm(forms.ModelForm):
    """Apply: organization, competency, level, start, optional end (default 3 months), reason.

    The rules are the service's (`override_validate`), so the form refuses
    exactly what `override_apply` would, with the same reason.
    """

    level = forms.ChoiceField(
        label=_("Level"),
        choices=LEVEL_CHOICES,
        error_messages={"invalid_choice": _("Unknown level “%(value)s”: an override grants Silver or Gold.")},
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=AdminDateWidget,
        help_text=_("The first day it no longer holds. Leave empty for three calendar months after the start."),
    )
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    preview_token = forms.CharField(label=_("Preview"), required=False, widget=forms.HiddenInput)

    day: datetime.date  # today, set by the admin (time is a parameter)

    class Meta:
        model = models.Override
        fields = ["organization", "competency", "level", "starts_on", "expires_on", "reason"]

    def clean(self):
        data = super().clean()
        if self.errors.get("level") or not data.get("organization") or not data.get("competency"):
            return data
        try:
            data["expires_on"] = override_validate(
                level=data.get("level"),
                reason=data.get("reason"),
                starts_on=data.get("starts_on"),
                expires_on=data.get("expires_on"),
                day=self.day,
            )
        except OverrideError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
            return data
        if models.Override.objects.filter(
            organization=data["organization"], competency=data["competency"], state=models.Override.State.ACTIVE
        ).exists():
            error = active_override_exists_error(
                organization_id=data["organization"].pk, competency_id=data["competency"].pk
            )
            self.add_error(None, str(error))
        return data

    def validate_constraints(self):
        """The service and the database own the constraints; `clean` says them in words."""

    def token(self) -> str:
        """What the agent previewed: saving anything else shows the preview again."""
        d = self.cleaned_data
        raw = f"{d['organization'].pk}|{d['competency'].pk}|{d['level']}|{d['starts_on']}|{d['expires_on']}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


class OverrideChangeForm(forms.ModelForm):
    """Extend (or bring forward) the end of an active override: a reason for the change is required."""

    change_reason = forms.CharField(
        label=_("Reason for this change"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    day: datetime.date

    class Meta:
        model = models.Override
        fields = ["expires_on"]

    def clean(self):
        data = super().clean()
        if "expires_on" not in self.changed_data or not data.get("expires_on"):
            return data
        if not (data.get("change_reason") or "").strip():
            self.add_error("change_reason", gettext("A reason is required: say why the override changes."))
        try:
            override_validate(
                level=self.instance.level,
                reason="-",
                starts_on=self.instance.starts_on,
                expires_on=data["expires_on"],
                day=self.day,
            )
        except OverrideError as exc:
            self.add_error("expires_on", str(exc))
        return data

    def validate_constraints(self):
        """See `OverrideAddForm.validate_constraints`."""


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("A reason is required: say why the override is revoked.")},
    )


def _field_label(name: str) -> str:
    """An override field's name as the admin shows it, in the agent's language."""
    try:
        return capfirst(models.Override._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def _field_value(name: str, value):
    """An audited value (as `_override_values` stores it) in the agent's language: labels and dates."""
    if value is None:
        return None
    if name == "level" and value in models.Level.values:
        return models.Level(value).label
    if name == "state" and value in models.Override.State.values:
        return models.Override.State(value).label
    if name.endswith("_on"):
        try:
            return date_format(datetime.date.fromisoformat(value))
        except (TypeError, ValueError):
            return value
    return value


def _copy_fields(source: models.Override, target: models.Override) -> None:
    """The admin goes on with its own instance (log entry, redirect): give it what the service saved."""
    for f in models.Override._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))
    target._state.adding = False
    target._state.db = source._state.db


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget, except that a posted value which is no id at all (`abc`) renders empty.

    Django's own widget looks the posted value up to show it again and
    fails (500) on one its primary key cannot hold (`abc`, or a number
    beyond the column's range); the field itself already refuses it with
    "Select a valid choice".
    """

    def optgroups(self, name, value, attr=None):
        pk = self.field.remote_field.model._meta.pk
        if not all(admin_base.readable_id(pk, v) for v in value if v not in ("", None)):
            value = []
        return super().optgroups(name, value, attr)


@admin.register(models.Override)
class OverrideAdmin(ModelAdmin):
    list_display = ["organization", "competency", "level", "starts_on", "expires_on", "state", "created_by"]
    list_filter = ["state", ExpiringWithinFilter, "level", "competency"]
    search_fields = ["organization__mpn_id", "organization__name", "competency__name", "reason"]
    list_select_related = ["organization", "competency", "created_by"]
    autocomplete_fields = ["organization", "competency"]
    date_hierarchy = "expires_on"
    actions = ["revoke_overrides"]
    ordering = ["expires_on", "pk"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault("widget", SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using")))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # -- permissions: overrides are never deleted; expired and revoked ones are history
    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.state != models.Override.State.ACTIVE:
            return False
        return super().has_change_permission(request, obj)

    # -- forms
    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = OverrideAddForm if obj is None else OverrideChangeForm
        form = super().get_form(request, obj, **kwargs)
        form.day = timezone.localdate()
        return form

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["organization", "competency", "level", "starts_on", "expires_on", "reason",
                                       "preview_token"]})]
        editable = ["change_reason"] if self.has_change_permission(request, obj) else []
        return [
            (None, {"fields": ["organization", "competency", "level", "starts_on", "expires_on", *editable]}),
            (_("Recorded"), {"fields": ["reason", "state", "revoked_on", "created_by", "created_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["organization", "competency", "level", "starts_on", "reason", "state", "revoked_on", "created_by",
                "created_at"]

    def get_changeform_initial_data(self, request):
        return {"starts_on": timezone.localdate(), **super().get_changeform_initial_data(request)}

    # -- applying: preview first, then save through the service
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is None and request.method == "POST":
            form = self.get_form(request, None)(request.POST, request.FILES)
            if form.is_valid() and (
                "_preview" in request.POST or request.POST.get("preview_token") != form.token()
            ):
                return self._preview(request, form, form_url, extra_context)
        if object_id is not None:
            override = self.get_object(request, object_id)
            if override is not None:
                extra_context["override_today"] = self._today(override)
                # The audit as a plain table, not an inline: nothing about it is editable or posted back.
                extra_context["override_audit"] = [
                    (row, [(_field_label(key), _field_value(key, row.old_values.get(key)), _field_value(key, value))
                           for key, value in row.new_values.items() if row.old_values.get(key) != value])
                    for row in override.audit.select_related("actor")
                ]
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except OverrideError as exc:
            # Lost the race for the one active override to another agent: the database said no.
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def _preview(self, request, form, form_url, extra_context):
        """Show the add form again, filled in, with what the effective level becomes; nothing is saved."""
        d = form.cleaned_data
        preview = override_preview(
            organization=d["organization"], competency=d["competency"], level=d["level"],
            starts_on=d["starts_on"], expires_on=d["expires_on"],
        )
        data = request.POST.copy()
        for name in ("csrfmiddlewaretoken", "_save", "_continue", "_addanother", "_preview"):
            data.pop(name, None)
        data["expires_on"] = d["expires_on"].isoformat()
        data["starts_on"] = d["starts_on"].isoformat()
        data["preview_token"] = form.token()
        shown = copy.copy(request)
        shown.method = "GET"
        shown.GET = data
        extra_context.update(
            override_preview=preview,
            preview_organization=d["organization"],
            preview_competency=d["competency"],
            preview_level=models.Level(d["level"]).label,
            preview_after=models.Level(preview.effective_after).label,
            preview_before=models.Level(preview.effective_before).label,
            preview_evaluated=models.Level(preview.evaluated_level).label,
        )
        return super().changeform_view(shown, None, form_url, extra_context)

    def _today(self, override: models.Override) -> dict:
        today = timezone.localdate()
        result = evaluate(organization_ids=[override.organization_id], day=today).get(
            (override.organization_id, override.competency_id)
        )
        if result is None:
            return {}
        return {
            "day": today,
            "evaluated": models.Level(result.evaluated_level).label,
            "effective": models.Level(result.effective_level).label,
            "held_up": result.override is not None and result.override.id == override.pk
            and result.effective_level != result.evaluated_level,
        }

    def save_model(self, request, obj, form, change):
        day = timezone.localdate()
        if not change:
            saved = override_apply(
                organization=obj.organization,
                competency=obj.competency,
                level=form.cleaned_data["level"],
                reason=form.cleaned_data["reason"],
                starts_on=form.cleaned_data["starts_on"],
                expires_on=form.cleaned_data["expires_on"],
                actor=request.user,
                day=day,
            )
        elif "expires_on" in form.changed_data:
            saved = override_extend(
                override=obj,
                expires_on=form.cleaned_data["expires_on"],
                reason=form.cleaned_data["change_reason"],
                actor=request.user,
                day=day,
            )
        else:
            return
        _copy_fields(saved, obj)

    def save_related(self, request, form, formsets, change):
        """The audit inline is read-only and the service wrote everything: nothing else to save."""

    # -- revoking: an action on the list, and a button on an active override's page; both ask for a reason
    def get_urls(self):
        urls = super().get_urls()
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/revoke/", self.admin_site.admin_view(self.revoke_view), name="%s_%s_revoke" % info),
            *urls,
        ]

    def _revoke(self, request, overrides, reason) -> int:
        day, done = timezone.localdate(), 0
        for override in overrides:
            try:
                override_revoke(override=override, reason=reason, actor=request.user, day=day)
                done += 1
            except OverrideError as exc:
                self.message_user(request, f"{override}: {exc}", messages.WARNING)
        if done:
            self.message_user(
                request,
                ngettext("%(count)d override revoked.", "%(count)d overrides revoked.", done) % {"count": done},
                messages.SUCCESS,
            )
        return done

    def _revoke_page(self, request, overrides, form, *, action=None, form_action=""):
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Revoke overrides"),
            "opts": self.opts,
            "overrides": overrides,
            "form": form,
            "action": action,
            "form_action": form_action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/competencies/override/revoke.html", context)

    @admin.action(description=_("Revoke the selected overrides (asks for a reason)"), permissions=["change"])
    def revoke_overrides(self, request, queryset):
        overrides = list(queryset.filter(state=models.Override.State.ACTIVE).select_related("organization", "competency"))
        form = RevokeForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            self._revoke(request, overrides, form.cleaned_data["reason"])
            return None
        return self._revoke_page(request, overrides, form, action="revoke_overrides")

    def revoke_view(self, request, object_id):
        override = get_object_or_404(
            models.Override.objects.select_related("organization", "competency"),
            pk=valid_id_or_404(models.Override, object_id),
        )
        if not self.has_change_permission(request, override):
            raise PermissionDenied
        form = RevokeForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            self._revoke(request, [override], form.cleaned_data["reason"])
            return HttpResponseRedirect(reverse("admin:competencies_override_change", args=[override.pk]))
        return self._revoke_page(request, [override], form, form_action=request.path)


@admin.register(models.OverrideAudit)
class OverrideAuditAdmin(ModelAdmin):
    """Who applied, extended, revoked or expired an override: read-only for everyone."""

    list_display = ["at", "day", "action", "override", "actor", "reason"]
    list_filter = ["action"]
    search_fields = ["override__organization__mpn_id", "override__organization__name", "reason"]
    list_select_related = ["override__organization", "override__competency", "actor"]
    readonly_fields = ["override", "action", "actor", "at", "day", "reason", "old_values", "new_values"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Registered before this module (INSTALLED_APPS order): Django's groups and django-axes' attempts.
admin_base.cover(admin.site)
