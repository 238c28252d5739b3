"""Reads: who belongs where, and what the pages show."""

import datetime
from typing import NamedTuple

from django.utils import timezone

from .engine import evaluate
from .models import (
    ACHIEVABLE_LEVELS,
    LEVEL_RANK,
    Association,
    Competency,
    CompetencyStatus,
    Credential,
    EarnedCredential,
    Employee,
    Invitation,
    Level,
    Organization,
    StatusChange,
)
from .results import OverrideInfo
from .rules import covering, credential_valid, credential_valid_on
from .snapshot import catalog_snapshot
from .specs import CatalogSnapshot


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
        group["rows"].append({"competency": competency, "result": result, "progress": progress_options(result)})
    return list(centers.values())


def progress_options(result) -> list:
    """The options of the next level the organization can reach: the level above the evaluated one, or the
    next one that has options (a Gold-only competency shows its Gold options to an organization with none)."""
    for level in ACHIEVABLE_LEVELS:
        if LEVEL_RANK[level] <= LEVEL_RANK[result.evaluated_level]:
            continue
        options = [o for o in result.options if o.level == level]
        if options:
            return options
    return []


class StoredLevel(NamedTuple):
    """A stored status in the shape the pages read from a live result: its levels and override."""

    evaluated_level: str
    effective_level: str
    override: OverrideInfo | None


def current_levels(organization: Organization, *, day: datetime.date) -> dict[tuple[int, int], StoredLevel] | None:
    """The organization's stored levels by (organization id, competency id) when they are current as of `day`
    (its marker says so), else None: the caller evaluates live. A pair without a row is level none (left out).

    One query. Current means evaluated as of that day with nothing changed since: a change of the day moves
    the marker back as it commits (`statuses.reevaluate_on_commit`) until its re-evaluation has stored it.
    """
    if organization.statuses_as_of != day:
        return None
    return {
        (organization.pk, competency_id): StoredLevel(
            evaluated, effective, OverrideInfo(override_id, level, expires_on) if override_id else None
        )
        for competency_id, evaluated, effective, override_id, level, expires_on in (
            CompetencyStatus.objects.filter(organization_id=organization.pk).values_list(
                "competency_id", "evaluated_level", "effective_level", "override_id", "override__level",
                "override__expires_on",
            )
        )
    }


def achieved_competencies(organization: Organization, *, day: datetime.date) -> list[dict]:
    """The competencies the organization holds at silver or gold (effective) on `day`, in catalog order.

    The dashboard needs only their names and levels: from the stored
    statuses when they are current (`current_levels`: one query), else one
    live evaluation; the same either way.
    """
    catalog = catalog_snapshot()
    results = current_levels(organization, day=day)
    if results is None:
        results = evaluate(organization_ids=[organization.pk], day=day, catalog=catalog)
    rows = [{"competency": spec, "result": results.get((organization.pk, spec.id))} for spec in catalog.competencies]
    return [row for row in rows if row["result"] is not None and row["result"].effective_level != Level.NONE]


def competency_history(organization: Organization, competency):
    """The organization's recorded changes of the competency, newest first (a queryset: the page slices it)."""
    return StatusChange.objects.filter(organization=organization, competency=competency).order_by("-day", "-id")


def credential_titles() -> dict[str, tuple[str, dict]]:
    """Every credential's title and its translations by its code (one query): pages show "70-533 Implementing …",
    never the code alone (the `titled` filter says it in the reader's language)."""
    return {code: (title, names) for code, title, names in Credential.objects.values_list("code", "title", "names")}


def requirement_credentials(catalog: CatalogSnapshot, competency_id: int) -> dict[int, list[str]]:
    """Per requirement of the competency, the credential codes it names, sorted (from the snapshot: no query)."""
    spec = catalog.competency(competency_id)
    return {
        req.id: sorted(req.handler.credential_codes(req.params or {}))
        for option in (spec.options if spec else ())
        for req in option.requirements
    }


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


PEOPLE_SORTS = {
    "name": lambda row: (row["employee"].display_name.lower(), row["employee"].pk),
    "since": lambda row: (row["since"], row["employee"].display_name.lower(), row["employee"].pk),
    "credentials": lambda row: (len(row["credentials"]), row["employee"].display_name.lower(), row["employee"].pk),
}


def members_matching(members: list[dict], *, q: str = "", sort: str = "name") -> list[dict]:
    """`members_of`'s rows whose name, email or a credential code contains `q` (any case), sorted by `sort`:
    a key of PEOPLE_SORTS, "-" in front for descending; an unknown sort sorts by name."""
    needle = (q or "").strip().lower()
    if needle:
        members = [
            row for row in members
            if needle in row["employee"].display_name.lower()
            or needle in row["employee"].email.lower()
            or any(needle in code.lower() for code in row["credentials"])
        ]
    descending = sort.startswith("-")
    key = PEOPLE_SORTS.get(sort.lstrip("-"), PEOPLE_SORTS["name"])
    return sorted(members, key=key, reverse=descending)


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
        Invitation.objects.filter(email=employee.email, state=Invitation.State.PENDING, expires_on__gt=day)
        .select_related("organization", "invited_by")
        .order_by("-created_on", "-id")
    )
