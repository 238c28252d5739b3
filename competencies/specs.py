"""The catalog as the evaluation engine reads it: a read-only `CatalogSnapshot` of `*Spec`s.

Three shapes of the catalog, one name each: the parsed file (`catalog.CatalogFile`, `*Entry`),
this snapshot of the rows the engine evaluates (`*Spec`, taken by `snapshot.catalog_snapshot`),
and the batch path's compiled form of the snapshot (`batch.CompiledCatalog`, `Compiled*`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .localized import localized


class Named:
    """A spec with a `name` and its translations (`names`): `localized_name` reads the one of the reader's language."""

    __slots__ = ()

    @property
    def localized_name(self) -> str:
        return localized(self.name, self.names)


@dataclass(frozen=True, slots=True)
class MetricSpec(Named):
    id: int
    slug: str
    name: str
    unit: str
    names: dict = field(default_factory=dict, compare=False)  # the name in other languages


@dataclass(frozen=True, slots=True)
class Lookups:
    """What a requirement kind's `compile` may resolve names against: the rows the snapshot read."""

    ids_by_code: dict[str, int]  # credential code -> id
    metrics: dict[str, MetricSpec]  # by slug


@dataclass(frozen=True, slots=True)
class RequirementSpec:
    id: int
    kind: str  # as the catalog names it
    params: dict
    compiled: Any = None  # what the kind's `compile` made of the params
    handler: Any = None  # the `requirement_kinds.RequirementKind` that evaluates it


@dataclass(frozen=True, slots=True)
class OptionSpec(Named):
    id: int
    level: str
    name: str
    requirements: tuple[RequirementSpec, ...]
    names: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class CompetencySpec(Named):
    id: int
    slug: str
    name: str
    options: tuple[OptionSpec, ...]  # silver options first, then gold, each by position
    names: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    competencies: tuple[CompetencySpec, ...]
    credential_codes: dict[int, str]  # id -> code of every credential the requirements name
    accepted_until: dict[int, datetime.date]  # id -> first day an earned one no longer counts
    metrics: dict[str, MetricSpec]  # by slug, those the requirements name
    max_window_days: int
    by_id: dict[int, CompetencySpec]
    # The same catalog compiled for the batch path (`batch.CompiledCatalog`), built once with the snapshot.
    compiled: Any = field(default=None, repr=False, compare=False)
    titles: dict[str, tuple[str, dict]] = field(default_factory=dict)  # code -> (English title, translations)

    def competency(self, competency_id: int) -> CompetencySpec | None:
        return self.by_id.get(competency_id)

    def credentials_of(self, competency_id: int) -> set[int]:
        """Credential ids the competency's requirements name (any kind, any level)."""
        spec = self.competency(competency_id)
        if spec is None:
            return set()
        ids = set()
        for option in spec.options:
            for req in option.requirements:
                ids |= req.handler.credential_ids(req.compiled)
        return ids
