"""Countries as CLDR (Unicode's Common Locale Data Repository, read through Babel) names them.

An organization's `country` is stored as its English name ("China", "Taiwan", "United States"): the
name the import files and the profile form carry. These read that name: the country's code, its name
in the reader's language, and the language the product speaks there. A name CLDR does not know is
shown as it was stored.
"""

from functools import cache

from babel import Locale
from babel.core import UnknownLocaleError
from babel.languages import get_official_languages
from django.conf import settings
from django.utils import translation


@cache
def _codes_by_english_name() -> dict[str, str]:
    return {name.casefold(): code for code, name in Locale("en").territories.items() if code.isalpha()}


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(translation.to_locale(language))  # "zh-hant" -> zh_Hant


def country_code(name: str) -> str | None:
    """The ISO 3166 code of a country given by its English name (any case), or None when CLDR does not know it."""
    return _codes_by_english_name().get((name or "").strip().casefold())


def country_name(name: str, language: str | None = None) -> str:
    """The country's name in `language` (the active one by default); an unknown name as it was stored."""
    code = country_code(name)
    if code is None:
        return name
    try:
        locale = _locale(language or translation.get_language() or settings.LANGUAGE_CODE)
    except (UnknownLocaleError, ValueError):
        return name
    return locale.territories.get(code, name)


def country_language(name: str) -> str | None:
    """The language the product speaks in a country: the first of the country's official languages (in CLDR's
    order) the product has (settings.LANGUAGES): China, Simplified Chinese; Taiwan, Hong Kong and Macao,
    Traditional Chinese; Singapore and the United States, English. None for a country with none of them."""
    code = country_code(name)
    if code is None:
        return None
    spoken = {code_: code_ for code_, _name in settings.LANGUAGES}
    for official in get_official_languages(code, de_facto=True):
        try:
            locale = Locale.parse(f"{official}_{code}")
        except (UnknownLocaleError, ValueError):
            continue
        language = locale.language + (f"-{locale.script.lower()}" if locale.script else "")
        for candidate in (language, locale.language):
            if candidate in spoken:
                return spoken[candidate]
    return None
