"""Fields that many models hold, written once: whose row it is, in which competency, at which level, who, when.

Each returns a new field exactly as the models declared it before (the migrations do not change).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .levels import Level

LEVEL_LENGTH = 10
LEVEL = _("level")
CREATED_AT = _("created at")


def organization_key(related_name: str, **options) -> models.ForeignKey:
    """The organization a row belongs to: deleted with it."""
    return models.ForeignKey(
        "competencies.Organization", on_delete=models.CASCADE, related_name=related_name,
        verbose_name=_("organization"), **options,
    )


def competency_key(related_name: str, *, on_delete=models.CASCADE) -> models.ForeignKey:
    """The competency a row is about."""
    return models.ForeignKey(
        "competencies.Competency", on_delete=on_delete, related_name=related_name, verbose_name=_("competency")
    )


def employee_by(verbose_name, *, related_name: str = "+") -> models.ForeignKey:
    """Who did it: kept as None when the employee's account is deleted."""
    return models.ForeignKey(
        "competencies.Employee", on_delete=models.SET_NULL, null=True, blank=True, related_name=related_name,
        verbose_name=verbose_name,
    )


def level_field(verbose_name=LEVEL, *, choices=Level.choices, **options) -> models.CharField:
    """A level (none, Silver, Gold), or one of `choices`, its code."""
    return models.CharField(verbose_name, max_length=LEVEL_LENGTH, choices=choices, **options)


def creation_time(verbose_name=CREATED_AT) -> models.DateTimeField:
    """When the row was written."""
    return models.DateTimeField(verbose_name, auto_now_add=True)
