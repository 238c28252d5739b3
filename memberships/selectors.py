"""Reads on memberships and benefits."""

import datetime

from django.db.models import Q

from competencies.models import Organization

from .models import Benefit, Membership


def membership_on(organization: Organization, *, day: datetime.date) -> Membership | None:
    """The membership whose term covers `day` (`starts_on <= day < ends_on`), the latest if several."""
    return (
        Membership.objects.filter(organization=organization, starts_on__lte=day, ends_on__gt=day)
        .order_by("-starts_on", "-pk")
        .first()
    )


def latest_membership(organization: Organization) -> Membership | None:
    return Membership.objects.filter(organization=organization).order_by("-ends_on", "-pk").first()


def benefits_catalog() -> list[Benefit]:
    return list(Benefit.objects.select_related("competency").order_by("competency__name", "slug"))


def entitled_benefits(*, membership_level: str | None, competency_levels: dict[int, str]) -> list[Benefit]:
    """Offers a membership level, and each competency at its level, entitle an organization to.

    A Gold membership includes what Silver gives; a competency at Gold includes its Silver offers.
    """
    rank = {"silver": 1, "gold": 2}
    wanted = Q(pk__in=[])
    if membership_level:
        wanted |= Q(competency__isnull=True, membership_level__in=[lv for lv in rank if rank[lv] <= rank[membership_level]])
    for competency_id, level in competency_levels.items():
        if level in rank:
            wanted |= Q(competency_id=competency_id, level__in=[lv for lv in rank if rank[lv] <= rank[level]])
    return list(Benefit.objects.filter(wanted).select_related("competency").order_by("competency__name", "slug"))


def levels_reached_in_terms(*, terms: dict[int, tuple[datetime.date, datetime.date]]) -> dict[tuple[int, int], str]:
    """The highest effective level each competency reached in each organization's current term, up to a day.

    `terms` maps an organization id to `(term_starts_on, day)`. The level
    the organization held entering the term counts (the term's first
    evaluation saw it), as does every change recorded from the term's first
    day up to `day`. One query over the append-only history: nothing derived
    is stored. Drives the displayed competencies and the at-risk alert.
    """
    from competencies.models import LEVEL_RANK, StatusChange

    if not terms:
        return {}
    latest_day = max(day for _start, day in terms.values())
    reached: dict[tuple[int, int], str] = {}
    changes = (
        StatusChange.objects.filter(organization_id__in=list(terms), day__lte=latest_day)
        .order_by("day", "id")
        .values_list("organization_id", "competency_id", "day", "new_effective")
    )
    entering: dict[tuple[int, int], str] = {}
    for org_id, competency_id, day, level in changes:
        start, until = terms[org_id]
        key = (org_id, competency_id)
        if day < start:
            entering[key] = level
        elif day <= until and LEVEL_RANK[level] > LEVEL_RANK[reached.get(key, "none")]:
            reached[key] = level
    for key, level in entering.items():
        if LEVEL_RANK[level] > LEVEL_RANK[reached.get(key, "none")]:
            reached[key] = level
    return {key: level for key, level in reached.items() if level != "none"}
