"""The organizations whose stored statuses still hold on the next day, carried there without evaluating them again.

Rule (docs/rules.md, "Evaluation"): an organization's evaluation as of a day equals its evaluation as of
the day before when none of its facts changed in between. That holds when no change of the day touched
it (its forecast is not marked pending, `ForecastPending`, written in the change's own transaction) and
none of its facts changes on the day itself (`forecast_store.facts_changing`: an association starting or
ending; a credential of one of its people earned, expiring or no longer accepted; a metric value entering
or leaving a window; an override starting, ending or revoked). Its stored statuses are then carried to the
day by moving its marker: nothing is evaluated, nothing written. Only an organization evaluated as of the
day before is carried; a marker further back (a night missed, or moved back by a change of the day as it
committed) is evaluated in full, so a change whose re-evaluation was lost is still evaluated, and so is one
already evaluated as of the day (evaluating it again writes nothing unless something changed).
"""

from __future__ import annotations

import datetime

from .dates import ONE_DAY
from .facts import among
from .forecast_store import facts_changing
from .models import ForecastPending
from .specs import CatalogSnapshot


def carried_forward(markers: dict[int, datetime.date | None], day: datetime.date, catalog: CatalogSnapshot) -> set[int]:
    """Of these organizations (id -> the day their statuses are stored as of), those whose statuses hold on `day`."""
    candidates = [pk for pk, marker in markers.items() if marker == day - ONE_DAY]
    if not candidates:
        return set()
    pending = set(
        ForecastPending.objects.filter(among("organization_id", candidates)).values_list("organization_id", flat=True)
    )
    quiet = [pk for pk in candidates if pk not in pending]
    if not quiet:
        return set()
    return set(quiet) - facts_changing(quiet, day - ONE_DAY, day, catalog)
