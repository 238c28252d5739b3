"""The batch path: many organizations, no details (what the nightly run and `statuses_refresh` use).

The nightly run evaluates every organization × competency; most pairs are
alike ("nobody holds any of its credentials"), and a result depends only on
a few numbers, the *figures* of an organization: how many members qualify
for each people requirement, the sums of the metrics, the market. So the
catalog snapshot is compiled once into a `CompiledCatalog` of plain tuples,
an organization's members become bits (credential -> int with one bit per
member holding it), a people figure is a few ORs and ANDs and a popcount,
and the option and requirement results are built once per distinct set of
figures in a call and shared by the organizations that have them: treat
results without details as read-only.

Two sorts of figure, which the five reads supply (`facts.read_rows`):
`people_figure` (how many members hold a credential of every group) and
`metric_figure` (the sum of a metric over a window). A requirement kind
names the figure its result depends on and builds its result from it
(`requirement_kinds.RequirementKind.figure`, `batch_result`); a catalog
with a kind that cannot is evaluated by the detailed path.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .facts import Rows, read_rows
from .localized import localized
from .models import higher_level
from .results import CompetencyResult, OptionResult, OverrideInfo, evaluated_level, option_result
from .specs import CatalogSnapshot, CompetencySpec, RequirementSpec

PEOPLE, METRIC = "people", "metric"


def people_figure(groups: Iterable[Iterable[int]]) -> tuple:
    """How many members hold a valid credential of every group (of credential ids)."""
    return (PEOPLE, tuple(tuple(sorted(g)) for g in groups))


def metric_figure(metric_id: int | None, window_days: int) -> tuple:
    """The sum of the organization's values of a metric in the window (None: a metric the catalog lacks)."""
    return (METRIC, metric_id, window_days)


@dataclass(frozen=True, slots=True)
class CompiledRequirement:
    spec: RequirementSpec
    handler: Any  # its `RequirementKind`
    input: int  # position of its figure among its competency's inputs; -1 when it depends on none


@dataclass(frozen=True, slots=True)
class CompiledOption:
    id: int
    level: str
    name: str
    requirements: tuple[CompiledRequirement, ...]
    inputs: tuple[int, ...]  # positions, among its competency's inputs, of the figures it depends on
    by_market: bool  # a threshold depends on the market
    names: dict = field(default_factory=dict)  # the option's name in other languages

    def build(self, values: Sequence, market: str) -> OptionResult:
        results = [
            r.handler.batch_result(r.spec, values[r.input] if r.input >= 0 else None, market) for r in self.requirements
        ]
        return option_result(self.id, self.level, localized(self.name, self.names), results)


@dataclass(frozen=True, slots=True)
class CompiledCompetency:
    id: int
    inputs: tuple[int, ...]  # the catalog-wide figures (`CompiledCatalog.figures`) its results depend on
    figures: Callable  # catalog-wide figures -> this competency's figures, as a tuple
    options: tuple[CompiledOption, ...]
    by_market: bool  # a threshold depends on the market: the market is part of its key


@dataclass(frozen=True, slots=True)
class CompiledCatalog:
    # Every distinct figure the catalog's requirements depend on (`people_figure`, `metric_figure`):
    # requirements sharing one share the figure.
    figures: tuple[tuple, ...]
    competencies: tuple[CompiledCompetency, ...]
    batchable: bool  # every kind is one the batch path can evaluate (otherwise: the detailed path)
    # credential -> the people groups it belongs to, each as `figure << 16 | group`: an organization's
    # credentials reach the figures they feed, and nothing else is looked at.
    groups_of: dict[int, tuple[int, ...]]
    group_counts: tuple[int, ...]  # figure -> how many groups (0 for a metric)
    metric_inputs: dict[int | None, tuple[tuple[int, int], ...]]  # metric -> ((figure, window days), ...)
    zeros: tuple  # every figure of an organization that has nobody certified and no metric value

    @property
    def windows(self) -> list[int]:
        """Every window, in days, the catalog sums a metric over."""
        return sorted({window for pairs in self.metric_inputs.values() for _figure, window in pairs})

    @classmethod
    def compile(cls, competencies: Sequence[CompetencySpec]) -> CompiledCatalog:
        figures: dict[tuple, int] = {}
        compiled = tuple(_compile_competency(spec, figures) for spec in competencies)
        batchable = all(r.handler.batchable for c in competencies for o in c.options for r in o.requirements)
        groups_of: dict[int, list] = defaultdict(list)
        metric_inputs = defaultdict(list)
        for figure, index in figures.items():
            if figure[0] == PEOPLE:
                for g, group in enumerate(figure[1]):
                    for credential_id in set(group):
                        groups_of[credential_id].append(index << 16 | g)
            else:
                metric_inputs[figure[1]].append((index, figure[2]))
        return cls(
            figures=tuple(figures),
            competencies=compiled,
            batchable=batchable,
            groups_of={c: tuple(v) for c, v in groups_of.items()},
            group_counts=tuple(len(f[1]) if f[0] == PEOPLE else 0 for f in figures),
            metric_inputs={m: tuple(v) for m, v in metric_inputs.items()},
            zeros=tuple(0 if f[0] == PEOPLE else Decimal(0) for f in figures),
        )


def _compile_competency(spec: CompetencySpec, figures: dict[tuple, int]) -> CompiledCompetency:
    """One competency, its figures numbered among the catalog's (`figures`, extended) and among its own."""
    mine: dict[int, int] = {}  # catalog-wide figure -> position among this competency's inputs

    def position(figure: tuple | None) -> int:
        if figure is None:
            return -1
        return mine.setdefault(figures.setdefault(figure, len(figures)), len(mine))

    options = []
    for option in spec.options:
        requirements = tuple(
            CompiledRequirement(req, req.handler, position(req.handler.figure(req.compiled)))
            for req in option.requirements
            if req.handler.batchable
        )
        options.append(CompiledOption(
            option.id, option.level, option.name, requirements,
            tuple(sorted({r.input for r in requirements if r.input >= 0})),
            any(r.handler.by_market(r.spec.compiled) for r in requirements),
            option.names,
        ))
    inputs = tuple(mine)
    if len(inputs) > 1:
        pick = operator.itemgetter(*inputs)
    elif inputs:
        only = inputs[0]
        pick = lambda values, only=only: (values[only],)  # noqa: E731 (itemgetter of one is no tuple)
    else:
        pick = lambda values: ()  # noqa: E731
    return CompiledCompetency(spec.id, inputs, pick, tuple(options), any(o.by_market for o in options))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch builds its results.

    A batch allocates hundreds of thousands of small objects that live until
    the batch ends and hold no reference cycles; the collector would walk
    them all again and again as they pile up (about 40% of the batch's time).
    Reference counting still frees everything; the collector resumes after.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def evaluate_batch(
    ids: list[int], day: datetime.date, snapshot: CatalogSnapshot, compiled: CompiledCatalog
) -> dict[tuple[int, int], CompetencyResult]:
    """`evaluate(details=False)` for a batchable catalog: the same results, computed as described above."""
    with collector_paused():
        return evaluate_rows(ids, compiled, read_rows(ids, day, snapshot, batch_windows=compiled.windows))


_NOTHING: tuple = ()
_NO_SUMS: dict = {}


def evaluate_rows(ids: list[int], compiled: CompiledCatalog, rows: Rows) -> dict[tuple[int, int], CompetencyResult]:
    """Every organization × competency of the batch from the rows the five reads found."""
    markets, members, held, sums, overrides = rows
    overridden = {org_id for org_id, _competency_id in overrides}
    # Results shared by the organizations with the same figures: per competency by market and figures,
    # and by option, market and the figures it depends on (a competency mixing people and a metric
    # sum rarely repeats whole, its people-only options do).
    competencies = [(c.id, c.figures, c.by_market, {}, c) for c in compiled.competencies]  # {}: its shared results
    by_option: dict[tuple, OptionResult] = {}
    results: dict[tuple[int, int], CompetencyResult] = {}
    for org_id in ids:
        market = markets.get(org_id)
        if market is None:
            continue
        figures = _figures(compiled, members.get(org_id, _NOTHING), held, sums.get(org_id, _NO_SUMS))
        _add_results(
            results, org_id, market, figures, competencies, by_option, overrides if org_id in overridden else None
        )
    return results


def _figures(compiled: CompiledCatalog, members: Iterable[int], held: dict[int, set[int]], sums: dict) -> list:
    """Every catalog-wide figure of one organization."""
    groups_of, group_counts = compiled.groups_of, compiled.group_counts
    figures = list(compiled.zeros)
    # People: one bit per member; `holders[c]` has the bits of the members holding credential c,
    # `in_group[figure << 16 | g]` those holding a credential of group g of a people figure. A member
    # qualifies for the figure when their bit is in every group of it.
    holders: dict[int, int] = {}
    bit = 1
    for employee_id in members:
        for credential_id in held.get(employee_id, _NOTHING):
            holders[credential_id] = holders.get(credential_id, 0) | bit
        bit <<= 1
    in_group: dict[int, int] = {}
    for credential_id, bits in holders.items():
        for key in groups_of.get(credential_id, _NOTHING):
            in_group[key] = in_group.get(key, 0) | bits
    for key, bits in in_group.items():
        index, group = key >> 16, key & 0xFFFF
        count = group_counts[index]
        if count == 1:
            figures[index] = bits.bit_count()
        elif group == 0:  # the first group of several: AND the others in (a missing one is nobody)
            for other in range(key + 1, key + count):
                bits &= in_group.get(other, 0)
            figures[index] = bits.bit_count()
    # Metrics: the database summed each over every window the catalog uses.
    metric_inputs = compiled.metric_inputs
    for metric_id, by_window in sums.items():
        for index, window in metric_inputs.get(metric_id, _NOTHING):
            total = by_window[window]
            if total is not None:
                figures[index] = total
    return figures


def _add_results(
    results: dict[tuple[int, int], CompetencyResult],
    org_id: int,
    market: str,
    figures: list,
    competencies: list,
    by_option: dict[tuple, OptionResult],
    overrides: dict[tuple[int, int], OverrideInfo] | None,
) -> None:
    """One organization's result in every competency, built from results shared where the figures repeat."""
    for competency_id, figures_of, by_market, memo, competency in competencies:
        values = figures_of(figures)
        key = (market, values) if by_market else values
        built = memo.get(key)
        if built is None:
            options = []
            for option in competency.options:
                option_key = (option.id, market if option.by_market else None, *[values[i] for i in option.inputs])
                result = by_option.get(option_key)
                if result is None:
                    result = by_option[option_key] = option.build(values, market)
                options.append(result)
            built = memo[key] = (options, *evaluated_level(options))
        options, evaluated, met_option_id = built
        override = overrides.get((org_id, competency_id)) if overrides is not None else None
        effective = evaluated if override is None else higher_level(evaluated, override.level)
        results[(org_id, competency_id)] = CompetencyResult(
            org_id, competency_id, evaluated, effective, override, met_option_id, options
        )
