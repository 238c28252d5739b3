"""The levels of a competency and of a membership (the ranks and `higher_level` are in `models`, beside it)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    NONE = "none", _("None")
    SILVER = "silver", _("Silver")
    GOLD = "gold", _("Gold")


# The levels an organization can hold, buy or be granted: Silver and Gold.
LEVELS_ABOVE_NONE = [c for c in Level.choices if c[0] != Level.NONE]
