"""Catalog content in the reader's language: a name (and a description) per language, falling back to English.

The catalog file gives a name either as plain text (English) or as a mapping by language
(`{en: ..., zh-hans: ..., zh-hant: ...}`, `en` required). The English text stays in the
model's own field (`name`, `title`, `description`); the other languages are kept in a JSON
field (`names`, `descriptions`: language code -> text). `localized(...)` reads the text for
the active language: its own, else the language without its script (`zh` for `zh-hant`),
else English.
"""

from __future__ import annotations

from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _


def localized(english: str, translations: dict | None, language: str | None = None) -> str:
    """The text in `language` (the active language by default), else English."""
    if not translations:
        return english
    language = (language or translation.get_language() or "en").lower()
    return translations.get(language) or translations.get(language.split("-")[0]) or english


class LocalizedName(models.Model):
    """A catalog row whose name (the field `localized_field`) has translations: `localized_name` reads them."""

    localized_field = "name"
    names = models.JSONField(_("names in other languages"), default=dict, blank=True)

    class Meta:
        abstract = True

    @property
    def localized_name(self) -> str:
        return localized(getattr(self, self.localized_field), self.names)


class LocalizedDescription(models.Model):
    """A catalog row whose `description` has translations: `localized_description` reads them."""

    descriptions = models.JSONField(_("descriptions in other languages"), default=dict, blank=True)

    class Meta:
        abstract = True

    @property
    def localized_description(self) -> str:
        return localized(self.description, self.descriptions)
