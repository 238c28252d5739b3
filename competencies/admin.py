"""Django admin: the agents' surface. Fields the scheduler owns are read-only.

Agents (the "agent" group, created by migration 0003) view organizations,
their statuses and history, and memberships; apply, extend and revoke
overrides; view the override audit; edit the catalog. Every override change
goes through the services (`override_apply`, `override_extend`,
`override_revoke`), which require a reason and write the audit row; nothing
here saves an override itself.
"""


from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from . import admin_base, models
from .admin_base import ModelAdmin, OrganizationColumn, ReadOnly, ReadOnlyInline, valid_id_or_404
from .admin_exports import OrganizationExports
from .causes import cause_words
from .statuses import reevaluate_everyone_on_commit

# Django 6.1's date hierarchy ("Filter by expires on") is not in its own Chinese catalogs yet: ours says it.
gettext_noop("Filter by %(field_name)s")

admin.site.site_header = _("Partner Center administration")
admin.site.site_title = _("Partner Center administration")
admin.site.index_title = _("Organizations, competencies and overrides")
# "View site": the public partner directory (an agent belongs to no organization, so the dashboard has nothing to show).
admin.site.site_url = "/partners/"


class AssociationInline(ReadOnlyInline):
    model = models.Association
    fields = ["employee", "starts_on", "ends_on"]
    readonly_fields = fields


class AsOfColumn:
    """A status is as of its organization's marker (the default manager annotates it)."""

    @admin.display(description=_("as of"), ordering="organization__statuses_as_of")
    def as_of(self, obj):
        return obj.as_of


class StatusInline(AsOfColumn, ReadOnlyInline):
    model = models.CompetencyStatus
    fields = ["competency", "evaluated_level", "effective_level", "as_of"]
    readonly_fields = fields


class OrganizationOverrideInline(ReadOnlyInline):
    model = models.Override
    fields = ["competency", "level", "starts_on", "expires_on", "state", "revoked_on"]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = _("overrides")


# Everything about an organization, one click away from its page: (label, app.model, filter on that list).
ORGANIZATION_LINKS = [
    (_("Competency statuses"), "competencies.competencystatus", "organization__id__exact"),
    (_("Status history"), "competencies.statuschange", "organization__id__exact"),
    (_("Overrides"), "competencies.override", "organization__id__exact"),
    (_("People"), "competencies.association", "organization__id__exact"),
    (_("Invitations"), "competencies.invitation", "organization__id__exact"),
    (_("Memberships"), "memberships.membership", "organization__id__exact"),
    (_("Orders"), "memberships.order", "organization__id__exact"),
    (_("Redemptions"), "memberships.redemption", "organization__id__exact"),
    (_("Notifications"), "memberships.notification", "organization__id__exact"),
    (_("Emails"), "memberships.outboundemail", "notification__organization__id__exact"),
]


def organization_links(request, organization_id: int) -> list[tuple[str, str]]:
    """The filtered lists about one organization the agent may view, as (label, URL)."""
    links = []
    for label, model, lookup in ORGANIZATION_LINKS:
        app_label, model_name = model.split(".")
        if request.user.has_perm(f"{app_label}.view_{model_name}"):
            url = reverse(f"admin:{app_label}_{model_name}_changelist")
            links.append((label, f"{url}?{urlencode({lookup: organization_id})}"))
    return links


@admin.register(models.Organization)
class OrganizationAdmin(OrganizationExports, ModelAdmin):
    list_display = ["name", "mpn_id", "country", "market", "public_profile"]
    search_fields = ["mpn_id", "name", "website"]
    list_filter = ["market", "public_profile", "country"]
    filter_horizontal = ["admins"]
    inlines = [StatusInline, OrganizationOverrideInline, AssociationInline]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            organization_id = valid_id_or_404(models.Organization, object_id)
            extra_context["organization_links"] = organization_links(request, organization_id)
            extra_context["organization_exports"] = self.export_links(request, organization_id)
        return super().changeform_view(request, object_id, form_url, extra_context)


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
    fields = ["names", "descriptions", "center", "slug", "name", "description", "position"]
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


def level_change(old: str, new: str) -> str:
    return f"{models.Level(old).label} → {models.Level(new).label}"


@admin.register(models.CompetencyStatus)
class CompetencyStatusAdmin(ReadOnly, OrganizationColumn, AsOfColumn, ModelAdmin):
    list_display = ["organization_name", "competency", "evaluated_level", "effective_level", "override", "as_of"]
    list_filter = ["effective_level", "evaluated_level", "competency"]
    search_fields = ["organization__mpn_id", "organization__name"]
    list_select_related = ["organization", "competency", "override__organization", "override__competency"]
    fields = ["organization", "competency", "as_of", "evaluated_level", "effective_level", "override", "history"]
    readonly_fields = fields

    @admin.display(description=_("history (latest first)"))
    def history(self, obj):
        """Why the level is what it is: the changes of this organization in this competency, in words."""
        changes = models.StatusChange.objects.filter(
            organization_id=obj.organization_id, competency_id=obj.competency_id
        ).order_by("-day", "-id")[:20]
        return format_html_join(
            "", "<p>{}: {} — {}</p>",
            ((date_format(c.day), level_change(c.old_effective, c.new_effective), cause_words(c.cause_params)
              or c.get_cause_display()) for c in changes),
        ) or "—"


@admin.register(models.StatusChange)
class StatusChangeAdmin(ReadOnly, OrganizationColumn, ModelAdmin):
    """The append-only history: read-only for everyone."""

    list_display = ["day", "organization_name", "competency", "effective", "cause", "detail"]
    list_filter = ["cause", "new_effective", "competency"]
    search_fields = ["organization__mpn_id", "organization__name", "cause_params"]
    date_hierarchy = "day"
    list_select_related = ["organization", "competency"]
    fields = ["organization", "competency", "day", "evaluated", "effective", "cause", "detail", "recorded_at"]
    readonly_fields = fields

    @admin.display(description=_("effective level"), ordering="new_effective")
    def effective(self, obj):
        return level_change(obj.old_effective, obj.new_effective)

    @admin.display(description=_("evaluated level"), ordering="new_evaluated")
    def evaluated(self, obj):
        return level_change(obj.old_evaluated, obj.new_evaluated)

    @admin.display(description=_("detail"), ordering="cause")
    def detail(self, obj):
        """The cause's words in the agent's language; the search finds names and codes in its parameters."""
        return cause_words(obj.cause_params)


# Registered here, in the order Django lists them.
from . import admin_overrides, admin_people  # noqa: E402, F401

# Registered before this module (INSTALLED_APPS order): Django's groups and django-axes' attempts.
admin_base.cover(admin.site)
