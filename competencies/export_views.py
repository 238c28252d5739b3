"""The organization's downloads (competencies, people, and those the layers above register): any employee of
the organization, and only of it. Agents take the same files of any organization in Django admin."""

from django.contrib.auth.decorators import login_required
from django.utils import timezone
from django.views.decorators.http import require_safe

from .exports import export_named, export_organization


@login_required
@require_safe
def organization_export(request, name: str):
    """The download `name` (`orders.csv`…) of the employee's own organization."""
    export = export_named(name)
    return export.response(export_organization(request), day=timezone.localdate())
