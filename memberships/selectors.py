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
