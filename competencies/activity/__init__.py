"""The bulk, all-or-nothing importer of partner activity: JSON Lines, one record a line.

Three passes over a file, whatever its size:

1. **parse** every line and check its shape (`records`: a JSON object, a known
   `type`, the required fields, dates, numbers, levels, emails, MPN IDs);
2. **replay**: load what the records refer to with one query per kind,
   joined to the file's keys staged with COPY (`batch`, `staging`), then
   apply the records in file order over that in-memory state (`replay`): an
   email, code or MPN ID neither stored nor created by an earlier line is
   unknown on its own line, and the association rule of docs/design.md
   ("associating with organization B on day D ends the association with A
   on day D") holds exactly as `association_start` / `association_end`
   state it;
3. **write** (`writing`), only if no line was bad: everything in one
   transaction, COPY on PostgreSQL, a few statements per table; a failure
   half-way (the database changed meanwhile) rolls all of it back.

One bad line and nothing is written; every bad line is named with its reason.

Importing the same file twice adds nothing the second time: every record is
keyed, and a record whose effect is already there is a no-op —
employee by email (case-insensitive), organization by MPN ID (same values:
nothing written), earned credential by employee × code × `earned_on`,
association by employee × organization × start (and associating with the
organization the employee is already with changes nothing), disassociation by
an association of the employee already ending that day, metric value by
organization × metric × `period_end` (a second value replaces the first),
override by organization × competency × `starts_on`. The layers above add
their own record types with `records.register_record_type` (memberships:
`membership`, by organization × level × start).

The importer does not evaluate: `ImportResult.touched_organization_ids` names
the organizations whose evaluation may have changed, for the caller to
re-evaluate once the transaction commits.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from ..forecast_store import forecast_pending_mark
from . import writing
from .batch import Batch
from .records import REQUIRED, Parser, Record, _Bad
from .replay import Replay

logger = logging.getLogger(__name__)


class ImportFailed(Exception):
    """Bad records, nothing written: `errors` lists `(line number, reason)` in line order."""

    def __init__(self, errors: list[tuple[int, str]], source: str = "-"):
        self.errors = sorted(errors)
        self.source = source
        super().__init__(f"{len(self.errors)} bad line(s) in {source}")

    def lines(self) -> list[str]:
        """`PATH:LINE: reason`, one per bad line."""
        return [f"{self.source}:{line}: {reason}" for line, reason in self.errors]


@dataclass
class ImportResult:
    """What an import did, per record type; `touched_organization_ids` are the ones to re-evaluate."""

    records: int = 0
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unchanged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    touched_organization_ids: set[int] = field(default_factory=set)

    def summary(self) -> str:
        kinds = [kind for kind in REQUIRED if kind in self.created or kind in self.updated or kind in self.unchanged]
        parts = [
            f"{kind}: {self.created.get(kind, 0)} new, {self.updated.get(kind, 0)} updated, "
            f"{self.unchanged.get(kind, 0)} unchanged"
            for kind in kinds
        ]
        return f"{self.records} records imported ({'; '.join(parts) or 'nothing'})"


def import_activity(*, lines: Iterable[str], source: str = "-") -> ImportResult:
    """Import JSON Lines activity records in file order, all or nothing.

    Every line is checked before anything is written; if any is bad,
    `ImportFailed` names every bad line (`(line, reason)`) and the database
    is left as it was. Otherwise everything is written in one transaction.
    Blank lines are skipped (they keep their numbers for the others).
    """
    started = time.perf_counter()
    records, numbers, errors = _parse(lines)
    parsed = time.perf_counter()
    batch = Batch()
    batch.load(records)
    loaded = time.perf_counter()
    replay = Replay(batch)
    for number, record in zip(numbers, records):
        try:
            replay.apply(record)
        except _Bad as exc:
            errors.append((number, str(exc)))
    replayed = time.perf_counter()
    logger.debug(
        "import_activity %s: %d records, %d bad lines; parse %.1fs, load %.1fs, replay %.1fs",
        source, len(records), len(errors), parsed - started, loaded - parsed, replayed - loaded,
    )
    if errors:
        raise ImportFailed(errors, source)
    replay.settle()
    with transaction.atomic():
        touched = writing.write(batch)
        # In the import's own transaction: the forecast of what it changed is computed whole next time,
        # even if the caller dies before it queues the re-evaluation.
        forecast_pending_mark(organization_ids=sorted(touched), day=timezone.localdate())
    logger.debug("import_activity %s: written in %.1fs", source, time.perf_counter() - replayed)
    return ImportResult(
        records=len(records),
        created=replay.created,
        updated=replay.updated,
        unchanged=replay.unchanged,
        touched_organization_ids=touched,
    )


def _parse(lines: Iterable[str]) -> tuple[list[Record], array, list[tuple[int, str]]]:
    """The records of the good lines, their line numbers, and the bad lines' `(number, reason)`."""
    parser = Parser()
    records: list[Record] = []
    numbers = array("L")  # the line number of each record, without an int object per record
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw or raw.isspace():
            continue
        try:
            records.append(parser.record(raw))
            numbers.append(number)
        except _Bad as exc:
            errors.append((number, str(exc)))
    return records, numbers, errors
