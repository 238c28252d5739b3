"""What the evaluation engine says of an organization on a day: its results, read by the services and the pages.

Both of the engine's paths (`engine.evaluate` with details, and the batch path) build these
with the same helpers (`option_result`, `evaluated_level`), so they cannot disagree on a rule.
Results without details are shared between organizations with the same figures: treat them
as read-only.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from .models import LEVEL_RANK, Level


class Contributor(NamedTuple):
    """An employee who counts for the organization and satisfies a requirement, and through which credential(s)."""

    employee_id: int
    name: str
    credentials: list[str]


class OneAway(NamedTuple):
    """An employee who counts for the organization and lacks exactly one credential; any one of `missing` would do."""

    employee_id: int
    name: str
    missing: list[str]


class KeyPerson(NamedTuple):
    """An employee whose departure alone would lower the effective level to `drops_to_level`."""

    employee_id: int
    name: str
    drops_to_level: str


class OverrideInfo(NamedTuple):
    id: int
    level: str
    expires_on: datetime.date


@dataclass(slots=True)
class RequirementResult:
    requirement_id: int
    kind: str
    met: bool
    have: int | Decimal
    need: int | Decimal
    unit: str
    progress: float
    summary: str = ""  # plain words of the requirement (details only)
    gap: str = ""  # plain words of what is missing, "" when met (details only)
    contributors: Sequence[Contributor] = ()  # details only
    one_away: Sequence[OneAway] = ()  # details only, unmet certified_people: people near (holding part of it)
    others: int = 0  # details only, unmet certified_people: the organization's people who do not count for it


@dataclass(slots=True)
class OptionResult:
    option_id: int
    level: str
    name: str
    met: bool
    progress: float  # mean of its requirements' progress
    requirements: list[RequirementResult]


@dataclass(slots=True)
class CompetencyResult:
    organization_id: int
    competency_id: int
    evaluated_level: str
    effective_level: str
    override: OverrideInfo | None
    met_option_id: int | None
    options: list[OptionResult]
    key_people: list[KeyPerson] = field(default_factory=list)  # details only

    @property
    def next_level(self) -> str | None:
        """The level above the evaluated one, None at gold."""
        above = LEVEL_RANK[self.evaluated_level] + 1
        return next((level for level, rank in LEVEL_RANK.items() if rank == above), None)

    @property
    def gap_options(self) -> list[OptionResult]:
        """Options of the levels above the evaluated one (for none: silver and gold, since gold alone is enough)."""
        rank = LEVEL_RANK[self.evaluated_level]
        return [o for o in self.options if LEVEL_RANK[o.level] > rank]

    @property
    def next_level_progress(self) -> float:
        """The best progress among options of the next level; 1.0 at gold."""
        nxt = self.next_level
        if nxt is None:
            return 1.0
        return max((o.progress for o in self.options if o.level == nxt), default=0.0)

    def summary(self) -> dict:
        """The compact form stored in `CompetencyStatus.details` for the list page."""
        return {
            "met_option_id": self.met_option_id,
            "next_level_progress": round(self.next_level_progress, 4),
            "options": [
                {"id": o.option_id, "level": o.level, "met": o.met, "progress": round(o.progress, 4)}
                for o in self.options
            ],
        }


def option_result(option_id: int, level: str, name: str, requirements: list[RequirementResult]) -> OptionResult:
    """An option is met when every requirement in it holds; one without requirements is never met (an empty
    option in the catalog is a mistake, not a free level). Its progress is the MEAN of its requirements'."""
    # Plain loop: this runs for every organization × option of the nightly batch.
    met, total = bool(requirements), 0.0
    for r in requirements:
        total += r.progress
        met = met and r.met
    return OptionResult(option_id, level, name, met, total / len(requirements) if requirements else 0.0, requirements)


def evaluated_level(options: list[OptionResult]) -> tuple[str, int | None]:
    """Gold if a gold option is met, else silver if a silver option is met, else none; and the option that did it.

    Gold alone is enough for gold.
    """
    silver = None
    for o in options:
        if o.met:
            if o.level == Level.GOLD:
                return Level.GOLD, o.option_id
            if silver is None:
                silver = o.option_id
    return (Level.SILVER, silver) if silver is not None else (Level.NONE, None)
