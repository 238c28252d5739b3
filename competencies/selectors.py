"""Reads: who belongs where, and what the pages show."""

import datetime

from django.utils import timezone

from .engine import evaluate
from .models import Association, Competency, EarnedCredential, Employee, Invitation, Level, Organization, StatusChange
from .rules import covering, credential_valid, credential_valid_on
from .snapshot import catalog_snapshot


def organization_of(employee: Employee, *, day: datetime.date | None = None) -> Organization | None:
    """The organization an employee works for on `day`.

    The one their association covers on that day; failing that, the one
    they administer (an admin need not hold credentials). None otherwise.
    """
    day = day or timezone.localdate()
    association = (
        Association.objects.select_related("organization")
        .filter(covering(day), employee=employee)
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
    results = evaluate(organization_ids=[organization.pk], day=day)
    centers: dict[int, dict] = {}
    for competency in Competency.objects.select_related("center").order_by("center__position", "position", "name"):
        result = results.get((organization.pk, competency.pk))
        if result is None:
            continue
        group = centers.setdefault(competency.center_id, {"center": competency.center, "rows": []})
        group["rows"].append({"competency": competency, "result": result})
    return list(centers.values())


def achieved_competencies(organization: Organization, *, day: datetime.date) -> list[dict]:
    """The competencies the organization holds at silver or gold (effective) on `day`, in catalog order.

    The dashboard needs only their names: the engine's own catalog snapshot
    gives them, so this costs no query beyond one evaluation.
    """
    catalog = catalog_snapshot()
    results = evaluate(organization_ids=[organization.pk], day=day, catalog=catalog)
    rows = [{"competency": spec, "result": results.get((organization.pk, spec.id))} for spec in catalog.competencies]
    return [row for row in rows if row["result"] is not None and row["result"].effective_level != Level.NONE]


def competency_history(organization: Organization, competency) -> list:
    return list(StatusChange.objects.filter(organization=organization, competency=competency).order_by("-day", "-id"))


def own_credentials(employee: Employee, *, day: datetime.date) -> list[dict]:
    """The employee's earned credentials, newest first, with validity on `day` and the competencies they count for."""
    catalog = catalog_snapshot()
    competencies_by_credential: dict[int, list[str]] = {}
    for competency in catalog.competencies:
        for credential_id in catalog.credentials_of(competency.id):
            competencies_by_credential.setdefault(credential_id, []).append(competency.localized_name)
    rows = []
    for earned in EarnedCredential.objects.filter(employee=employee).select_related("credential").order_by("-earned_on"):
        accepted_until = earned.credential.accepted_until
        ends = [d for d in (earned.expires_on, accepted_until) if d is not None]
        rows.append(
            {
                "earned": earned,
                "valid_until": min(ends) if ends else None,
                "valid": credential_valid_on(earned.earned_on, earned.expires_on, accepted_until, day),
                "competencies": sorted(competencies_by_credential.get(earned.credential_id, [])),
            }
        )
    return rows


# ---------------------------------------------------------------------------
# People


def key_people_of(organization: Organization, *, day: datetime.date) -> dict[int, list[dict]]:
    """Per employee, what the organization would lose on `day` if they alone left.

    From the engine's key people (docs/design.md: "if Jane Doe leaves, Cloud
    Platform drops from Gold to Silver"): each row names the competency, its
    effective level and the level it would drop to. One evaluation with
    details, a fixed number of queries.
    """
    names = {c.pk: c.localized_name for c in Competency.objects.only("pk", "name", "names")}
    key: dict[int, list[dict]] = {}
    for (_org, competency_id), result in evaluate(organization_ids=[organization.pk], day=day, details=True).items():
        for person in result.key_people:
            key.setdefault(person.employee_id, []).append(
                {"competency": names.get(competency_id, ""), "level": result.effective_level, "drops_to": person.drops_to_level}
            )
    return {employee_id: sorted(rows, key=lambda row: row["competency"]) for employee_id, rows in key.items()}


def members_of(organization: Organization, *, day: datetime.date) -> list[dict]:
    """Everyone who counts for the organization on `day`, by name, with their valid credentials and what rests on them.

    A fixed number of queries whatever the number of people: the
    associations, their earned credentials, and one evaluation with details
    for the key people.
    """
    associations = list(Association.objects.filter(covering(day), organization=organization).select_related("employee"))
    employee_ids = [a.employee_id for a in associations]
    codes: dict[int, list[str]] = {}
    earned = (
        EarnedCredential.objects.filter(credential_valid(day), employee_id__in=employee_ids)
        .exclude(credential__accepted_until__lte=day)
        .values_list("employee_id", "credential__code")
        .order_by("credential__code")
    )
    for employee_id, code in earned:
        if code not in codes.setdefault(employee_id, []):
            codes[employee_id].append(code)
    key = key_people_of(organization, day=day)
    admin_ids = set(organization.admins.values_list("pk", flat=True))
    rows = [
        {
            "employee": a.employee,
            "since": a.starts_on,
            "credentials": codes.get(a.employee_id, []),
            "holds_up": key.get(a.employee_id, []),
            "is_admin": a.employee_id in admin_ids,
        }
        for a in associations
    ]
    return sorted(rows, key=lambda row: (row["employee"].display_name.lower(), row["employee"].pk))


def invitations_sent(organization: Organization) -> list:
    """The organization's pending invitations, newest first (expired ones too, so an admin can renew or withdraw them)."""
    return list(
        Invitation.objects.filter(organization=organization, state=Invitation.State.PENDING)
        .select_related("invited_by")
        .order_by("-created_on", "-id")
    )


def invitations_received(employee: Employee, *, day: datetime.date) -> list:
    """The invitations addressed to the employee's email that can still be answered on `day`."""
    return list(
        Invitation.objects.filter(email__iexact=employee.email, state=Invitation.State.PENDING, expires_on__gt=day)
        .select_related("organization", "invited_by")
        .order_by("-created_on", "-id")
    )
