"""The override pages' forms and the helpers that say an audited value in words (competencies/admin_overrides.py)."""

import datetime
import hashlib

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import admin_base, models
from .overrides import OverrideError, active_override_exists_error, override_validate


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

