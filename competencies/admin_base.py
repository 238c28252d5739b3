"""The product's base for Django admin pages: an object id the primary key cannot hold is 404.

Django's admin redirects to its index with "doesn't exist" when an id names
no row, and its own views survive an id that is no number; a view of ours
(an override's revoke page) did not (500). Here every id a page is asked
for is checked once, the same way for every model: not a number, or a
number the column cannot hold, is 404. An id that could exist but does not
keeps Django's answer.
"""

import re

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404
from django.utils.translation import gettext_lazy as _

# Python's int() reads fullwidth and other scripts' digits (１, ١): an id in a URL is ASCII digits only.
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}\Z")
# List filters that read a number: a related row's id, a date hierarchy's year, month or day.
_NUMERIC_FILTER = re.compile(r"__(?:id|pk)(?:__exact)?\Z|__(?:year|month|day)\Z")


def readable_id(field, value) -> bool:
    """True when `value` (from a URL or a form) can be a value of `field`: for an integer, ASCII digits in range."""
    try:
        if isinstance(field, models.IntegerField) and not _ASCII_DIGITS.match(str(value)):
            return False
        field.run_validators(field.to_python(value))  # an integer key's range, as the database's column holds it
    except (ValidationError, ValueError, TypeError, OverflowError):
        return False
    return True


def valid_id_or_404(model, object_id, from_field: str | None = None):
    """`object_id` as the model's key (or `from_field`) holds it; 404 when it cannot be one."""
    field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
    if not readable_id(field, object_id):
        raise Http404(f"No {model._meta.verbose_name} has the id {str(object_id)[:40]!r}.")
    return field.to_python(object_id)


class MalformedIdIs404:
    """Mixed into every ModelAdmin of the product (before Django's class)."""

    def get_object(self, request, object_id, from_field=None):
        valid_id_or_404(self.model, object_id, from_field)
        return super().get_object(request, object_id, from_field)

    def get_changelist_instance(self, request):
        # A list filter or page number the field cannot hold (`?competency__id__exact=abc`): 404, where Django
        # would redirect to `?e=1` and its "database error" page, or read `１` as 1.
        for key, value in request.GET.items():
            if _NUMERIC_FILTER.search(key) and not _ASCII_DIGITS.match(value):
                raise Http404("A filter of this list names a value its field cannot hold.")
        try:
            return super().get_changelist_instance(request)
        except (IncorrectLookupParameters, OverflowError):  # OverflowError: Django's date hierarchy, `?…__year=9…9`
            raise Http404("A filter of this list names a value its field cannot hold.") from None


def cover(site: admin.AdminSite) -> None:
    """Give the pages Django and django-axes register themselves (groups, sign-in attempts) the same rule."""
    for model, model_admin in list(site._registry.items()):
        if not isinstance(model_admin, MalformedIdIs404):
            site.unregister(model)
            site.register(model, type(type(model_admin).__name__, (MalformedIdIs404, type(model_admin)), {}))


class ReadOnly:
    """Nobody adds, edits or deletes these rows here: the services and the night own them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnly, admin.TabularInline):
    """Rows shown on another row's page (an organization's, an employee's) that nobody adds or edits there."""

    extra = 0
    can_delete = False


class OrganizationColumn:
    """The organization's name as a list column, sorted by it."""

    @admin.display(description=_("organization"), ordering="organization__name")
    def organization_name(self, obj):
        return obj.organization.name


def choice_filter(*, title, parameter_name: str, field: str, choices):
    """A list filter on one choice field, titled in the agent's language (the model's field may have no name)."""

    def queryset(self, request, queryset):
        return queryset.filter(**{field: self.value()}) if self.value() else queryset

    return type(f"{parameter_name.title()}Filter", (admin.SimpleListFilter,), {
        "title": title, "parameter_name": parameter_name, "queryset": queryset,
        "lookups": lambda self, request, model_admin: choices,
    })


class ModelAdmin(MalformedIdIs404, admin.ModelAdmin):
    pass
