"""The competencies an organization displays during its membership term, read from the stored history."""

import datetime
from collections.abc import Iterable

from competencies.engine import batched
from competencies.facts import among
from competencies.models import Level, StatusChange, higher_level

from .terms import active_terms


def levels_reached_in_terms(*, terms: dict[int, tuple[datetime.date, datetime.date]]) -> dict[tuple[int, int], str]:
    """The highest effective level each competency reached in each organization's current term, up to a day.

    `terms` maps an organization id to `(term_starts_on, day)`. The level
    the organization held entering the term counts (the term's first
    evaluation saw it), as does every change recorded from the term's first
    day up to `day`. One query over the append-only history: nothing derived
    is stored. Drives the displayed competencies and the at-risk alert.
    """
    if not terms:
        return {}
    latest_day = max(day for _start, day in terms.values())
    reached: dict[tuple[int, int], str] = {}
    changes = (
        StatusChange.objects.filter(among("organization_id", terms), day__lte=latest_day)
        .order_by("day", "id")
        .values_list("organization_id", "competency_id", "day", "new_effective")
    )
    entering: dict[tuple[int, int], str] = {}
    for org_id, competency_id, day, level in changes:
        start, until = terms[org_id]
        key = (org_id, competency_id)
        if day < start:
            entering[key] = level
        elif day <= until:
            reached[key] = higher_level(reached.get(key, Level.NONE), level)
    for key, level in entering.items():
        reached[key] = higher_level(reached.get(key, Level.NONE), level)
    return {key: level for key, level in reached.items() if level != Level.NONE}


def levels_in_terms(terms: dict[int, tuple[str, datetime.date, datetime.date]]) -> dict[tuple[int, int], str]:
    """The level each competency reached in each term up to a day, as its membership level shows it.

    `terms` maps an organization id to `(membership_level, term_starts_on,
    up_to_day)`. A Silver member shows Silver only; a Gold member shows
    Silver and Gold as achieved.
    """
    reached = levels_reached_in_terms(terms={org_id: (start, until) for org_id, (_lv, start, until) in terms.items()})
    levels = {}
    for (org_id, competency_id), level in reached.items():
        membership_level = terms[org_id][0]
        levels[(org_id, competency_id)] = Level.SILVER if membership_level == Level.SILVER else level
    return levels


def displayed_levels(*, organization_ids: Iterable[int], day: datetime.date) -> dict[tuple[int, int], str]:
    """The competencies an organization displays on D, and at which level.

    docs/design.md: "While a membership term is active, every competency whose
    effective level reached silver or gold at any evaluation in the current
    term is displayed until the term ends — even if it is lost meanwhile. A
    Silver member displays them as Silver only; a Gold member displays Silver
    and Gold levels as achieved. No active membership: nothing displayed."

    Active means `starts_on <= D < ends_on`, so nothing is displayed during
    the grace after the anniversary. The term is the one covering D: after an
    upgrade, the Gold term's (what the organization held entering it counts).
    Pairs not displayed are left out. Two queries per 5,000 organizations,
    from the stored history (`StatusChange`): the engine's evaluations, not
    a re-implementation.
    """
    ids = sorted({int(i) for i in organization_ids})
    levels: dict[tuple[int, int], str] = {}
    for chunk in batched(ids, 5000):
        terms = active_terms(organization_ids=chunk, day=day)
        levels.update(levels_in_terms({org_id: (m.level, m.starts_on, day) for org_id, m in terms.items()}))
    return levels
