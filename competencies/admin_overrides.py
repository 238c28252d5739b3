"""Django admin for overrides: apply (preview first), extend and revoke through the services; the audit, read-only.

Every override change goes through the services (`override_apply`,
`override_extend`, `override_revoke`), which require a reason and write the
audit row; nothing here saves an override itself.
"""

import copy

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import models
from .admin_base import ModelAdmin, ReadOnly, valid_id_or_404
from .admin_override_forms import (
    ExpiringWithinFilter,
    OverrideAddForm,
    OverrideChangeForm,
    RevokeForm,
    SafeAutocompleteSelect,
    _copy_fields,
    _field_label,
    _field_value,
)
from .engine import evaluate
from .overrides import OverrideError, override_apply, override_extend, override_preview, override_revoke


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
                    (row, audit_changes(row)) for row in override.audit.select_related("actor")
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


def audit_changes(row: models.OverrideAudit) -> list[tuple[str, object, object]]:
    """What an audit entry changed, field by field, in the agent's language: (field, before, after)."""
    return [
        (_field_label(key), _field_value(key, row.old_values.get(key)), _field_value(key, value))
        for key, value in row.new_values.items()
        if row.old_values.get(key) != value
    ]


@admin.register(models.OverrideAudit)
class OverrideAuditAdmin(ReadOnly, ModelAdmin):
    """Who applied, extended, revoked or expired an override: read-only for everyone."""

    list_display = ["at", "action", "override", "by", "reason"]
    list_filter = ["action"]
    search_fields = ["override__organization__mpn_id", "override__organization__name", "reason"]
    list_select_related = ["override__organization", "override__competency", "actor"]
    date_hierarchy = "day"
    fields = ["override", "action", "by", "at", "day", "reason", "changes"]
    readonly_fields = fields

    @admin.display(description=_("by"), ordering="actor")
    def by(self, obj):
        return obj.actor or gettext("the scheduler")

    @admin.display(description=_("changes"))
    def changes(self, obj):
        """Before and after, one row per field that changed (not the stored JSON)."""
        rows = audit_changes(obj)
        if not rows:
            return "—"
        head = format_html("<tr><th>{}</th><th>{}</th><th>{}</th></tr>", _("Field"), _("Before"), _("After"))
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                ((k, "—" if old is None else old, "—" if new is None else new) for k, old, new in rows))
        return format_html('<table class="audit-changes"><thead>{}</thead><tbody>{}</tbody></table>', head, body)
