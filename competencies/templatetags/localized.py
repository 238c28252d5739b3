"""`{% load localized %}`: figures, prices, levels and causes in the active language.

Dates need nothing of ours (`|date:"DATE_FORMAT"` follows the language);
the rest goes through competencies/formatting.py and competencies/causes.py,
as the engine's words and the emails do.
"""

from django import template
from django.utils.formats import date_format

from competencies.causes import cause_words
from competencies.countries import country_name
from competencies.dates import last_day
from competencies.formatting import format_amount, format_money, format_number, level_words
from competencies.localized import localized as localized_text
from competencies.models import Level

register = template.Library()


def _blank(value) -> bool:
    return value is None or value == ""  # an offer without a price, a blank field: nothing shows


@register.filter
def money(value, currency="USD"):
    """`{{ order.amount_usd|money }}`: "USD 3,547.50" in English, "3,547.50 美元" in Chinese."""
    return "" if _blank(value) else format_money(value, currency)


@register.filter
def number(value):
    """`{{ req.have|number }}`: grouped by thousands, two decimals only when there is a fraction."""
    return "" if _blank(value) else format_number(value)


@register.filter
def amount(value, unit=""):
    """`{{ req.have|amount:req.unit }}`: money for a currency unit, else the number and the unit."""
    return "" if _blank(value) else format_amount(value, unit)


@register.filter
def level_label(value):
    """`{{ person.drops_to_level|level_label }}`: "gold" → "Gold" / "金牌" / "金級"."""
    return Level(value).label if value in Level.values else value


@register.filter
def cause(params):
    """`{{ change.cause_params|cause }}`: the words of a stored cause in the active language."""
    return cause_words(params)


@register.filter
def until(value):
    """`{{ o.expires_on|until }}`: an end date stored as the first day without it (an override's, a credential's,
    a term's `ends_on`), shown as the last day on which it still holds (`dates.last_day`), in the active language.
    One convention everywhere (docs/rules.md, "Dates"): "until <last day>"."""
    return "" if not value else date_format(last_day(value))


@register.filter
def level_name(value):
    """`{{ change.new_effective|level_name }}`: a level in words, "Not attained" for no level (the one word)."""
    return level_words(value)


@register.filter
def titled(code, titles):
    """`{{ code|titled:titles }}`: "70-533 Implementing Microsoft Azure Infrastructure Solutions", or the code alone
    when the catalog gives it no title (`titles`: `selectors.credential_titles()`)."""
    title, translations = (titles or {}).get(code, ("", None))
    title = localized_text(title, translations) if title else ""
    return f"{code} {title}" if title else code


@register.filter
def country(name):
    """An organization's country (stored as its English name) in the active language, as CLDR names it."""
    return country_name(name) if name else name
