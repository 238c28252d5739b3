"""Benefits: the offers a term entitles an organization to on a day, what it has redeemed, what it bought."""

import datetime
from dataclasses import dataclass

from django.db.models import Q

from competencies.dates import last_day, months_after
from competencies.models import ACHIEVABLE_LEVELS, LEVEL_RANK, Organization

from .displayed import levels_in_terms
from .models import Benefit, BenefitAllowance, BenefitPeriodUse, BenefitSubscription, Membership, Period
from .terms import grace_ends_on, latest_membership, membership_on


def benefits_catalog() -> list[Benefit]:
    return list(Benefit.objects.select_related("competency").order_by("competency__name", "slug"))


def _levels_up_to(level: str) -> list[str]:
    """The achievable levels at or below `level`: what Gold gives includes what Silver gives."""
    return [lv for lv in ACHIEVABLE_LEVELS if LEVEL_RANK[lv] <= LEVEL_RANK[level]]


def entitled_benefits(*, membership_level: str | None, competency_levels: dict[int, str]) -> list[Benefit]:
    """Offers a membership level, and each competency at its level, entitle an organization to.

    A Gold membership includes what Silver gives; a competency at Gold includes its Silver offers.
    """
    wanted = Q(pk__in=[])
    if membership_level:
        wanted |= Q(competency__isnull=True, membership_level__in=_levels_up_to(membership_level))
    for competency_id, level in competency_levels.items():
        if level in ACHIEVABLE_LEVELS:
            wanted |= Q(competency_id=competency_id, level__in=_levels_up_to(level))
    return list(Benefit.objects.filter(wanted).select_related("competency").order_by("competency__name", "slug"))


def benefits_term(organization: Organization, *, day: datetime.date) -> Membership | None:
    """The term whose benefits apply on D: the active one, else, during the 30-day grace after a term's
    anniversary, that term ("grace: benefits continue"). None otherwise."""
    active = membership_on(organization, day=day)
    if active is not None:
        return active
    latest = latest_membership(organization)
    if latest is not None and latest.superseded_by_id is None and latest.ends_on <= day < grace_ends_on(latest):
        return latest
    return None


def benefit_period(benefit: Benefit, term: Membership, *, day: datetime.date) -> tuple[datetime.date, datetime.date] | None:
    """The period [start, end) containing D that the benefit's per-period limit counts in, or None without a limit.

    "month": the months of the term, counted from its start day (a term from
    15 March has periods 15 March–14 April, …), continuing through the grace;
    "term": the whole term, from its start to the end of its grace.
    """
    if benefit.per_period == Period.TERM:
        return term.starts_on, grace_ends_on(term)
    if benefit.per_period != Period.MONTH:
        return None
    k = 0
    while months_after(term.starts_on, k + 1) <= day:
        k += 1
    return months_after(term.starts_on, k), months_after(term.starts_on, k + 1)


@dataclass
class Offer:
    """An offer the organization is entitled to in a term, with what it has redeemed of it (in the term, and
    in the current period of its per-period limit)."""

    benefit: Benefit
    quantity: int | None
    redeemed: int = 0
    period: tuple[datetime.date, datetime.date] | None = None
    period_used: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.quantity is None else max(self.quantity - self.redeemed, 0)

    @property
    def period_remaining(self) -> int | None:
        if self.period is None or self.benefit.period_limit is None:
            return None
        return max(self.benefit.period_limit - self.period_used, 0)

    @property
    def available(self) -> int:
        """The most units that can be redeemed now: what the term and the current period both leave."""
        if self.remaining is None:
            return 0
        period = self.period_remaining
        return self.remaining if period is None else min(self.remaining, period)

    @property
    def next_period_on(self) -> datetime.date | None:
        """When the period's limit is used up but the term's quantity is not: the day the next period starts."""
        if self.period is not None and self.period_remaining == 0 and self.remaining:
            return self.period[1]
        return None

    @property
    def sold(self) -> bool:
        """A paid offer (MAPS) is bought, not redeemed."""
        return self.benefit.price_usd is not None

    @property
    def redeemable(self) -> bool:
        return not self.sold and self.available > 0


@dataclass
class Entitlements:
    term: Membership | None
    in_grace: bool
    competency_levels: dict[int, str]
    offers: list[Offer]

    def offer(self, benefit_id: int) -> Offer | None:
        return next((o for o in self.offers if o.benefit.pk == benefit_id), None)


def entitlements(organization: Organization, *, day: datetime.date) -> Entitlements:
    """Every offer the organization is entitled to on D, by membership level and by competency × level.

    Offers come with the term whose benefits apply on D (`benefits_term`): a
    membership level entitles to its offers and those of the levels below; a
    competency entitles to its offers at the level the term shows it at (the
    displayed level; during grace, as of the term's last day), its Silver
    offers included at Gold. Quantities are per term: what was redeemed in
    the term counts against them.
    """
    term = benefits_term(organization, day=day)
    if term is None:
        return Entitlements(term=None, in_grace=False, competency_levels={}, offers=[])
    in_grace = day >= term.ends_on
    until = min(day, last_day(term.ends_on))
    levels = {
        competency_id: level
        for (_org, competency_id), level in levels_in_terms({organization.pk: (term.level, term.starts_on, until)}).items()
    }
    redeemed = dict(
        BenefitAllowance.objects.filter(organization=organization, membership=term).values_list("benefit_id", "redeemed")
    )
    offers = [
        Offer(benefit=b, quantity=b.quantity, redeemed=redeemed.get(b.pk, 0), period=benefit_period(b, term, day=day))
        for b in entitled_benefits(membership_level=term.level, competency_levels=levels)
    ]
    used = {}
    if any(o.period for o in offers):
        rows = BenefitPeriodUse.objects.filter(allowance__organization=organization, allowance__membership=term)
        used = {(r.allowance.benefit_id, r.starts_on): r.used for r in rows.select_related("allowance")}
    for offer in offers:
        if offer.period is not None:
            offer.period_used = used.get((offer.benefit.pk, offer.period[0]), 0)
    return Entitlements(term=term, in_grace=in_grace, competency_levels=levels, offers=offers)


def subscription_on(organization: Organization, benefit: Benefit, *, day: datetime.date) -> BenefitSubscription | None:
    return (
        BenefitSubscription.objects.filter(organization=organization, benefit=benefit, starts_on__lte=day, ends_on__gt=day)
        .order_by("-starts_on")
        .first()
    )


def sold_benefit() -> Benefit | None:
    """MAPS, the offer sold on the Benefits page (the catalog's `maps`, else the first offer with a price)."""
    return Benefit.objects.filter(slug="maps").first() or Benefit.objects.filter(price_usd__isnull=False).order_by("slug").first()
