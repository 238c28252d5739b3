"""Numbers and money in the active language.

Django formats dates and numbers per language (localization is always on
in Django 6; partnercenter/formats/ sets the Chinese grouping). Money needs
words as well as digits: "USD 1,670" in English, "1,670 美元" in Chinese.
Every page, email and engine word formats figures through here.
"""

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from .models import Level


def format_number(value) -> str:
    """Grouped by thousands in the active language; two decimals only when there is a fraction (1,670; 3,547.50)."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return number_format(int(value), force_grouping=True)
    return number_format(value, decimal_pos=2, force_grouping=True)


def format_money(amount, currency: str = "USD") -> str:
    """An amount of money in the active language's words: every price in this product is in US dollars."""
    if currency == "USD":
        return _("USD %(amount)s") % {"amount": format_number(amount)}
    return f"{currency} {format_number(amount)}"


def format_amount(value, unit: str) -> str:
    """A figure with its catalog unit: money when the unit is a currency, else the number and the unit."""
    if unit == "USD":
        return format_money(value, unit)
    return f"{format_number(value)} {unit}" if unit else format_number(value)


def sentences(*parts: str) -> str:
    """Sentences one after another: a space after an English full stop, none after a Chinese one (。)."""
    text = ""
    for part in parts:
        if not part:
            continue
        if text and not text.endswith(("。", "！", "？")):
            text += " "
        text += part
    return text


def level_words(level: str) -> str:
    """A level in the active language, with one word for no level everywhere: "Not attained"."""
    if level == Level.NONE:
        return _("Not attained")
    return str(Level(level).label) if level in Level.values else level
