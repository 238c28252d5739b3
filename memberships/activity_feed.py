"""The dashboard's activity feed: who joined and left, level changes, overrides, purchases and redemptions.

A selector over the rows that already exist (associations, status changes,
override audit entries, paid orders, redemptions): nothing is denormalized.
Each entry is worded when shown, in the reader's language. A page of N
entries reads the N × page most recent rows of each source (one query each,
on indexed columns) and merges them: the most recent entries of the union
are among the most recent of each source.
"""

import datetime
from dataclasses import dataclass

from django.db.models import F
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from competencies.causes import cause_words
from competencies.dates import last_day
from competencies.formatting import format_money, level_words
from competencies.models import Association, Organization, OverrideAudit, StatusChange

from .models import Order, Redemption

PER_PAGE = 15

# What an override's audit entry and a paid order say, by action or kind (translated when shown).
WORDS = {
    ("override", OverrideAudit.Action.APPLY): gettext_noop("%(competency)s: a %(level)s override was placed, until %(until)s."),
    ("override", OverrideAudit.Action.EXTEND): gettext_noop(
        "%(competency)s: the %(level)s override was extended, until %(until)s."
    ),
    ("override", OverrideAudit.Action.REVOKE): gettext_noop("%(competency)s: the %(level)s override was revoked."),
    ("override", OverrideAudit.Action.EXPIRE): gettext_noop("%(competency)s: the %(level)s override ended."),
    ("order", Order.Kind.BUY): gettext_noop("Bought a %(level)s membership (%(amount)s)."),
    ("order", Order.Kind.UPGRADE): gettext_noop("Upgraded to a %(level)s membership (%(amount)s)."),
    ("order", Order.Kind.RENEW): gettext_noop("Renewed the membership at %(level)s (%(amount)s)."),
    ("order", Order.Kind.MAPS): gettext_noop("Bought the Microsoft Action Pack subscription (%(amount)s)."),
}


@dataclass(frozen=True)
class ActivityEntry:
    day: datetime.date
    kind: str  # joined, left, level, override, order, redemption
    text: str
    order: int  # the source's id, for a stable order within a day


@dataclass(frozen=True)
class ActivityPage:
    entries: list[ActivityEntry]
    number: int
    pages: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _joins(organization: Organization, day: datetime.date, limit: int):
    rows = (Association.objects.filter(organization=organization, starts_on__lte=day)
            .select_related("employee").order_by("-starts_on", "-id")[:limit])
    for a in rows:
        yield ActivityEntry(a.starts_on, "joined", _("%(name)s joined the organization.") % {
            "name": a.employee.display_name}, a.pk)


def _departures(organization: Organization, day: datetime.date, limit: int):
    rows = (Association.objects.filter(organization=organization, ends_on__isnull=False, ends_on__lte=day)
            .select_related("employee", "ended_by").order_by("-ends_on", "-id")[:limit])
    for a in rows:
        name = a.employee.display_name
        if a.ended_by_id and a.ended_by_id != a.employee_id:
            text = _("%(name)s was removed from the organization by %(by)s.") % {"name": name, "by": a.ended_by.display_name}
        else:
            text = _("%(name)s left the organization.") % {"name": name}
        yield ActivityEntry(a.ends_on, "left", text, a.pk)


def _level_changes(organization: Organization, day: datetime.date, limit: int):
    rows = (StatusChange.objects.filter(organization=organization, day__lte=day)
            .exclude(old_effective=F("new_effective")).select_related("competency").order_by("-day", "-id")[:limit])
    for c in rows:
        text = _("%(competency)s: %(old)s → %(new)s.") % {
            "competency": c.competency.localized_name, "old": level_words(c.old_effective), "new": level_words(c.new_effective)}
        because = cause_words(c.cause_params)
        if because:
            text = f"{text} " + _("Cause: %(cause)s.") % {"cause": because}
        yield ActivityEntry(c.day, "level", text, c.pk)


def _override_words(entry: OverrideAudit) -> str:
    o = entry.override
    values = {"competency": o.competency.localized_name, "level": level_words(o.level),
              "until": date_format(last_day(o.expires_on)), "day": date_format(entry.day)}
    return _(WORDS["override", entry.action]) % values


def _overrides(organization: Organization, day: datetime.date, limit: int):
    rows = (OverrideAudit.objects.filter(override__organization=organization, day__lte=day)
            .select_related("override__competency").order_by("-day", "-id")[:limit])
    for entry in rows:
        yield ActivityEntry(entry.day, "override", _override_words(entry), entry.pk)


def _order_words(order: Order) -> str:
    return _(WORDS["order", order.kind]) % {"level": level_words(order.level), "amount": format_money(order.amount_usd)}


def _orders(organization: Organization, day: datetime.date, limit: int):
    rows = Order.objects.filter(organization=organization, status=Order.Status.PAID, day__lte=day).order_by("-day", "-id")
    for order in rows[:limit]:
        yield ActivityEntry(order.day, "order", _order_words(order), order.pk)


def _redemptions(organization: Organization, day: datetime.date, limit: int):
    rows = (Redemption.objects.filter(organization=organization, day__lte=day)
            .select_related("benefit", "redeemed_by").order_by("-day", "-id")[:limit])
    for r in rows:
        by = r.redeemed_by.display_name if r.redeemed_by_id else ""
        text = (_("%(name)s redeemed %(benefit)s.") % {"name": by, "benefit": r.benefit.name} if by
                else _("%(benefit)s redeemed.") % {"benefit": r.benefit.name})
        yield ActivityEntry(r.day, "redemption", text, r.pk)


SOURCES = (_joins, _departures, _level_changes, _overrides, _orders, _redemptions)


def _count(organization: Organization, day: datetime.date) -> int:
    return sum((
        Association.objects.filter(organization=organization, starts_on__lte=day).count(),
        Association.objects.filter(organization=organization, ends_on__isnull=False, ends_on__lte=day).count(),
        StatusChange.objects.filter(organization=organization, day__lte=day)
        .exclude(old_effective=F("new_effective")).count(),
        OverrideAudit.objects.filter(override__organization=organization, day__lte=day).count(),
        Order.objects.filter(organization=organization, status=Order.Status.PAID, day__lte=day).count(),
        Redemption.objects.filter(organization=organization, day__lte=day).count(),
    ))


def activity_feed(organization: Organization, *, day: datetime.date, page=1, per_page: int = PER_PAGE) -> ActivityPage:
    """The organization's activity up to D, most recent first, one page of `per_page` entries in the active
    language. A page number that is not a whole number, or out of range, gives the nearest page."""
    pages = max(1, -(-_count(organization, day) // per_page))
    try:
        number = min(max(int(page), 1), pages)
    except (TypeError, ValueError):
        number = 1
    limit = number * per_page
    entries = [entry for source in SOURCES for entry in source(organization, day, limit)]
    entries.sort(key=lambda e: (e.day, e.order), reverse=True)
    return ActivityPage(entries=entries[limit - per_page:limit], number=number, pages=pages)
