"""The organization's downloads (competencies, people): any employee of the organization, and only of it."""

from django.contrib.auth.decorators import login_required
from django.utils import timezone
from django.views.decorators.http import require_safe

from .exports import (
    COMPETENCY_COLUMNS,
    PEOPLE_COLUMNS,
    competency_document,
    competency_rows,
    csv_download,
    download,
    export_organization,
    people_rows,
)


@login_required
@require_safe
def competencies_csv(request):
    organization, day = export_organization(request), timezone.localdate()
    rows = competency_rows(organization, day=day)
    return csv_download(f"{organization.mpn_id}-competencies-{day}.csv", COMPETENCY_COLUMNS, rows)


@login_required
@require_safe
def competencies_json(request):
    organization, day = export_organization(request), timezone.localdate()
    document = competency_document(organization, day=day)
    return download(f"{organization.mpn_id}-competencies-{day}.json", document, "application/json")


@login_required
@require_safe
def people_csv(request):
    organization, day = export_organization(request), timezone.localdate()
    return csv_download(f"{organization.mpn_id}-people-{day}.csv", PEOPLE_COLUMNS, people_rows(organization, day=day))
