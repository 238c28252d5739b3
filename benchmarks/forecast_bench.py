"""The forecast figure: the night's forecast step against the rest of the night, for every organization.

The night with the forecast must take at most twice the night without: the forecast adds at most once
what the rest of the night takes. Both are measured in this process, range by range as
`partnercenter.night` runs them: evaluate, notify and remind (the night without the forecast; the
overrides' expiry is left out, it writes the data set), then the forecast step (`forecast_range`). Two
nights, the second the day after the first:

- whole: no forecast stored and every organization marked, as a catalog change or `run_nightly --whole`
  leaves them: every organization evaluated, and its year of facts read, walked in memory, the changes
  stored;
- steady: the forecast stored the night before, nothing changed since: only the organizations with a fact
  changing on the day (the evaluation) or on the day the horizon gained (the forecast) are computed, the
  others carried on.

The first day is the night after the last stored statuses, after a `VACUUM ANALYZE` of the status tables,
as the nightly figure does (a first evaluation, which writes every status, is run unmeasured the day
before when none is stored).
"""

from __future__ import annotations

import datetime
import time

from django.db.models import Max

from competencies.forecast_store import forecast_pending_mark
from competencies.models import ForecastChange, ForecastPending, Organization

from .evaluation_bench import vacuum_statuses

NIGHT_STEPS = ("evaluate", "notify", "remind")


def _steps(steps, ranges, day: datetime.date) -> float:
    from partnercenter import night

    started = time.perf_counter()
    for first_id, last_id in ranges:
        for step in steps:
            night.STEPS[step](first_id=first_id, last_id=last_id, day=day)
    return time.perf_counter() - started


def forget_forecasts() -> None:
    """No forecast stored and none pending: what a first forecast starts from."""
    ForecastChange.objects.all().delete()
    ForecastPending.objects.all().delete()
    Organization.objects.update(forecast_as_of=None)


def run(*, day: datetime.date, out=print) -> dict:
    """The figures for the night of `day` (or, when statuses are stored as of `day` or later, the next one)
    and the night after it."""
    from partnercenter import night

    ranges = list(night.organization_ranges())
    latest = Organization.objects.aggregate(latest=Max("statuses_as_of"))["latest"]
    if latest is None:
        _steps(("evaluate",), ranges, day)  # the first evaluation writes every status: not a night's work
        latest = day
    day = max(day, latest + datetime.timedelta(days=1))
    vacuum_statuses()
    forget_forecasts()
    forecast_pending_mark(organization_ids=None, day=day)
    out(f"forecast step beside the nights of {day} and the day after (evaluate, notify, remind by {len(ranges)} ranges)")
    figures = {"day": day.isoformat()}
    for label, on in (("whole", day), ("steady", day + datetime.timedelta(days=1))):
        without = _steps(NIGHT_STEPS, ranges, on)
        had = Organization.objects.filter(forecast_as_of__isnull=False).exists()
        forecast = _steps(("forecast",), ranges, on)
        stored = ForecastChange.objects.count()
        ratio = forecast / without
        out(f"  {label:<6} ({'no forecast stored' if not had else 'forecast stored the night before'})")
        out(f"    night without the forecast {without:8.2f} s")
        out(f"    forecast step              {forecast:8.2f} s  ({stored:,} changes stored)")
        out(f"    the forecast adds {ratio:.2f}x the night: the night with it is {1 + ratio:.2f}x the night without "
            f"(target: at most 2x)")
        figures[label] = {"without": without, "forecast": forecast, "changes": stored, "ratio": ratio}
    return figures
