"""The cause of a status change: stored as data, said in the reader's language when it is shown.

A `StatusChange` keeps its cause as a code (`cause`) and parameters
(`cause_params`): the kind of words (a key of TEMPLATES), ISO days, level
codes, credential codes, amounts as decimal strings with their unit, ids.
`cause_words(params)` makes the sentence at display time (the competency
page's history, the admin list, the at-risk banner and emails), in the
active language, with the days and figures formatted for it.

People are stored as `employee_id` AND `name`, the name as it was that day:
the history keeps saying who left even after the employee is deleted or
renamed, and the id still finds the person while they exist. Catalog names
(a metric's) are stored as the catalog gave them, like every catalog name.

A sentence that no template describes (a history row older than the
parameters that could not be read back) is kept as `{"kind": "text",
"text": …}` and shown as stored.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation

from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop

from .formatting import format_amount
from .localized import localized
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
TEXT = "text"  # the kind of a sentence kept as stored

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_DAYS = ("day", "start", "end", "period")
_AMOUNTS = ("have", "need")


def _decimal_text(value) -> str:
    """An amount as an exact decimal string, the same whatever the database summed it as ("6000", "1234.5")."""
    number = Decimal(value)
    return format(number.to_integral_value() if number == number.to_integral_value() else number.normalize(), "f")


def _stored(name: str, value):
    """A value as JSON keeps it: days in ISO, amounts as exact decimal strings, the rest as given."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if name in _AMOUNTS:
        return _decimal_text(value)
    return value


def cause_params_of(kind: str, **values) -> dict:
    """The parameters of a cause, as stored: `cause_params_of("left", employee_id=7, name="Jane Doe", day=D)`.

    Every placeholder of the kind's template must be given (a mistake here
    would only show on a page much later); extra values (ids, a unit) are
    kept alongside.
    """
    missing = set(_PLACEHOLDER.findall(TEMPLATES[kind])) - set(values)
    if missing:
        raise TypeError(f"cause {kind!r} needs {', '.join(sorted(missing))}")
    return {"kind": kind, **{name: _stored(name, value) for name, value in values.items()}}


def localized_value(name: str, params: dict) -> str:
    """One placeholder of stored parameters in the active language: days and amounts formatted for it, a level
    in words, a catalog name in its translation when the parameters carry one (`<name>_names`)."""
    value = params[name]
    if isinstance(params.get(f"{name}_names"), dict):
        return localized(str(value), params[f"{name}_names"])
    if name in _DAYS:
        return date_format(datetime.date.fromisoformat(value))
    if name == "level":
        return str(Level(value).label)
    if name in _AMOUNTS:
        return format_amount(Decimal(value), params.get("unit", ""))
    return str(value)


def template_words(template: str, params: dict) -> str | None:
    """A template (gettext_noop'd) said in the active language with the stored parameters it names; None when
    the parameters cannot fill it (a row someone edited by hand). The causes and the forecast both say theirs so."""
    try:
        values = {name: localized_value(name, params) for name in _PLACEHOLDER.findall(template)}
    except (KeyError, ValueError, InvalidOperation):
        return None
    return gettext(template) % values


def cause_words(params: dict | None) -> str:
    """The words of a stored cause in the active language; "" when there are none (a first evaluation)."""
    if not params:
        return ""
    template = TEMPLATES.get(params.get("kind"))
    words = template_words(template, params) if template is not None else None
    # A sentence no template describes, or a row edited by hand: show what can be shown rather than fail the page.
    return str(params.get("text", "")) if words is None else words
