"""The words of a status change's cause, stored in English and said again in the reader's language.

`StatusChange.cause_detail` (and the at-risk notification's items) keep
the cause in English, with ISO dates, as the export and the admin search
show it: "Jane Doe associated with another organization on 2026-11-20".
Every such text is made here from one of the templates below, so a page or
an email can take it apart again and say it in the active language, with
the day and the figures formatted for that language. A text that is not
one of ours (an older row, a cause given by hand) is shown as stored.
"""

import datetime
import re
from decimal import Decimal

from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_noop

from .formatting import format_amount

from .models import Level

TEMPLATES = {
    "moved": gettext_noop("%(name)s associated with another organization on %(day)s"),
    "left": gettext_noop("%(name)s left on %(day)s"),
    "associated": gettext_noop("%(name)s associated on %(day)s"),
    "retired": gettext_noop("%(code)s no longer accepted from %(day)s (held by %(name)s)"),
    "expired": gettext_noop("%(name)s's %(code)s expired on %(day)s"),
    "earned": gettext_noop("%(name)s earned %(code)s on %(day)s"),
    "metric_short": gettext_noop("%(metric)s in the %(days)s-day window: %(have)s, short of %(need)s"),
    "metric_reached": gettext_noop("%(metric)s in the %(days)s-day window: %(have)s, reached %(need)s"),
    "override_applied": gettext_noop("%(level)s override from %(start)s until %(end)s"),
    "override_until": gettext_noop("%(level)s override until %(end)s"),
    "override_extended": gettext_noop("%(level)s override now until %(end)s"),
    "override_revoked": gettext_noop("%(level)s override revoked on %(day)s"),
    "override_expired": gettext_noop("%(level)s override expired on %(day)s"),
    "override_gone": gettext_noop("the override holding the level up is gone"),
    "catalog": gettext_noop("the competency catalog changed on %(day)s"),
    "unexplained": gettext_noop("no association, credential or metric change found since %(day)s"),
}

_DAY = r"\d{4}-\d{2}-\d{2}"
_LEVELS = {str(level.label): level.value for level in Level}  # the English labels, as stored
_AMOUNT = re.compile(r"(?:(?P<currency>USD) )?(?P<number>\d[\d,]*(?:\.\d+)?)(?: (?P<unit>.+))?")
_PLACEHOLDERS = {
    "name": r".+?",
    "code": r"\S+",
    "metric": r".+?",
    "days": r"\d+",
    "have": r".+?",
    "need": r".+",
    "day": _DAY,
    "start": _DAY,
    "end": _DAY,
    "level": "|".join(map(re.escape, ["Silver", "Gold", "None"])),
}


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"%\((\w+)\)s", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_PLACEHOLDERS[part]})" for i, part in enumerate(parts)
    )
    return re.compile(regex)


_PATTERNS = [(template, _pattern(template)) for template in TEMPLATES.values()]


def _english(name: str, value) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if name == "level":
        return str(Level(value).label)
    return str(value)


def cause_text(kind: str, **values) -> str:
    """The English words of a cause, as stored: `cause_text("left", name="Jane Doe", day=D)`.

    Dates become ISO days, levels their English labels; figures are given
    already formatted (`amount_words`).
    """
    with translation.override("en"):
        return TEMPLATES[kind] % {name: _english(name, value) for name, value in values.items()}


def amount_words(value, unit: str) -> str:
    """A figure with its unit, in English, for a stored cause ("USD 6,000")."""
    with translation.override("en"):
        return format_amount(value, unit)


def _localized(name: str, value: str) -> str:
    if name in ("day", "start", "end"):
        return date_format(datetime.date.fromisoformat(value))
    if name == "level":
        return str(Level(_LEVELS[value]).label)
    if name in ("have", "need"):
        match = _AMOUNT.fullmatch(value)
        if match is None:
            return value
        number = Decimal(match["number"].replace(",", ""))
        return format_amount(number, match["currency"] or match["unit"] or "")
    return value


def cause_words(detail: str) -> str:
    """A stored cause in the active language; the text as stored when it is not one of the templates."""
    if not detail:
        return ""
    for template, pattern in _PATTERNS:
        match = pattern.fullmatch(detail)
        if match is not None:
            try:
                values = {name: _localized(name, value) for name, value in match.groupdict().items()}
            except (KeyError, ValueError, ArithmeticError):
                return detail
            return gettext(template) % values
    return detail
