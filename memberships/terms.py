"""The calendar of a membership term (docs/design.md, "Membership"), and which term covers a day.

Every end date is the first day something no longer holds: a term is active
on D when `starts_on <= D < ends_on`; `ends_on` is also the anniversary.
"""

import datetime
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from competencies.dates import years_after
from competencies.engine import batched
from competencies.facts import among
from competencies.models import Organization
from competencies.rules import covers

from .models import Membership

RENEWAL_OPENS_DAYS = 90  # "from 90 days before the anniversary"
GRACE_DAYS = 30  # "until 30 days after it"
UPGRADE_DISCOUNT = Decimal("0.25")  # "the Gold fee less 25%"
CENT = Decimal("0.01")


def term_ends_on(starts_on: datetime.date) -> datetime.date:
    """A term lasts one year from its first day; one starting on 29 February ends on 28 February.

    The product's one calendar rule (`competencies.dates.years_after`): the
    anniversary stays in the month the term was bought in, and renewals keep it there.
    """
    return years_after(starts_on)


def renewal_opens_on(membership: Membership) -> datetime.date:
    """The first day a term may be renewed: 90 days before its anniversary (`ends_on`)."""
    return membership.ends_on - datetime.timedelta(days=RENEWAL_OPENS_DAYS)


def grace_ends_on(membership: Membership) -> datetime.date:
    """The first day a term can no longer be renewed: 30 days after its anniversary.

    From the anniversary up to the day before this one the term is in grace:
    benefits continue, competencies are no longer displayed, renewal is still
    possible. From this day the membership has lapsed.
    """
    return membership.ends_on + datetime.timedelta(days=GRACE_DAYS)


def upgrade_price(gold_price: Decimal) -> Decimal:
    """Silver → Gold costs the Gold fee less 25%, rounded to the cent (half up)."""
    return (Decimal(gold_price) * (1 - UPGRADE_DISCOUNT)).quantize(CENT, rounding=ROUND_HALF_UP)


def membership_on(organization: Organization, *, day: datetime.date) -> Membership | None:
    """The membership whose term covers `day` (`starts_on <= day < ends_on`), the latest if several."""
    return (
        Membership.objects.filter(organization=organization, starts_on__lte=day, ends_on__gt=day)
        .order_by("-starts_on", "-pk")
        .first()
    )


def membership_and_latest(organization: Organization, *, day: datetime.date) -> tuple[Membership | None, Membership | None]:
    """`membership_on(day)` and the latest membership not superseded (by `ends_on`), read in one query."""
    rows = list(Membership.objects.filter(organization=organization).filter(
        Q(superseded_by__isnull=True) | Q(starts_on__lte=day, ends_on__gt=day)
    ))
    on = [m for m in rows if covers(m.starts_on, m.ends_on, day)]
    current = max(on, key=lambda m: (m.starts_on, m.pk), default=None)
    return current, max((m for m in rows if m.superseded_by_id is None), key=lambda m: (m.ends_on, m.pk), default=None)


def latest_membership(organization: Organization) -> Membership | None:
    return Membership.objects.filter(organization=organization).order_by("-ends_on", "-pk").first()


def active_terms(*, organization_ids: Iterable[int], day: datetime.date) -> dict[int, Membership]:
    """Per organization, the membership whose term covers `day` (the latest-starting one, as `membership_on`).

    One query per 5,000 organizations.
    """
    terms: dict[int, Membership] = {}
    for chunk in batched(organization_ids, 5000):
        for membership in Membership.objects.filter(
            among("organization_id", chunk), starts_on__lte=day, ends_on__gt=day
        ).order_by("organization_id", "starts_on", "pk"):
            terms[membership.organization_id] = membership  # the last one wins: the latest start
    return terms
