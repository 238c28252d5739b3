"""Stored statuses and their history: what the engine computed, kept, and every change of level recorded.

The engine (`engine.py`) computes; `statuses_refresh` stores what it
computed (`CompetencyStatus`) and appends a `StatusChange` with its day and
cause whenever a level moves. A change made in the day asks for the
re-evaluation of the organizations it touched once it commits
(`reevaluate_on_commit`); the layer above does the work.
"""

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from . import hooks
from .batch import collector_paused
from .causes import cause_params_of
from .engine import batched, evaluate
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
    updated: int = 0  # statuses whose level, override or progress changed
    moved_on: int = 0  # statuses whose only change is the day they are as of
    unchanged: int = 0
    skipped: int = 0  # statuses already stored as of a later day: left as they are
    changes: int = 0  # history rows written


def statuses_refresh(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    cause: str | None = None,
    cause_params: dict | None = None,
) -> RefreshResult:
    """Re-evaluate organizations as of `day`, store their status, record every change of level.

    Every change of evaluated or effective level is recorded with its day
    and cause; history is never rewritten (docs/design.md). Per batch of
    `settings.EVALUATION_BATCH_SIZE` organizations, in one transaction:
    evaluate set-based, upsert one `CompetencyStatus` per organization ×
    competency (new and changed ones in one INSERT … ON CONFLICT UPDATE,
    those whose only change is the day in one UPDATE, unchanged ones
    untouched) and append a `StatusChange` whenever the evaluated or
    effective level differs from the stored one. The cause is `cause` (with
    `cause_params`, see `causes.py`) when given, else inferred by comparing
    with the stored state (`status_causes.infer_causes`). A first evaluation
    at level none writes no history.

    Idempotent: a second run for the same day writes nothing. A status
    already stored as of a LATER day is left as it is: an older evaluation
    (a re-evaluation queued for a back-dated change, `run_nightly --date`
    for a past day) never replaces a newer one.

    Cost (docs/performance.md): on PostgreSQL each kind of write is one
    statement per batch whatever its size (the columns go as arrays), and
    most of a first run is PostgreSQL inserting rows and checking their
    foreign keys; a later day, rewriting every row's `as_of`.
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
                _refresh_batch(batch, day=day, catalog=catalog, given=given, result=result)
    return result


class _Row(NamedTuple):
    """A status to write: `CompetencyStatus`'s columns."""

    organization_id: int
    competency_id: int
    evaluated_level: str
    effective_level: str
    override_id: int | None
    details: dict  # the summary; rows sharing one share the object, so its JSON is made once


@dataclass
class _Writes:
    """What one batch writes: statuses to upsert, statuses whose day moves on, changes of level."""

    upserts: list[_Row] = field(default_factory=list)
    created: int = 0
    moved_on: list[int] = field(default_factory=list)  # status ids
    changed: list[tuple[CompetencyResult, StoredStatus | None]] = field(default_factory=list)


def _refresh_batch(
    batch: list[int], *, day: datetime.date, catalog: CatalogSnapshot, given: tuple[str, dict] | None, result: RefreshResult
) -> None:
    # Lock the batch's organizations (in id order, so batches never deadlock): a nightly batch and an
    # on-commit re-evaluation of the same organization queue instead of both inserting its statuses.
    locked = list(
        Organization.objects.select_for_update().filter(pk__in=batch).order_by("pk").values_list("pk", flat=True)
    )
    evaluations = evaluate(organization_ids=locked, day=day, catalog=catalog)
    stored = _stored_statuses(locked, batch)
    result.organizations += len(locked)
    writes = _compare(evaluations, stored, day=day, result=result)
    history = _status_changes(writes.changed, day=day, catalog=catalog, given=given)
    if connection.vendor == "postgresql":
        _write_postgresql(writes.upserts, writes.moved_on, history, day=day)
    else:
        _write_portable(writes.upserts, writes.moved_on, history, day=day)
    result.created += writes.created
    result.updated += len(writes.upserts) - writes.created
    result.moved_on += len(writes.moved_on)
    result.changes += len(history)


def _stored_statuses(locked: list[int], batch: list[int]) -> dict[tuple[int, int], StoredStatus]:
    """The batch's stored statuses by (organization id, competency id): one read."""
    # The stored details as text, parsed once per distinct text: most statuses share a handful.
    parsed: dict[str, dict] = {}
    stored = {}
    for pk, org_id, competency_id, as_of, evaluated, effective, override_id, text in (
        # The range says the same as the list, in words the planner reads even before the table has
        # statistics (the first nightly run fills it): an index scan, not a scan of every status.
        CompetencyStatus.objects.filter(
            organization_id__in=locked, organization_id__gte=batch[0], organization_id__lte=batch[-1]
        )
        .order_by()
        .values_list(
            "pk",
            "organization_id",
            "competency_id",
            "as_of",
            "evaluated_level",
            "effective_level",
            "override_id",
            Cast("details", TextField()),
        )
    ):
        details = parsed.get(text)
        if details is None:
            details = parsed[text] = json.loads(text)
        stored[(org_id, competency_id)] = StoredStatus(pk, as_of, evaluated, effective, override_id, details)
    return stored


def _compare(
    evaluations: dict[tuple[int, int], CompetencyResult],
    stored: dict[tuple[int, int], StoredStatus],
    *,
    day: datetime.date,
    result: RefreshResult,
) -> _Writes:
    """What differs between the evaluations and the stored statuses, as writes."""
    writes = _Writes()
    # Results without details share their options between organizations with the same figures
    # (`evaluation.py`): the summary, its JSON and whether it equals a stored one are worked out once.
    summaries: dict[int, dict] = {}
    same: dict[tuple[int, int], bool] = {}
    for key, evaluation in evaluations.items():
        options_id = id(evaluation.options)
        summary = summaries.get(options_id)
        if summary is None:
            summary = summaries[options_id] = evaluation.summary()
        override_id = evaluation.override.id if evaluation.override else None
        levels = (evaluation.evaluated_level, evaluation.effective_level)
        old = stored.get(key)
        if old is None:
            writes.upserts.append(_Row(*key, *levels, override_id, summary))
            writes.created += 1
            # 100,000 organizations × 40 competencies at none would flood the history: only levels are news.
            if levels != (Level.NONE, Level.NONE):
                writes.changed.append((evaluation, None))
            continue
        if old.as_of > day:
            result.skipped += 1
            continue
        if (old.evaluated_level, old.effective_level) != levels:
            writes.changed.append((evaluation, old))
        pair = (id(old.details), options_id)
        details_same = same.get(pair)
        if details_same is None:
            details_same = same[pair] = old.details == summary
        if (old.evaluated_level, old.effective_level, old.override_id) != (*levels, override_id) or not details_same:
            writes.upserts.append(_Row(*key, *levels, override_id, summary))
        elif old.as_of != day:
            writes.moved_on.append(old.pk)
        else:
            result.unchanged += 1
    return writes


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


def _write_portable(upserts: list[_Row], moved_on: list[int], history: list[tuple], *, day: datetime.date) -> None:
    # One upsert (INSERT … ON CONFLICT DO UPDATE) for new and changed statuses: Django's bulk_update
    # builds a CASE per row and costs more Python than the evaluation itself.
    CompetencyStatus.objects.bulk_create(
        [
            CompetencyStatus(
                organization_id=r.organization_id,
                competency_id=r.competency_id,
                as_of=day,
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
        update_fields=["as_of", "evaluated_level", "effective_level", "override", "details"],
    )
    for chunk in batched(moved_on, 5000):  # one UPDATE per chunk: SQLite caps the parameters of a query
        CompetencyStatus.objects.filter(pk__in=chunk).update(as_of=day)
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


def _write_postgresql(upserts: list[_Row], moved_on: list[int], history: list[tuple], *, day: datetime.date) -> None:
    """The same writes as `_write_portable`, one statement each whatever the batch's size: each column
    goes as one array (`unnest`), so a batch of 40,000 statuses costs no Python per row beyond its text."""
    status = CompetencyStatus._meta.db_table
    with connection.cursor() as cursor:
        if upserts:
            columns = list(zip(*upserts))
            columns[-1] = _json_texts(columns[-1])
            cursor.execute(
                f"""INSERT INTO {status}
                        (organization_id, competency_id, as_of, evaluated_level, effective_level, override_id, details)
                    SELECT o, c, %s, e, f, v, d::jsonb
                    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[])
                         AS t(o, c, e, f, v, d)
                    ON CONFLICT (organization_id, competency_id) DO UPDATE SET
                        as_of = EXCLUDED.as_of, evaluated_level = EXCLUDED.evaluated_level,
                        effective_level = EXCLUDED.effective_level, override_id = EXCLUDED.override_id,
                        details = EXCLUDED.details""",
                [day, *map(_pg_array, columns)],
            )
        if moved_on:
            cursor.execute(f"UPDATE {status} SET as_of = %s WHERE id = ANY(%s::bigint[])", [day, _pg_array(moved_on)])
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
    """
    ids = None if organization_ids is None else sorted({int(i) for i in organization_ids})
    if ids == []:
        return
    params = dict(cause_params or {})
    transaction.on_commit(
        lambda: hooks.reevaluation_requested.send(organization_ids=ids, day=day, cause=cause, cause_params=params),
        robust=True,
    )


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
