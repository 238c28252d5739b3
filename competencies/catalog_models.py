"""The catalog's structure: Centers of Excellence, their competencies, each level's attainment options and
their requirements, and the metrics requirements read (imported into `models`, where they belong to the app).

Names and descriptions have translations (`localized.LocalizedName`, `LocalizedDescription`).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .fields import competency_key, level_field
from .levels import LEVELS_ABOVE_NONE
from .localized import LocalizedDescription, LocalizedName


class CatalogNode(LocalizedName, LocalizedDescription):
    """What a Center of Excellence and a competency both are: a slug, a name, a description, a place in its list."""

    slug = models.SlugField(_("slug"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        abstract = True

    def __str__(self):
        return self.name


class CenterOfExcellence(CatalogNode):
    class Meta:
        verbose_name = _("Center of Excellence")
        verbose_name_plural = _("Centers of Excellence")
        ordering = ["position", "name"]


class Competency(CatalogNode):
    center = models.ForeignKey(
        CenterOfExcellence, on_delete=models.PROTECT, related_name="competencies", verbose_name=_("Center of Excellence")
    )

    class Meta:
        verbose_name = _("competency")
        verbose_name_plural = _("competencies")
        ordering = ["center__position", "position", "name"]


class AttainmentOption(LocalizedName):
    """One way to reach a level of a competency: every requirement must hold."""

    competency = competency_key("options")
    level = level_field(choices=LEVELS_ABOVE_NONE)
    name = models.CharField(_("name"), max_length=200)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attainment option")
        verbose_name_plural = _("attainment options")
        ordering = ["competency", "level", "position"]
        constraints = [
            models.UniqueConstraint(fields=["competency", "level", "position"], name="option_position_unique")
        ]

    def __str__(self):
        return f"{self.competency} {self.get_level_display()}: {self.name}"


class Requirement(models.Model):
    """A condition of an option. `params` holds the kind's parameters as in the catalog file.

    `certified_people`: `count` and exactly one of `any_of`, `all_of`, `groups`.
    `metric`: `metric`, `window_days`, `at_least` (a number or a map by market).
    """

    option = models.ForeignKey(
        AttainmentOption, on_delete=models.CASCADE, related_name="requirements", verbose_name=_("attainment option")
    )
    kind = models.CharField(_("kind"), max_length=40)
    position = models.PositiveIntegerField(_("position"), default=0)
    params = models.JSONField(_("parameters"), default=dict)

    class Meta:
        verbose_name = _("requirement")
        verbose_name_plural = _("requirements")
        ordering = ["option", "position"]
        constraints = [
            models.UniqueConstraint(fields=["option", "position"], name="requirement_position_unique")
        ]

    def __str__(self):
        return f"{self.kind} {self.params}"


class Metric(LocalizedName):
    slug = models.SlugField(_("slug"), unique=True, max_length=80)
    name = models.CharField(_("name"), max_length=200)
    unit = models.CharField(_("unit"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("metric")
        verbose_name_plural = _("metrics")
        ordering = ["slug"]

    def __str__(self):
        return self.name
