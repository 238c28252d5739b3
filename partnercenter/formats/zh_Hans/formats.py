# Django's zh_Hans formats, with the grouping Microsoft's Chinese pages (and CLDR) use: 4,730, not 4730.
from django.conf.locale.zh_Hans.formats import *  # noqa: F401,F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
