"""Agents' downloads in Django admin: any organization's exports from its page, and the competencies of the
selected organizations as one CSV from the list. The files are the dashboard's (competencies.exports), streamed.

Who may take a download: a staff member who may view organizations and the rows the file holds (its
`Export.permissions`: the agents' group has them); anyone else on staff gets 403, and admin sends everyone
else to sign in.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .exports import CHUNK, COMPETENCY_COLUMNS, competency_rows, csv_download, export_named, registered_exports

ONE_FILE = "competencies.csv"  # the download the list's action makes one file of


class OrganizationExports:
    """Mixed into the organization's ModelAdmin (before Django's class)."""

    actions = ["export_competencies"]

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        view = self.admin_site.admin_view(self.export_view)
        return [path("<path:object_id>/exports/<str:name>", view, name=name), *super().get_urls()]

    def may_export(self, request, export) -> bool:
        return self.has_view_permission(request) and request.user.has_perms(export.permissions)

    def export_view(self, request, object_id, name):
        export = export_named(name)
        if not self.may_export(request, export):
            raise PermissionDenied
        organization = self.get_object(request, unquote(object_id))
        if organization is None:
            raise Http404("No such organization.")
        return export.response(organization, day=timezone.localdate())

    def export_links(self, request, organization_id: int) -> list[tuple[str, str]]:
        """The downloads of one organization the agent may take, as (label, URL)."""
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_export"
        return [(export.label, reverse(name, args=[organization_id, export.name]))
                for export in registered_exports() if self.may_export(request, export)]

    def has_export_competencies_permission(self, request) -> bool:
        return self.may_export(request, export_named(ONE_FILE))

    @admin.action(permissions=["export_competencies"],
                  description=_("Download the selected organizations' competencies (CSV)"))
    def export_competencies(self, request, queryset):
        """One row per organization × competency × option × requirement, by MPN ID, evaluated today in batches."""
        day = timezone.localdate()
        organizations = queryset.order_by("mpn_id").only("pk", "mpn_id").iterator(chunk_size=CHUNK)
        return csv_download(f"competencies-{day}.csv", COMPETENCY_COLUMNS, competency_rows(organizations, day=day))
