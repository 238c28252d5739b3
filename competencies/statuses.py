"""Stored statuses and their history: what the engine computed, kept, and every change of level recorded.

The engine (`engine.py`) computes; `statuses_refresh` stores what it
computed (`CompetencyStatus`) and appends a `StatusChange` with its day and
cause whenever a level moves. A change made in the day asks for the
re-evaluation of the organizations it touched once it commits
(`reevaluate_on_commit`); the layer above does the work.
"""

import datetime
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from . import hooks
from .batch import collector_paused
from .carry_forward import carried_forward
from .causes import cause_params_of
from .dates import ONE_DAY
from .engine import batched, evaluate
from .facts import among
from .forecast_store import forecast_pending_mark
from .models import CompetencyStatus, Level, Organization, StatusChange
from .results import CompetencyResult
from .snapshot import catalog_snapshot
from .specs import CatalogSnapshot
from .status_causes import StoredStatus, infer_causes


@dataclass
class RefreshResult:
    """What one `statuses_refresh` did, for the nightly job's log and the tests."""

    organizations: int = 0  # organizations evaluated
    created: int = 0  # statuses stored for the first time
    updated: int = 0  # statuses whose level, override or summary changed
    unchanged: int = 0  # organization × competency pairs evaluated that needed no write
    skipped: int = 0  # organizations already evaluated as of a later day: left as they are
    carried: int = 0  # of `organizations`, those whose statuses were carried to the day unevaluated (`carry_forward`)
    changes: int = 0  # history rows written


def statuses_refresh(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    cause: str | None = None,
    cause_params: dict | None = None,
    carry: bool = False,
) -> RefreshResult:
    """Re-evaluate organizations as of `day`, store what changed, record every change of level.

    Every change of evaluated or effective level is recorded with its day
    and cause; history is never rewritten (docs/design.md). Per batch of
    `settings.EVALUATION_BATCH_SIZE` organizations, in one transaction:
    evaluate set-based, compare with the stored statuses (`_differences`:
    in the database on PostgreSQL), write only the statuses that differ
    (one INSERT … ON CONFLICT UPDATE), append a `StatusChange` whenever the
    evaluated or effective level moved, and move the organizations' marker
    (`Organization.statuses_as_of`) on to `day`. A pair that has never had a
    level has no row: a missing status is level none (docs/rules.md). The
    cause is `cause` (with `cause_params`, see `causes.py`) when given, else
    inferred from what happened since the marker
    (`status_causes.infer_causes`). A first evaluation at level none writes
    no history. With `carry` (the night), an organization whose facts did not change since the day before
    is not evaluated: its marker moves on (`carry_forward.carried_forward`, docs/rules.md).

    Idempotent: a second run for the same day writes nothing. An
    organization already evaluated as of a LATER day is left as it is: an
    older evaluation (a re-evaluation queued for a back-dated change,
    `run_nightly --date` for a past day) never replaces a newer one.

    Cost (docs/performance.md): rows written in proportion to the changes,
    each kind of write one statement per batch, plus one UPDATE of the
    batch's markers.
    """
    if cause is not None and cause not in StatusChange.Cause.values:
        raise ValueError(f"unknown cause {cause!r}")
    given = None if cause is None else (cause, cause_params or {})
    result = RefreshResult()
    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return result
    catalog = catalog_snapshot()  # once per run, shared by every batch
    # The run's objects hold no cycles: the garbage collector would only walk each batch's results again.
    with collector_paused():
        for batch in batched(ids, settings.EVALUATION_BATCH_SIZE):
            with transaction.atomic():
                _refresh_batch(batch, day=day, catalog=catalog, given=given, result=result, carry=carry)
    return result


class _Row(NamedTuple):
    """A status to write: `CompetencyStatus`'s columns."""

    organization_id: int
    competency_id: int
    evaluated_level: str
    effective_level: str
    override_id: int | None
    details: dict  # the summary; rows sharing one share the object, so its JSON is made once


def _row(evaluation: CompetencyResult, summary: dict) -> _Row:
    override_id = evaluation.override.id if evaluation.override else None
    return _Row(
        evaluation.organization_id, evaluation.competency_id, evaluation.evaluated_level, evaluation.effective_level,
        override_id, summary,
    )


def _refresh_batch(
    batch: list[int], *, day: datetime.date, catalog: CatalogSnapshot, given: tuple[str, dict] | None,
    result: RefreshResult, carry: bool,
) -> None:
    # Lock the batch's organizations (in id order, so batches never deadlock): a nightly batch and an
    # on-commit re-evaluation of the same organization queue instead of both writing its statuses.
    markers = dict(
        Organization.objects.select_for_update().filter(among("id", batch)).order_by("pk").values_list("pk", "statuses_as_of")
    )
    due = [pk for pk, marker in markers.items() if marker is None or marker <= day]
    result.skipped += len(markers) - len(due)
    if not due:
        return
    carried = carried_forward({pk: markers[pk] for pk in due}, day, catalog) if carry else set()
    evaluated = [pk for pk in due if pk not in carried]
    evaluations = evaluate(organization_ids=evaluated, day=day, catalog=catalog) if evaluated else {}
    summaries = _Summaries()
    differing = _differences(evaluations, {pk: markers[pk] for pk in evaluated}, summaries) if evaluated else []
    upserts, changed = [], []
    for key, old in differing:
        evaluation = evaluations[key]
        upserts.append(_row(evaluation, summaries.of(evaluation)))
        if old is None or (old.evaluated_level, old.effective_level) != (
            evaluation.evaluated_level, evaluation.effective_level
        ):
            # A first evaluation at none is no news: `_differences` never returns one.
            changed.append((evaluation, old))
    history = _status_changes(changed, day=day, catalog=catalog, given=given)
    moved = [pk for pk in due if markers[pk] != day]
    if connection.vendor == "postgresql":
        _write_postgresql(upserts, history)
    else:
        _write_portable(upserts, history)
    if moved:
        Organization.objects.filter(among("id", moved)).update(statuses_as_of=day)
    result.organizations += len(due)
    result.carried += len(carried)
    result.created += sum(1 for _key, old in differing if old is None or old.pk is None)
    result.updated += sum(1 for _key, old in differing if old is not None and old.pk is not None)
    result.unchanged += len(evaluations) - len(differing)
    result.changes += len(history)


class _Summaries:
    """Per distinct set of options, worked out once: results without details share their options between
    organizations with the same figures (`batch.py`). A result's summary (what a status stores) and the ids
    of its options met, as JSON (what a comparison with the stored status reads of it)."""

    def __init__(self):
        self._made: dict[int, dict] = {}
        self._met: dict[int, str] = {}

    def of(self, evaluation: CompetencyResult) -> dict:
        summary = self._made.get(id(evaluation.options))
        if summary is None:
            summary = self._made[id(evaluation.options)] = evaluation.summary()
        return summary

    def met(self, evaluation: CompetencyResult) -> str:
        met = self._met.get(id(evaluation.options))
        if met is None:
            met = self._met[id(evaluation.options)] = json.dumps([o.option_id for o in evaluation.options if o.met])
        return met


def _has_a_level(evaluation: CompetencyResult) -> bool:
    return evaluation.evaluated_level != Level.NONE or evaluation.effective_level != Level.NONE


def _differences(
    evaluations: dict[tuple[int, int], CompetencyResult], markers: dict[int, datetime.date | None], summaries: _Summaries
) -> list[tuple[tuple[int, int], StoredStatus | None]]:
    """The pairs whose stored status differs from the evaluation, each with what was stored.

    A pair with a level differs when it has no row, or its row's levels,
    override or options met differ (the progress alone moving writes
    nothing: only a lost level reads the stored summary, for the options it
    stood on); a pair at level none differs when its row still holds a level
    or an override. What was stored is None for an organization never
    evaluated, and level none without a row (`pk` None) for a pair that has
    never had one; `as_of` is the marker.
    """
    if connection.vendor == "postgresql":
        found = _differences_postgresql(evaluations, markers, summaries)
    else:
        found = _differences_portable(evaluations, markers, summaries)
    differing = []
    for key, stored in found:
        marker = markers[key[0]]
        if stored is None:
            old = None if marker is None else StoredStatus(None, marker, Level.NONE, Level.NONE, None, {})
        else:
            old = stored._replace(as_of=marker)
        differing.append((key, old))
    return differing


def _stored_rows(cursor_rows: Iterable[tuple]) -> Iterator[tuple[tuple[int, int], StoredStatus]]:
    """(key, StoredStatus) from rows of (organization id, competency id, pk, evaluated, effective, override id,
    details as text); each distinct text parsed once: most statuses share a handful."""
    parsed: dict[str, dict] = {}
    for org_id, competency_id, pk, evaluated, effective, override_id, text in cursor_rows:
        details = parsed.get(text)
        if details is None:
            details = parsed[text] = json.loads(text) if text else {}
        yield (org_id, competency_id), StoredStatus(pk, None, evaluated, effective, override_id, details)


def _differences_portable(
    evaluations: dict[tuple[int, int], CompetencyResult], markers: dict[int, datetime.date | None], summaries: _Summaries
) -> list[tuple[tuple[int, int], StoredStatus | None]]:
    """`_differences` in Python: the batch's stored statuses in one read, compared one by one."""
    ids = sorted(markers)
    stored = dict(_stored_rows(
        CompetencyStatus.objects.filter(among("organization_id", ids), organization_id__gte=ids[0], organization_id__lte=ids[-1])
        .order_by()
        .values_list(
            "organization_id", "competency_id", "pk", "evaluated_level", "effective_level", "override_id",
            Cast("details", TextField()),
        )
    ))
    found = []
    for key, evaluation in evaluations.items():
        old = stored.get(key)
        levels = _row(evaluation, {})[2:5]
        if not _has_a_level(evaluation):
            if old is not None and (old.evaluated_level, old.effective_level, old.override_id) != levels:
                found.append((key, old))
        elif old is None or (old.evaluated_level, old.effective_level, old.override_id) != levels or (
            [o.get("id") for o in old.details.get("options", []) if o.get("met")] != json.loads(summaries.met(evaluation))
        ):
            found.append((key, old))
    return found


def _differences_postgresql(
    evaluations: dict[tuple[int, int], CompetencyResult], markers: dict[int, datetime.date | None], summaries: _Summaries
) -> list[tuple[tuple[int, int], StoredStatus | None]]:
    """`_differences` in one statement: the evaluations with a level go as arrays (`unnest`), the batch's stored
    statuses are read by organization id, and one hash join of the two keeps the pairs that differ."""
    rows = [(*_row(e, {})[:5], summaries.met(e)) for e in evaluations.values() if _has_a_level(e)]
    columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in _Row._fields]
    ids = sorted(markers)
    status = CompetencyStatus._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH n AS (
                    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::jsonb[])
                        AS t(organization_id, competency_id, evaluated_level, effective_level, override_id, met)
                ), s AS (
                    SELECT id, organization_id, competency_id, evaluated_level, effective_level, override_id, details
                    FROM {status} WHERE organization_id = ANY(%s::bigint[]) AND organization_id BETWEEN %s AND %s
                )
                SELECT COALESCE(n.organization_id, s.organization_id), COALESCE(n.competency_id, s.competency_id),
                       s.id, s.evaluated_level, s.effective_level, s.override_id, s.details::text
                FROM n FULL JOIN s ON s.organization_id = n.organization_id AND s.competency_id = n.competency_id
                WHERE CASE WHEN n.organization_id IS NULL
                    THEN s.evaluated_level <> 'none' OR s.effective_level <> 'none' OR s.override_id IS NOT NULL
                    ELSE s.id IS NULL
                      OR (s.evaluated_level, s.effective_level, s.override_id)
                         IS DISTINCT FROM (n.evaluated_level, n.effective_level, n.override_id)
                      OR jsonb_path_query_array(s.details, '$.options[*] ? (@.met == true).id') <> n.met
                END""",
            [*map(_pg_array, columns), _pg_array(ids), ids[0], ids[-1]],
        )
        fetched = cursor.fetchall()
    new = [((row[0], row[1]), None) for row in fetched if row[2] is None]
    return new + list(_stored_rows(row for row in fetched if row[2] is not None))


# A history row as `_status_changes` makes it: `StatusChange`'s columns in this order.
_HISTORY_COLUMNS = (
    "organization_id", "competency_id", "day", "old_evaluated", "new_evaluated", "old_effective", "new_effective",
    "cause", "cause_params",
)


def _status_changes(
    changed: list[tuple[CompetencyResult, StoredStatus | None]],
    *,
    day: datetime.date,
    catalog: CatalogSnapshot,
    given: tuple[str, dict] | None,
) -> list[tuple]:
    if not changed:
        return []
    if given is not None:
        causes = {(e.organization_id, e.competency_id): given for e, _old in changed}
    else:
        causes = infer_causes(changed, day=day, catalog=catalog)
    rows = []
    for evaluation, old in changed:
        key = (evaluation.organization_id, evaluation.competency_id)
        cause, params = causes[key]
        rows.append((
            key[0],
            key[1],
            day,
            old.evaluated_level if old else Level.NONE,
            evaluation.evaluated_level,
            old.effective_level if old else Level.NONE,
            evaluation.effective_level,
            cause,
            params,
        ))
    return rows


def _write_portable(upserts: list[_Row], history: list[tuple]) -> None:
    # One upsert (INSERT … ON CONFLICT DO UPDATE) for new and changed statuses: Django's bulk_update
    # builds a CASE per row and costs more Python than the evaluation itself.
    CompetencyStatus.objects.bulk_create(
        [
            CompetencyStatus(
                organization_id=r.organization_id,
                competency_id=r.competency_id,
                evaluated_level=r.evaluated_level,
                effective_level=r.effective_level,
                override_id=r.override_id,
                details=r.details,
            )
            for r in upserts
        ],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["organization", "competency"],
        update_fields=["evaluated_level", "effective_level", "override", "details"],
    )
    StatusChange.objects.bulk_create([StatusChange(**dict(zip(_HISTORY_COLUMNS, row))) for row in history], batch_size=1000)


def _json_texts(values: Iterable[dict]) -> list[str]:
    """Each dict as JSON text, made once per distinct object: a batch's rows share a few summaries and causes."""
    texts: dict[int, str] = {}
    out = []
    for value in values:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = json.dumps(value)
        out.append(text)
    return out


def _write_postgresql(upserts: list[_Row], history: list[tuple]) -> None:
    """The same writes as `_write_portable`, one statement each whatever the batch's size: each column
    goes as one array (`unnest`), so a batch of 40,000 statuses costs no Python per row beyond its text."""
    status = CompetencyStatus._meta.db_table
    with connection.cursor() as cursor:
        if upserts:
            columns = list(zip(*upserts))
            columns[-1] = _json_texts(columns[-1])
            cursor.execute(
                f"""INSERT INTO {status}
                        (organization_id, competency_id, evaluated_level, effective_level, override_id, details)
                    SELECT o, c, e, f, v, d::jsonb
                    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[])
                         AS t(o, c, e, f, v, d)
                    ON CONFLICT (organization_id, competency_id) DO UPDATE SET
                        evaluated_level = EXCLUDED.evaluated_level,
                        effective_level = EXCLUDED.effective_level, override_id = EXCLUDED.override_id,
                        details = EXCLUDED.details""",
                list(map(_pg_array, columns)),
            )
        if history:
            columns = list(zip(*history))
            columns[-1] = _json_texts(columns[-1])
            cursor.execute(
                f"""INSERT INTO {StatusChange._meta.db_table} ({", ".join(_HISTORY_COLUMNS)}, recorded_at)
                    SELECT o, c, d, eb, ea, fb, fa, k, p::jsonb, %s
                    FROM unnest(%s::bigint[], %s::bigint[], %s::date[], %s::text[], %s::text[],
                                %s::text[], %s::text[], %s::text[], %s::text[]) AS t(o, c, d, eb, ea, fb, fa, k, p)""",
                [timezone.now(), *map(_pg_array, columns)],
            )


def _pg_array(values: Iterable) -> str:
    """A PostgreSQL array literal of ints, dates, None and strings (quoted, `\\` and `"` escaped).

    Each distinct value is rendered once: a batch repeats a few levels, causes and summaries.
    """
    rendered: dict = {}
    items = []
    for value in values:
        item = rendered.get(value)
        if item is None:
            if value is None:
                item = "NULL"
            elif isinstance(value, int | datetime.date):
                item = str(value)
            else:
                item = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            rendered[value] = item
        items.append(item)
    return "{" + ",".join(items) + "}"


# ---------------------------------------------------------------------------
# Re-evaluation after a change of the day


def reevaluate_on_commit(
    *,
    organization_ids: Iterable[int] | None,
    day: datetime.date,
    cause: str | None = None,
    cause_params: dict | None = None,
) -> None:
    """Re-evaluate organizations (None: every organization) as of `day` once the current transaction commits.

    "Changes that matter in the day re-evaluate the organizations involved
    at once, after the transaction commits; the nightly run is the safety
    net, not the only path." Announced on commit (`hooks.reevaluation_requested`),
    so nothing is queued for a change that rolls back; robust, so a broker
    hiccup never fails a change that is already committed (the nightly run
    catches up). The layer above re-evaluates and refreshes notifications.
    `cause_params` travel through the broker: JSON only (ids, ISO days, strings).

    As it commits, the organizations' marker goes back to the day before
    `day` where it was later (`markers_moved_back`): their stored statuses
    no longer say how things stand from `day` on, so the pages evaluate
    live until the re-evaluation has stored the change. Their forecast is marked pending in the
    change's own transaction (`forecast_store.forecast_pending_mark`): the next forecast computes it whole, even
    if the re-evaluation queued here is lost.
    """
    ids = None if organization_ids is None else sorted({int(i) for i in organization_ids})
    if ids == []:
        return
    params = dict(cause_params or {})
    forecast_pending_mark(organization_ids=ids, day=day)  # in this transaction: never lost once it commits

    def announce():
        markers_moved_back(organization_ids=ids, day=day)
        hooks.reevaluation_requested.send(organization_ids=ids, day=day, cause=cause, cause_params=params)

    transaction.on_commit(announce, robust=True)


def markers_moved_back(*, organization_ids: list[int] | None, day: datetime.date) -> int:
    """A change from `day` on: the organizations (None: every one) evaluated as of `day` or later are marked as
    evaluated as of the day before, so that what is stored is not taken for current (one UPDATE)."""
    organizations = Organization.objects.filter(statuses_as_of__gte=day)
    if organization_ids is not None:
        organizations = organizations.filter(pk__in=organization_ids)
    return organizations.update(statuses_as_of=day - ONE_DAY)


# What a catalog load changes that can move a level (plans and benefits cannot).
EVALUATED_CATALOG_PARTS = ("credentials", "metrics", "competencies", "options", "requirements")


def catalog_changed(counts: dict[str, dict[str, int]]) -> bool:
    """Whether a catalog load (its counts per kind of row) changed anything evaluation reads."""
    return any(
        counts.get(part, {}).get(what, 0)
        for part in EVALUATED_CATALOG_PARTS
        for what in ("created", "updated", "deleted")
    )


def reevaluate_everyone_on_commit(*, day: datetime.date) -> None:
    """A catalog change can move any organization's level: re-evaluate every one as of `day` once the
    transaction commits, each change recorded as caused by the catalog (not guessed by the next night)."""
    reevaluate_on_commit(
        organization_ids=None,
        day=day,
        cause=StatusChange.Cause.CATALOG_CHANGED,
        cause_params=cause_params_of("catalog", day=day),
    )
