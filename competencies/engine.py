"""The achievement evaluation engine (docs/design.md, "Evaluation (as of a day D)").

One job: given a day D and a set of organizations, compute every
competency's evaluated and effective level, each option's progress, each
requirement's contributors and gap, the employees one credential away, and
the key people, with a FIXED number of queries whatever the number of
organizations, employees or competencies:

- the catalog: 4 queries, once per call, or none when the caller passes a
  `CatalogSnapshot` it took for several batches (`snapshot.catalog_snapshot`);
- per call: 5 set-based reads (`facts.read_rows`).

Everything else happens in memory. Nothing here writes: the nightly job and
the services store what this module computes; the pages read it, or call
`evaluate(..., details=True)` live for one organization.

Two paths, one set of rules: `details=True` (and a catalog with a kind that
cannot take the batch path) asks each requirement kind to `evaluate` its
requirement, words and people included; `details=False` takes the batch path
(`batch`), which computes the same results from a compiled catalog, member
bitsets and results shared between organizations with the same figures,
several times faster. Both build their results with the same helpers
(`results`, each kind's result builder), and tests/test_evaluation_batch.py
holds them equal. `docs/performance.md` has the figures.

Rules (every end date is the first day something no longer holds):

- An employee counts for O on D when an association with O covers D
  (`rules.covering`).
- An earned credential is valid on D when `earned_on <= D`, `D < expires_on`
  where it has one, and `D < accepted_until` where its credential has one
  (`rules.credential_valid`).
- An option is met when every requirement in it holds; a level is attained
  when any of its options is met (`results.option_result`).
- Evaluated level: gold if a gold option is met, else silver if a silver
  option is met, else none (`results.evaluated_level`).
- Effective level: the higher of the evaluated level and the level of an
  override active on D (`starts_on <= D < expires_on`, not revoked by D:
  `Override.active_on`, whatever its state today). An override never lowers
  a level.

Progress: a requirement's progress is `have / need` capped at 1; an
option's progress is the MEAN of its requirements' progress, so an option
whose consumption is met but whose people are missing shows half way.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Iterator
from decimal import Decimal

from .batch import CompiledCatalog, collector_paused, evaluate_batch, evaluate_rows
from .facts import OrganizationFacts, Rows, load_facts
from .models import LEVEL_RANK, Level, higher_level
from .results import (
    CompetencyResult,
    KeyPerson,
    OptionResult,
    OverrideInfo,
    RequirementResult,
    evaluated_level,
    option_result,
)
from .snapshot import catalog_snapshot
from .specs import CatalogSnapshot, CompetencySpec


def batched(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    """Organization ids in sorted batches of `size` (the unit of set-based evaluation)."""
    for batch in itertools.batched(sorted(set(ids)), max(1, size)):
        yield list(batch)


def evaluate(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    details: bool = False,
    catalog: CatalogSnapshot | None = None,
    competency_ids: Iterable[int] | None = None,
    key_people: bool = True,
) -> dict[tuple[int, int], CompetencyResult]:
    """Every competency of the catalog for every organization, as of `day`.

    One `CompetencyResult` per organization × competency, level none
    included, keyed by `(organization_id, competency_id)`. Unknown
    organization ids are left out. `details=True` adds the words (summary,
    gap), contributors, employees one credential away and key people: what
    the competency page shows for one organization. `competency_ids` keeps
    only those competencies (the competency page needs one: key people
    re-evaluate it once per contributor; `key_people=False` leaves them
    out, as the exports do). The caller batches (see `batched`); the query
    count does not depend on the batch.
    """
    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return {}
    snapshot = catalog if catalog is not None else catalog_snapshot()
    compiled = snapshot.compiled if snapshot.compiled is not None else CompiledCatalog.compile(snapshot.competencies)
    wanted = None if competency_ids is None else {int(c) for c in competency_ids}
    if not details and compiled.batchable:
        results = evaluate_batch(ids, day, snapshot, compiled)
        if wanted is not None:
            results = {key: result for key, result in results.items() if key[1] in wanted}
        return results
    facts_by_org, overrides = load_facts(ids, day, snapshot)
    return evaluate_facts(facts_by_org, overrides, snapshot, details=details, competency_ids=wanted,
                          key_people=key_people)


def evaluate_facts(
    facts_by_org: dict[int, OrganizationFacts],
    overrides: dict[tuple[int, int], OverrideInfo],
    snapshot: CatalogSnapshot,
    *,
    details: bool = False,
    competency_ids: set[int] | None = None,
    key_people: bool = True,
) -> dict[tuple[int, int], CompetencyResult]:
    """`evaluate` of facts already read (`load_facts`), made in memory (`competencies.timeline`) or changed
    there (`competencies.what_if`): no query.

    Without details, every competency of a batchable catalog takes the batch path, as `evaluate` does; a
    few competencies (`competency_ids`) are asked of their requirement kinds. `key_people=False` leaves
    the key people out of the details (each costs one more evaluation per contributor).
    """
    compiled = snapshot.compiled if snapshot.compiled is not None else CompiledCatalog.compile(snapshot.competencies)
    if not details and competency_ids is None and compiled.batchable:
        with collector_paused():
            return evaluate_rows(list(facts_by_org), compiled, _rows_of(facts_by_org, overrides, compiled))
    competencies = [c for c in snapshot.competencies if competency_ids is None or c.id in competency_ids]
    results: dict[tuple[int, int], CompetencyResult] = {}
    for org_id, facts in facts_by_org.items():
        for competency in competencies:
            override = overrides.get((org_id, competency.id))
            results[(org_id, competency.id)] = _evaluate_competency(
                competency, facts, override, details=details, key_people=key_people
            )
    return results


def _rows_of(
    facts_by_org: dict[int, OrganizationFacts], overrides: dict[tuple[int, int], OverrideInfo], compiled: CompiledCatalog
) -> Rows:
    """What the batch path's five reads would have found, from facts in memory."""
    windows = {metric_id: [window for _figure, window in pairs] for metric_id, pairs in compiled.metric_inputs.items()}
    held: dict[int, frozenset[int]] = {}
    sums: dict[int, dict[int, dict[int, Decimal]]] = {}
    for org_id, facts in facts_by_org.items():
        held.update(facts.held)  # the same person's credentials are the same in every organization
        sums[org_id] = {m: {w: facts.metric_sum(m, w) for w in windows.get(m, ())} for m in facts.metric_points}
    markets = {org_id: facts.market for org_id, facts in facts_by_org.items()}
    return Rows(markets, {org_id: facts.members for org_id, facts in facts_by_org.items()}, held, sums, overrides)


def _evaluate_options(competency: CompetencySpec, facts: OrganizationFacts, *, details: bool) -> list[OptionResult]:
    return [
        option_result(
            option.id,
            option.level,
            option.localized_name,
            [r.handler.evaluate(r, facts, details=details) for r in option.requirements],
        )
        for option in competency.options
    ]


def levels_of(
    competency: CompetencySpec, requirements: dict[int, RequirementResult], override: OverrideInfo | None
) -> tuple[str, str]:
    """The evaluated and effective level of a competency whose requirements' results are known (requirement
    id -> result): the forecast's walk asks again only the requirements a day's facts change."""
    options = [option_result(o.id, o.level, o.name, [requirements[r.id] for r in o.requirements])
               for o in competency.options]
    evaluated, _option = evaluated_level(options)
    return evaluated, higher_level(evaluated, override.level if override else Level.NONE)


def _evaluate_competency(
    competency: CompetencySpec, facts: OrganizationFacts, override: OverrideInfo | None, *, details: bool,
    key_people: bool = True,
) -> CompetencyResult:
    options = _evaluate_options(competency, facts, details=details)
    evaluated, met_option_id = evaluated_level(options)
    floor = override.level if override else Level.NONE
    effective = higher_level(evaluated, floor)  # an override raises, never lowers
    result = CompetencyResult(
        organization_id=facts.organization_id,
        competency_id=competency.id,
        evaluated_level=evaluated,
        effective_level=effective,
        override=override,
        met_option_id=met_option_id,
        options=options,
    )
    if details and key_people and evaluated != Level.NONE:
        result.key_people = _key_people(competency, facts, options, floor, effective)
    return result


def _key_people(
    competency: CompetencySpec, facts: OrganizationFacts, options: list[OptionResult], floor: str, effective: str
) -> list[KeyPerson]:
    """Employees E such that re-evaluating without E gives a lower level the override does not hold up.

    Only contributors can matter: removing anyone else changes no requirement.
    """
    candidates = {c.employee_id: c.name for o in options for r in o.requirements for c in r.contributors}
    key_people = []
    for employee_id, name in candidates.items():
        without, _option = evaluated_level(_evaluate_options(competency, facts.without(employee_id), details=False))
        drops_to = higher_level(without, floor)
        if LEVEL_RANK[drops_to] < LEVEL_RANK[effective]:
            key_people.append(KeyPerson(employee_id, name, drops_to))
    return sorted(key_people, key=lambda k: (k.name.lower(), k.employee_id))
