"""What the API reads, composed from the apps' own selectors: the same rules and the same numbers as the pages."""

import datetime

from django.db.models import Q

from competencies.causes import cause_words
from competencies.engine import evaluate
from competencies.models import Competency, Organization, StatusChange
from competencies.selectors import competency_overview, members_of
from memberships.displayed import displayed_levels


def competency_rows(organization: Organization, *, day: datetime.date, level: str = "", center: str = "") -> list[dict]:
    """Every competency with the organization's evaluated, effective and displayed level on `day` (the list page's)."""
    displayed = displayed_levels(organization_ids=[organization.pk], day=day)
    rows = []
    for group in competency_overview(organization, day=day):
        for row in group["rows"]:
            competency, result = row["competency"], row["result"]
            if center and group["center"].slug != center:
                continue
            if level and result.effective_level != level:
                continue
            rows.append(_competency_summary(competency, group["center"].slug, result, displayed))
    return rows


def _competency_summary(competency, center_slug: str, result, displayed: dict) -> dict:
    override = result.override
    return {
        "slug": competency.slug,
        "name": competency.name,
        "center": center_slug,
        "evaluated_level": result.evaluated_level,
        "effective_level": result.effective_level,
        "displayed_level": displayed.get((result.organization_id, result.competency_id)),
        "override": {"level": override.level, "expires_on": override.expires_on} if override else None,
        "next_level": result.next_level,
        "next_level_progress": round(result.next_level_progress, 4),
    }


def competency_detail(organization: Organization, competency: Competency, *, day: datetime.date) -> dict:
    """One competency as its page shows it: options, requirements with progress and contributors, key people."""
    result = evaluate(organization_ids=[organization.pk], day=day, details=True, competency_ids=[competency.pk])[
        (organization.pk, competency.pk)
    ]
    displayed = displayed_levels(organization_ids=[organization.pk], day=day)
    row = _competency_summary(competency, competency.center.slug, result, displayed)
    row["options"] = [
        {
            "name": option.name,
            "level": option.level,
            "met": option.met,
            "progress": round(option.progress, 4),
            "requirements": [_requirement(r) for r in option.requirements],
        }
        for option in result.options
    ]
    row["key_people"] = [
        {"employee_id": p.employee_id, "name": p.name, "drops_to_level": p.drops_to_level} for p in result.key_people
    ]
    return row


def _requirement(r) -> dict:
    return {
        "kind": r.kind,
        "met": r.met,
        "have": str(r.have),
        "need": str(r.need),
        "unit": r.unit,
        "progress": round(r.progress, 4),
        "summary": r.summary,
        "gap": r.gap,
        "contributors": [{"employee_id": c.employee_id, "name": c.name, "credentials": list(c.credentials)}
                         for c in r.contributors],
    }


def history(organization: Organization, *, competency: str = "", since: datetime.date | None = None):
    """The organization's recorded level changes, newest first (a queryset, paged by the caller)."""
    changes = StatusChange.objects.filter(organization=organization).select_related("competency")
    if competency:
        changes = changes.filter(competency__slug=competency)
    if since:
        changes = changes.filter(day__gte=since)
    return changes.order_by("-id")


def history_row(change: StatusChange) -> dict:
    return {
        "id": change.pk,
        "competency": change.competency.slug,
        "day": change.day,
        "old_evaluated": change.old_evaluated,
        "new_evaluated": change.new_evaluated,
        "old_effective": change.old_effective,
        "new_effective": change.new_effective,
        "cause": change.cause,
        "cause_text": cause_words(change.cause_params) or str(change.get_cause_display()),
    }


def people_rows(organization: Organization, *, day: datetime.date, search: str = "") -> list[dict]:
    """Everyone who counts for the organization on `day` (the People page), with the competencies they count toward."""
    toward: dict[int, set[str]] = {}
    slugs = dict(Competency.objects.values_list("pk", "slug"))
    for (_org, competency_id), result in evaluate(organization_ids=[organization.pk], day=day, details=True).items():
        for option in result.options:
            for requirement in option.requirements:
                for contributor in requirement.contributors:
                    toward.setdefault(contributor.employee_id, set()).add(slugs.get(competency_id, ""))
    rows = []
    for row in members_of(organization, day=day):
        employee = row["employee"]
        if search and search.lower() not in f"{employee.display_name} {employee.email}".lower():
            continue
        rows.append({
            "id": employee.pk,
            "name": employee.display_name,
            "email": employee.email,
            "since": row["since"],
            "is_admin": row["is_admin"],
            "credentials": row["credentials"],
            "counts_toward": sorted(toward.get(employee.pk, ())),
            "holds_up": [{"competency": h["competency"], "level": h["level"], "drops_to": h["drops_to"]}
                         for h in row["holds_up"]],
        })
    return rows


def organization_by_mpn(mpn_id: str) -> Organization | None:
    return Organization.objects.filter(Q(mpn_id=mpn_id)).first()
