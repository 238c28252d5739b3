"""Reads: who belongs where, and what the pages show."""

import datetime

from django.utils import timezone

from .models import Association, Employee, Organization


def organization_of(employee: Employee, *, day: datetime.date | None = None) -> Organization | None:
    """The organization an employee works for on `day`.

    The one their association covers on that day; failing that, the one
    they administer (an admin need not hold credentials). None otherwise.
    """
    day = day or timezone.localdate()
    association = (
        Association.objects.select_related("organization")
        .filter(employee=employee, starts_on__lte=day)
        .exclude(ends_on__lte=day)
        .order_by("-starts_on")
        .first()
    )
    if association:
        return association.organization
    return employee.administered_organizations.order_by("pk").first()


def is_organization_admin(employee: Employee, organization: Organization) -> bool:
    return organization.admins.filter(pk=employee.pk).exists()


def current_association(employee: Employee) -> Association | None:
    return Association.objects.select_related("organization").filter(employee=employee, ends_on__isnull=True).first()


def competency_overview(organization: Organization, *, day: datetime.date) -> list[dict]:
    """Every competency of the catalog grouped by Center of Excellence, with the organization's live evaluation.

    The pages call the engine for one organization (a fixed number of
    queries) so they always show the state as of today, whatever the stored
    status's age.
    """
    from .evaluation import evaluate
    from .models import Competency

    results = evaluate(organization_ids=[organization.pk], day=day)
    centers: dict[int, dict] = {}
    for competency in Competency.objects.select_related("center").order_by("center__position", "position", "name"):
        result = results.get((organization.pk, competency.pk))
        if result is None:
            continue
        group = centers.setdefault(competency.center_id, {"center": competency.center, "rows": []})
        group["rows"].append({"competency": competency, "result": result})
    return list(centers.values())


def competency_history(organization: Organization, competency) -> list:
    from .models import StatusChange

    return list(StatusChange.objects.filter(organization=organization, competency=competency).order_by("-day", "-id"))


def own_credentials(employee: Employee, *, day: datetime.date) -> list[dict]:
    """The employee's earned credentials, newest first, with validity on `day` and the competencies they count for."""
    from .evaluation import catalog_snapshot
    from .models import EarnedCredential

    catalog = catalog_snapshot()
    competencies_by_credential: dict[int, list[str]] = {}
    for competency in catalog.competencies:
        for credential_id in catalog.credentials_of(competency.id):
            competencies_by_credential.setdefault(credential_id, []).append(competency.name)
    rows = []
    for earned in EarnedCredential.objects.filter(employee=employee).select_related("credential").order_by("-earned_on"):
        ends = [d for d in (earned.expires_on, earned.credential.accepted_until) if d is not None]
        valid_until = min(ends) if ends else None
        rows.append(
            {
                "earned": earned,
                "valid_until": valid_until,
                "valid": earned.earned_on <= day and (valid_until is None or day < valid_until),
                "competencies": sorted(competencies_by_credential.get(earned.credential_id, [])),
            }
        )
    return rows
