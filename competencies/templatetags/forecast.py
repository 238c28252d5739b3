"""`{% load forecast %}`: the coming changes of level, and the chart of a competency's level over two years.

Inclusion tags, so a page adds the forecast with one line and its view is
left as it is: they read through the selectors of `competencies.forecast`
(one or two queries each) and render templates/forecast/.
"""

import datetime

from django import template
from django.utils import timezone

from competencies.forecast import HORIZON_DAYS, forecast_words, level_steps, upcoming_changes
from competencies.models import LEVEL_RANK, Level

register = template.Library()

# The chart's drawing area in SVG units (it scales to its box): a column of level names, then the days.
WIDTH, HEIGHT, LEFT, RIGHT, TOP = 720, 120, 70, 10, 14
ROW = 34  # between two levels
AXIS = TOP + 2 * ROW + 18  # the baseline of the day labels


def _today(context) -> datetime.date:
    return context.get("today") or timezone.localdate()


@register.inclusion_tag("forecast/_next.html", takes_context=True)
def forecast_next(context, organization, limit=5):
    """`{% forecast_next organization %}`: the next changes of level the forecast holds (dashboard)."""
    today = _today(context)
    changes = upcoming_changes(organization_id=organization.pk, day=today, limit=limit) if organization else []
    return {"changes": changes, "today": today}


def _y(level: str) -> int:
    return TOP + (2 - LEVEL_RANK[level]) * ROW


def chart(steps: list[tuple[datetime.date, str, bool]], today: datetime.date, days: int = HORIZON_DAYS) -> dict:
    """The SVG geometry of a step chart of `steps` from `today - days` to `today + days`: a solid path for
    the recorded past, a dashed one for the forecast, a mark for today."""
    start, end = today - datetime.timedelta(days=days), today + datetime.timedelta(days=days)
    span = (end - start).days

    def x(day: datetime.date) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (min(max(day, start), end) - start).days / span, 1)

    past, future = [], []
    bounds = [*(s[0] for s in steps[1:]), end]
    for (on, level, _forecast), until in zip(steps, bounds, strict=True):
        for path, a, b in ((past, on, min(until, today)), (future, max(on, today), until)):
            if a < b:
                y = _y(level)
                if path:
                    path.append(f"V {y}")
                else:
                    path.append(f"M {x(a)} {y}")
                path.append(f"H {x(b)}")
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "axis": AXIS,
        "past": " ".join(past), "future": " ".join(future), "today_x": x(today), "middle": x(today),
        "rows": [{"level": level, "y": _y(level)} for level in (Level.GOLD, Level.SILVER, Level.NONE)],
        "start": start, "end": end, "bottom": TOP + 2 * ROW + 4,
    }


@register.inclusion_tag("forecast/_timeline.html", takes_context=True)
def forecast_timeline(context, organization, competency):
    """`{% forecast_timeline organization competency %}`: the coming year's changes beside a chart of the
    level over the past and the coming year (competency page)."""
    today = _today(context)
    changes = upcoming_changes(organization_id=organization.pk, day=today, competency_id=competency.pk)
    steps = level_steps(organization_id=organization.pk, competency_id=competency.pk, day=today, coming=changes)
    return {"changes": changes, "chart": chart(steps, today), "today": today, "competency": competency}


@register.filter(name="forecast_words")
def forecast_words_filter(params):
    """`{{ change.cause_params|forecast_words }}`: the words of a forecast change's cause in the active language."""
    return forecast_words(params)
