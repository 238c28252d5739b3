"""The checks of a catalog file: every problem collected with the path of the bad entry.

A catalog is refused whole: the parsers of its sections (`catalog.parse_catalog`, the
requirement kinds' `validate`, the sections the layers above register) walk the document
with one `Checker`, which collects `(path, message)` pairs instead of stopping at the first.
Paths read like the document: `centers[0].competencies[1].levels.gold.options[0].requirements[2]`.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from . import jsonsafe
from .dates import beyond_horizon

Problem = tuple[str, str]  # (path in the document, message)


class CatalogError(Exception):
    """A catalog that cannot be loaded, with every problem found: `(path, message)` pairs."""

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None):
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self.problems)

    def lines(self) -> list[str]:
        """One line per problem: `<file>: <path>: <message>` (parts that are unknown left out)."""
        lines = []
        for path, message in self.problems:
            parts = [p for p in (self.source, path) if p]
            lines.append(": ".join([*parts, message]))
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True, slots=True)
class Names:
    """What an entry may refer to: the credential codes, metric slugs and competency slugs the same file defines."""

    credentials: frozenset[str]
    metrics: frozenset[str]
    competencies: frozenset[str] = frozenset()


def catalog_languages() -> list[str]:
    """The languages a catalog file may give text in: the product's (settings.LANGUAGES), English first."""
    return [code for code, _name in settings.LANGUAGES]


def at(path: str, key: str) -> str:
    # A key that cannot be shown as it is (a line break or another control character) is quoted, escaped:
    # each problem stays on one line.
    key = key if key.isprintable() else json.dumps(key)
    return f"{path}.{key}" if path else key


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


_MISSING = object()
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Checker:
    """Collects problems while walking the document; helpers return None for a bad value."""

    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, value: Any, path: str, *, required: Iterable[str], optional: Iterable[str] = ()) -> dict | None:
        """A mapping with every `required` key and no key outside `required` + `optional`."""
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, not {describe(value)}")
            return None
        required = list(required)
        allowed = set(required) | set(optional)
        for key in required:
            if key not in value:
                self.problem(at(path, key), "is required")
        for key in value:
            if key not in allowed:
                self.problem(at(path, str(key)), f"unknown field (expected one of {', '.join(sorted(allowed))})")
        return value

    def sequence(self, value: Any, path: str, *, non_empty: bool = False, what: str = "entry") -> list:
        if value is None and not non_empty:
            return []
        if not isinstance(value, list):
            self.problem(path, f"must be a list, not {describe(value)}")
            return []
        if non_empty and not value:
            self.problem(path, f"needs at least one {what}")
        return value

    def text(self, entry: dict, key: str, path: str, *, max_length: int, required: bool = True) -> str | None:
        value = entry.get(key, _MISSING)
        if value is _MISSING or value is None:
            # a missing required key is already reported by `mapping`
            if value is None and required:
                self.problem(at(path, key), "is required")
            return None if required else ""
        if not isinstance(value, str):
            self.problem(at(path, key), f"must be text, not {describe(value)} (quote it)")
            return None
        value = value.strip()
        if required and not value:
            self.problem(at(path, key), "must not be empty")
            return None
        if refused := jsonsafe.refused_character(value):  # a NUL, which the database refuses
            self.problem(at(path, key), refused)
            return None
        if len(value) > max_length:
            self.problem(at(path, key), f"is longer than {max_length} characters")
            return None
        return value

    def localized_text(
        self, entry: dict, key: str, path: str, *, max_length: int, required: bool = True
    ) -> tuple[str | None, dict[str, str]]:
        """Text given plainly (English) or by language (`{en: ..., zh-hans: ..., zh-hant: ...}`, `en` required):
        the English text and the other languages' (`localized`), each checked like `text`."""
        value = entry.get(key)
        if not isinstance(value, dict):
            return self.text(entry, key, path, max_length=max_length, required=required), {}
        field_path = at(path, key)
        languages = catalog_languages()
        for language in value:
            if language not in languages:
                expected = ", ".join(languages)
                self.problem(at(field_path, str(language)), f"unknown language {show(language)} (expected {expected})")
        if "en" not in value:
            self.problem(at(field_path, "en"), "is required (the English text, which other languages fall back to)")
        texts = {
            language: self.text(value, language, field_path, max_length=max_length)
            for language in languages
            if language in value
        }
        english = texts.pop("en", None)
        return english, {language: text for language, text in texts.items() if text is not None}

    def slug(self, entry: dict, key: str, path: str, *, max_length: int = 50) -> str | None:
        value = self.text(entry, key, path, max_length=max_length)
        if value is not None and not _SLUG.match(value):
            self.problem(at(path, key), f"{value!r} is not a slug (letters, digits, '-' and '_')")
            return None
        return value

    def choice(self, value: Any, path: str, choices: Iterable[str], what: str) -> str | None:
        choices = list(choices)
        if value not in choices:
            self.problem(path, f"unknown {what} {show(value)} (expected {' or '.join(choices)})")
            return None
        return value

    def whole(self, entry: dict, key: str, path: str, *, minimum: int, nullable: bool = True) -> int | None:
        """A whole number >= `minimum`; an absent key (or null, where `nullable`) gives None."""
        value = entry.get(key, _MISSING)
        if value is _MISSING or (value is None and nullable):
            return None
        if not is_whole(value) or value < minimum:
            self.problem(at(path, key), f"must be a whole number of at least {minimum}, not {show(value)}")
            return None
        return value

    def amount(self, entry: dict, key: str, path: str, *, required: bool = False) -> Decimal | None:
        """A USD amount >= 0 with at most 2 decimals that fits the database (10 digits)."""
        value = entry.get(key)
        if value is None:
            if required and key in entry:
                self.problem(at(path, key), "is required")
            return None
        if not is_number(value) or value < 0:
            self.problem(at(path, key), f"must be a number of at least 0, not {show(value)}")
            return None
        try:
            amount = Decimal(str(value)).quantize(Decimal("0.01"))
        except InvalidOperation:
            amount = None
        if amount is None or amount != Decimal(str(value)) or amount >= Decimal("100000000"):
            self.problem(at(path, key), f"must have at most 2 decimals and stay below 100,000,000, not {show(value)}")
            return None
        return amount

    def date(self, entry: dict, key: str, path: str) -> datetime.date | None:
        value = entry.get(key)
        if value is None:
            return None
        day = value if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime) else None
        if isinstance(value, str) and _ISO_DATE.match(value):
            try:
                day = datetime.date.fromisoformat(value)
            except ValueError:
                pass
        if day is None:
            self.problem(at(path, key), f"must be a date (YYYY-MM-DD), not {show(value)}")
        elif why := beyond_horizon(day):
            self.problem(at(path, key), f"{why}: {day.isoformat()}")
            day = None
        return day

    def unique(self, seen: dict[str, str], value: str | None, path: str, what: str) -> None:
        """Report a second entry with the same key, naming where the first one is."""
        if value is None:
            return
        if value in seen:
            self.problem(path, f"duplicate {what} {value!r} (first at {seen[value]})")
        else:
            seen[value] = path


def show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(type(value), show(value))

