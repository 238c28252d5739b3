"""`export_achievements [--mpn-id ID] [--date D] [--format json|csv]`: scripts read it, its fields never change.

Prints, as of day D (default: the day of the latest stored evaluation), each
organization × competency with a non-`none` evaluated, effective or
displayed level. Statuses stored as of D are read; organizations without a
status as of D are evaluated live for D, set-based, in batches.
"""

import csv
import datetime
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max, Q

from competencies.engine import batched, evaluate
from competencies.models import CompetencyStatus, ForecastChange, Level, Organization
from competencies.progress import Steps, shown, took
from competencies.snapshot import catalog_snapshot
from memberships.at_risk import at_risk_flags
from memberships.displayed import displayed_levels

FIELDS = [
    "mpn_id", "competency", "evaluated_level", "effective_level", "override_expires_on", "at_risk", "displayed_level",
    "next_change_on", "next_change_level", "next_change_cause",
]


def next_changes(*, organization_ids: list[int], day: datetime.date) -> dict[tuple[int, int], tuple]:
    """The first stored forecast change after `day` per organization × competency: `(day, new effective level,
    cause code)` (`competencies.forecast`; one query)."""
    found: dict[tuple[int, int], tuple] = {}
    for org_id, competency_id, on, level, cause in (
        ForecastChange.objects.filter(organization_id__in=organization_ids, day__gt=day)
        .order_by("day", "id").values_list("organization_id", "competency_id", "day", "new_effective", "cause")
    ):
        found.setdefault((org_id, competency_id), (on, level, cause))
    return found


def membership_columns(*, organization_ids: list[int], day: datetime.date) -> dict[tuple[int, int], tuple[str, bool]]:
    """`(displayed_level, at_risk)` per organization × competency on `day`; pairs left out are `none`, not at risk.

    The one place the export learns about memberships. `displayed_level` is
    the membership rule (`memberships.displayed.displayed_levels`, set-based:
    two queries per 5,000 organizations); `at_risk` is docs/design.md's
    "achievement at risk" (`memberships.at_risk.at_risk_flags`).
    """
    displayed = displayed_levels(organization_ids=organization_ids, day=day)
    at_risk = at_risk_flags(organization_ids=organization_ids, day=day)
    return {key: (displayed.get(key, "none"), key in at_risk) for key in set(displayed) | at_risk}


def achievements_as_of(
    *, day: datetime.date, organization_ids: list[int] | None = None, on_batch: Callable[[int, int], None] | None = None
) -> list[dict]:
    """The export's rows as of `day`, for the given organizations (all when None), by MPN ID then catalog order."""
    catalog = catalog_snapshot()
    orgs = Organization.objects.all() if organization_ids is None else Organization.objects.filter(pk__in=organization_ids)
    mpn_ids = dict(orgs.values_list("pk", "mpn_id"))
    slugs = {c.id: c.slug for c in catalog.competencies}
    position = {c.id: i for i, c in enumerate(catalog.competencies)}

    # Evaluated as of the day: their stored statuses say it (a missing one is level none); the others live.
    stored_orgs = set(orgs.filter(statuses_as_of=day).values_list("pk", flat=True))
    levels: dict[tuple[int, int], tuple[str, str, datetime.date | None]] = {}
    for org_id, competency_id, evaluated, effective, expires_on in (
        CompetencyStatus.objects.filter(organization__statuses_as_of=day, organization_id__in=orgs.values("pk"))
        .filter(~Q(evaluated_level=Level.NONE) | ~Q(effective_level=Level.NONE))
        .values_list("organization_id", "competency_id", "evaluated_level", "effective_level", "override__expires_on")
        .iterator()
    ):
        levels[(org_id, competency_id)] = (evaluated, effective, expires_on)
    live = [pk for pk in mpn_ids if pk not in stored_orgs]
    batches = list(batched(live, settings.EVALUATION_BATCH_SIZE))
    for done, batch in enumerate(batches, start=1):
        if on_batch is not None:
            on_batch(done, len(batches))  # a command's progress: organizations evaluated live, by batch
        for key, result in evaluate(organization_ids=batch, day=day, catalog=catalog).items():
            if (result.evaluated_level, result.effective_level) != (Level.NONE, Level.NONE):
                expires_on = result.override.expires_on if result.override else None
                levels[key] = (result.evaluated_level, result.effective_level, expires_on)

    membership = membership_columns(organization_ids=list(mpn_ids), day=day)
    coming = next_changes(organization_ids=list(mpn_ids), day=day)
    rows = []
    for key in set(levels) | set(membership):
        org_id, competency_id = key
        if org_id not in mpn_ids or competency_id not in slugs:
            continue
        evaluated, effective, expires_on = levels.get(key, (Level.NONE, Level.NONE, None))
        displayed, at_risk = membership.get(key, (Level.NONE, False))
        if (evaluated, effective, displayed) == (Level.NONE, Level.NONE, Level.NONE):
            continue
        rows.append(
            {
                "mpn_id": mpn_ids[org_id],
                "competency": slugs[competency_id],
                "evaluated_level": str(evaluated),
                "effective_level": str(effective),
                "override_expires_on": expires_on.isoformat() if expires_on else None,
                "at_risk": bool(at_risk),
                "displayed_level": str(displayed),
                **_next_change(coming.get(key)),
                "_order": (mpn_ids[org_id], position[competency_id]),
            }
        )
    rows.sort(key=lambda r: r.pop("_order"))
    return rows


def _next_change(change: tuple | None) -> dict:
    on, level, cause = change or (None, None, None)
    return {
        "next_change_on": on.isoformat() if on else None,
        "next_change_level": str(level) if level else None,
        "next_change_cause": cause,
    }


def _csv_cells(row: dict) -> Iterator[str]:
    for name in FIELDS:
        value = row[name]
        yield "" if value is None else ("true" if value is True else "false" if value is False else str(value))


class Command(BaseCommand):
    help = "Print each organization × competency with a non-none evaluated, effective or displayed level as of a day."

    def add_arguments(self, parser):
        parser.add_argument("--mpn-id", help="only this organization")
        parser.add_argument("--date", help="as of this day (YYYY-MM-DD); default: the day of the latest evaluation")
        parser.add_argument("--format", choices=["json", "csv"], default="json", help="output format (default json)")

    def handle(self, *args, mpn_id=None, date=None, format="json", **options):
        if date:
            try:
                day = datetime.date.fromisoformat(date)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, not {date!r}") from exc
        else:
            day = Organization.objects.aggregate(day=Max("statuses_as_of"))["day"]
            if day is None:
                raise CommandError("no evaluation is stored yet: pass --date YYYY-MM-DD")
        organization_ids = None
        if mpn_id is not None:
            organization_ids = list(Organization.objects.filter(mpn_id=mpn_id).values_list("pk", flat=True))
            if not organization_ids:
                raise CommandError(f"no organization with MPN ID {mpn_id}")
        started = time.perf_counter()
        steps = Steps(stream=self.stderr._out, verbosity=options["verbosity"], what="batches")
        try:
            rows = achievements_as_of(day=day, organization_ids=organization_ids, on_batch=steps)
        finally:
            steps.close()
        self._write(rows, format)
        if shown(self.stderr._out, options["verbosity"]):  # stdout is the data: the summary goes beside it
            self.stderr.write(f"Exported {len(rows)} rows as of {day} {took(started)}.")

    def _write(self, rows: Iterable[dict], fmt: str) -> None:
        if fmt == "json":
            self.stdout.write(json.dumps(list(rows), indent=2))
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow(list(_csv_cells(row)))
        self.stdout.write(buffer.getvalue(), ending="")
