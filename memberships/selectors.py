"""Reads on memberships and benefits.

Also the rules a purchase is checked against (`MembershipState`: the
membership page shows them, the services re-check them before writing), the
displayed competencies (`displayed_levels`) and the public directory.
"""

import datetime
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from competencies.engine import batched
from competencies.models import LEVEL_RANK, Level, Organization
from competencies.formatting import sentences

from .models import Benefit, BenefitAllowance, BenefitSubscription, Membership, MembershipPlan


def membership_on(organization: Organization, *, day: datetime.date) -> Membership | None:
    """The membership whose term covers `day` (`starts_on <= day < ends_on`), the latest if several."""
    return (
        Membership.objects.filter(organization=organization, starts_on__lte=day, ends_on__gt=day)
        .order_by("-starts_on", "-pk")
        .first()
    )


def latest_membership(organization: Organization) -> Membership | None:
    return Membership.objects.filter(organization=organization).order_by("-ends_on", "-pk").first()


def benefits_catalog() -> list[Benefit]:
    return list(Benefit.objects.select_related("competency").order_by("competency__name", "slug"))


def entitled_benefits(*, membership_level: str | None, competency_levels: dict[int, str]) -> list[Benefit]:
    """Offers a membership level, and each competency at its level, entitle an organization to.

    A Gold membership includes what Silver gives; a competency at Gold includes its Silver offers.
    """
    rank = {"silver": 1, "gold": 2}
    wanted = Q(pk__in=[])
    if membership_level:
        wanted |= Q(competency__isnull=True, membership_level__in=[lv for lv in rank if rank[lv] <= rank[membership_level]])
    for competency_id, level in competency_levels.items():
        if level in rank:
            wanted |= Q(competency_id=competency_id, level__in=[lv for lv in rank if rank[lv] <= rank[level]])
    return list(Benefit.objects.filter(wanted).select_related("competency").order_by("competency__name", "slug"))


def levels_reached_in_terms(*, terms: dict[int, tuple[datetime.date, datetime.date]]) -> dict[tuple[int, int], str]:
    """The highest effective level each competency reached in each organization's current term, up to a day.

    `terms` maps an organization id to `(term_starts_on, day)`. The level
    the organization held entering the term counts (the term's first
    evaluation saw it), as does every change recorded from the term's first
    day up to `day`. One query over the append-only history: nothing derived
    is stored. Drives the displayed competencies and the at-risk alert.
    """
    from competencies.models import LEVEL_RANK, StatusChange

    if not terms:
        return {}
    latest_day = max(day for _start, day in terms.values())
    reached: dict[tuple[int, int], str] = {}
    changes = (
        StatusChange.objects.filter(organization_id__in=list(terms), day__lte=latest_day)
        .order_by("day", "id")
        .values_list("organization_id", "competency_id", "day", "new_effective")
    )
    entering: dict[tuple[int, int], str] = {}
    for org_id, competency_id, day, level in changes:
        start, until = terms[org_id]
        key = (org_id, competency_id)
        if day < start:
            entering[key] = level
        elif day <= until and LEVEL_RANK[level] > LEVEL_RANK[reached.get(key, "none")]:
            reached[key] = level
    for key, level in entering.items():
        if LEVEL_RANK[level] > LEVEL_RANK[reached.get(key, "none")]:
            reached[key] = level
    return {key: level for key, level in reached.items() if level != "none"}


# ---------------------------------------------------------------------------
# The calendar of a membership (DESIGN.md, "Membership").
#
# Every end date is the first day something no longer holds: a term is active
# on D when `starts_on <= D < ends_on`; `ends_on` is also the anniversary.

RENEWAL_OPENS_DAYS = 90  # "from 90 days before the anniversary"
GRACE_DAYS = 30  # "until 30 days after it"
UPGRADE_DISCOUNT = Decimal("0.25")  # "the Gold fee less 25%"
CENT = Decimal("0.01")


def one_year_after(day: datetime.date) -> datetime.date:
    """The same month and day a year later; a term bought on 29 February ends on 28 February.

    A year never runs into the next March: the anniversary stays in the month
    it was bought in, and renewals keep it there.
    """
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


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


def active_terms(*, organization_ids: Iterable[int], day: datetime.date) -> dict[int, Membership]:
    """Per organization, the membership whose term covers `day` (the latest-starting one, as `membership_on`).

    One query per 5,000 organizations.
    """
    terms: dict[int, Membership] = {}
    for chunk in batched(organization_ids, 5000):
        for membership in Membership.objects.filter(
            organization_id__in=chunk, starts_on__lte=day, ends_on__gt=day
        ).order_by("organization_id", "starts_on", "pk"):
            terms[membership.organization_id] = membership  # the last one wins: the latest start
    return terms


def _levels_in_terms(terms: dict[int, tuple[str, datetime.date, datetime.date]]) -> dict[tuple[int, int], str]:
    """The level each competency reached in each term up to a day, as its membership level shows it.

    `terms` maps an organization id to `(membership_level, term_starts_on,
    up_to_day)`. A Silver member shows Silver only; a Gold member shows
    Silver and Gold as achieved.
    """
    reached = levels_reached_in_terms(terms={org_id: (start, until) for org_id, (_lv, start, until) in terms.items()})
    levels = {}
    for (org_id, competency_id), level in reached.items():
        membership_level = terms[org_id][0]
        levels[(org_id, competency_id)] = Level.SILVER if membership_level == Level.SILVER else level
    return levels


def displayed_levels(*, organization_ids: Iterable[int], day: datetime.date) -> dict[tuple[int, int], str]:
    """The competencies an organization displays on D, and at which level.

    DESIGN.md: "While a membership term is active, every competency whose
    effective level reached silver or gold at any evaluation in the current
    term is displayed until the term ends — even if it is lost meanwhile. A
    Silver member displays them as Silver only; a Gold member displays Silver
    and Gold levels as achieved. No active membership: nothing displayed."

    Active means `starts_on <= D < ends_on`, so nothing is displayed during
    the grace after the anniversary. The term is the one covering D: after an
    upgrade, the Gold term's (what the organization held entering it counts).
    Pairs not displayed are left out. Two queries per 5,000 organizations,
    from the stored history (`StatusChange`): the engine's evaluations, not
    a re-implementation.
    """
    ids = sorted({int(i) for i in organization_ids})
    levels: dict[tuple[int, int], str] = {}
    for chunk in batched(ids, 5000):
        terms = active_terms(organization_ids=chunk, day=day)
        levels.update(_levels_in_terms({org_id: (m.level, m.starts_on, day) for org_id, m in terms.items()}))
    return levels


# ---------------------------------------------------------------------------
# Benefits


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


@dataclass
class Offer:
    """An offer the organization is entitled to in a term, with what it has redeemed of it."""

    benefit: Benefit
    quantity: int | None
    redeemed: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.quantity is None else max(self.quantity - self.redeemed, 0)

    @property
    def sold(self) -> bool:
        """A paid offer (MAPS) is bought, not redeemed."""
        return self.benefit.price_usd is not None

    @property
    def redeemable(self) -> bool:
        return not self.sold and self.quantity is not None and self.remaining > 0


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
    until = min(day, term.ends_on - datetime.timedelta(days=1))
    levels = {
        competency_id: level
        for (_org, competency_id), level in _levels_in_terms({organization.pk: (term.level, term.starts_on, until)}).items()
    }
    redeemed = dict(
        BenefitAllowance.objects.filter(organization=organization, membership=term).values_list("benefit_id", "redeemed")
    )
    offers = [
        Offer(benefit=b, quantity=b.quantity, redeemed=redeemed.get(b.pk, 0))
        for b in entitled_benefits(membership_level=term.level, competency_levels=levels)
    ]
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


# ---------------------------------------------------------------------------
# What an organization may buy on a day, and why not


@dataclass(frozen=True)
class Qualification:
    """Which competencies qualify an organization for a level on a day, or what the closest one lacks."""

    level: str
    day: datetime.date
    competencies: tuple[tuple[str, str], ...] = ()  # (name, effective level), catalog order
    closest: str = ""
    missing: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        return bool(self.competencies)

    @property
    def level_label(self) -> str:
        return str(Level(self.level).label)

    def words(self) -> str:
        """Plain words: which competency qualifies, or what is missing."""
        if self.met:
            names = ", ".join(f"{name} ({Level(level).label})" for name, level in self.competencies)
            return ngettext(
                "%(competencies)s qualifies for %(level)s on %(day)s.",
                "%(competencies)s qualify for %(level)s on %(day)s.",
                len(self.competencies),
            ) % {
                "competencies": names,
                "level": self.level_label,
                "day": date_format(self.day),
            }
        text = _("No competency is at %(level)s or above on %(day)s.") % {
            "level": self.level_label,
            "day": date_format(self.day),
        }
        if self.closest:
            text = sentences(text, _("The closest is %(name)s: %(missing)s.") % {
                "name": self.closest,
                "missing": pgettext("list separator", "; ").join(self.missing) or _("its requirements are not met"),
            })
        return text


def qualifications(organization: Organization, *, day: datetime.date) -> dict[str, Qualification]:
    """For Silver and for Gold: the competencies whose EFFECTIVE level on D is at that level or above.

    One call of the evaluation engine for the organization (never a
    re-implementation). When none qualifies, the closest competency (the
    best progress among its options of that level or above: gold alone is
    enough) and the engine's words for what it lacks.
    """
    from competencies.engine import evaluate
    from competencies.snapshot import catalog_snapshot

    catalog = catalog_snapshot()
    results = evaluate(organization_ids=[organization.pk], day=day, details=True, catalog=catalog)
    found = {}
    for level in (Level.SILVER, Level.GOLD):
        rank = LEVEL_RANK[level]
        qualifying, best = [], None
        for spec in catalog.competencies:
            result = results.get((organization.pk, spec.id))
            if result is None:
                continue
            if LEVEL_RANK[result.effective_level] >= rank:
                qualifying.append((spec.name, result.effective_level))
                continue
            for option in result.options:
                if LEVEL_RANK[option.level] >= rank and (best is None or option.progress > best[0]):
                    best = (option.progress, spec.name, option)
        if qualifying or best is None:
            found[level] = Qualification(level=level, day=day, competencies=tuple(qualifying))
        else:
            _progress, name, option = best
            missing = tuple(r.gap for r in option.requirements if not r.met and r.gap)
            found[level] = Qualification(level=level, day=day, closest=name, missing=missing)
    return found


@dataclass(frozen=True)
class Decision:
    """Whether an action is allowed on a day; if so what it costs and the term it gives, if not why."""

    allowed: bool
    reason: str = ""
    price_usd: Decimal | None = None
    starts_on: datetime.date | None = None
    ends_on: datetime.date | None = None
    replaces: Membership | None = None


@dataclass
class MembershipState:
    """An organization's membership on a day, and the rules of DESIGN.md's "Membership" applied to it.

    The page shows these decisions; the services re-check them, under a lock
    on the organization, before they write anything.
    """

    organization: Organization
    day: datetime.date
    active: Membership | None  # the term covering the day
    latest: Membership | None  # the term that ends last (not superseded)
    qualifications: dict[str, Qualification]
    prices: dict[str, Decimal]

    @property
    def next_term(self) -> Membership | None:
        """A term already paid that starts after the day (a renewal bought early)."""
        return self.latest if self.latest is not None and self.latest.starts_on > self.day else None

    @property
    def in_grace(self) -> bool:
        m = self.latest
        return self.active is None and m is not None and m.ends_on <= self.day < grace_ends_on(m)

    @property
    def lapsed(self) -> Membership | None:
        m = self.latest
        return m if self.active is None and m is not None and self.day >= grace_ends_on(m) else None

    @property
    def renewal_base(self) -> Membership | None:
        """The term a renewal would follow: the one ending last."""
        return self.latest

    def _price(self, level: str) -> Decimal | None:
        return self.prices.get(level)

    def _no_price(self, level: str) -> Decision:
        return Decision(False, _("No fee is set for %(level)s: the catalog must be loaded.") % {"level": Level(level).label})

    def buy(self, level: str) -> Decision:
        """Buy Silver: allowed on D only if O's effective level is at least silver in at least one competency
        on D. Buy Gold: at least one competency at gold. Otherwise refuse with the reason.

        Buying starts a new term: one year from the purchase day. It is for an
        organization without a membership: a member upgrades or renews
        instead (during the grace too, which keeps the anniversary).
        """
        label = Level(level).label
        if self.active is not None:
            m = self.active
            if level == Level.GOLD and m.level == Level.SILVER:
                reason = _("You are a Silver member until %(end)s: upgrade to Gold instead.") % {"end": date_format(m.ends_on)}
            else:
                reason = _("You are already a %(level)s member until %(end)s: renew from %(opens)s.") % {
                    "level": m.get_level_display(),
                    "end": date_format(m.ends_on),
                    "opens": date_format(renewal_opens_on(self.latest or m)),
                }
            return Decision(False, reason)
        if self.next_term is not None:
            return Decision(False, _("A %(level)s term starting on %(start)s is already paid.") % {
                "level": self.next_term.get_level_display(), "start": date_format(self.next_term.starts_on)})
        if self.in_grace:
            m = self.latest
            return Decision(False, _(
                "Your %(level)s term ended on %(end)s: renew it until %(last)s to keep its anniversary."
            ) % {"level": m.get_level_display(), "end": date_format(m.ends_on),
                 "last": date_format(grace_ends_on(m) - datetime.timedelta(days=1))})
        qualification = self.qualifications[level]
        if not qualification.met:
            return Decision(False, sentences(_("You cannot buy %(level)s yet.") % {"level": label}, qualification.words()))
        price = self._price(level)
        if price is None:
            return self._no_price(level)
        return Decision(True, price_usd=price, starts_on=self.day, ends_on=one_year_after(self.day))

    def upgrade(self) -> Decision:
        """Upgrade Silver → Gold during a term: allowed with a gold achievement; the Gold term starts that day.
        Upgrade price: Silver → Gold costs the Gold fee less 25%.

        The Silver term ends that day (kept in history, `superseded_by` the
        Gold one). Not while a renewal is already paid for the next term:
        upgrade once it starts. In grace there is no term to upgrade: renew
        at Gold instead.
        """
        m = self.active
        if m is None:
            if self.in_grace:
                return Decision(False, _("Your term has ended: renew it at Gold instead."))
            return Decision(False, _("Upgrading needs an active Silver membership: buy Gold instead."))
        if m.level == Level.GOLD:
            return Decision(False, _("You are already a Gold member."))
        if self.next_term is not None:
            return Decision(False, _("Your renewal from %(start)s is already paid: upgrade once it starts.") % {
                "start": date_format(self.next_term.starts_on)})
        qualification = self.qualifications[Level.GOLD]
        if not qualification.met:
            return Decision(False, sentences(_("You cannot upgrade to Gold yet."), qualification.words()))
        gold = self._price(Level.GOLD)
        if gold is None:
            return self._no_price(Level.GOLD)
        return Decision(True, price_usd=upgrade_price(gold), starts_on=self.day, ends_on=one_year_after(self.day), replaces=m)

    def renew(self, level: str | None = None) -> Decision:
        """Renew: from 90 days before the anniversary (the term's end) until 30 days after it, only if the
        organization qualifies again at that level on the renewal day; the new term starts on the
        anniversary, so the anniversary never drifts. Past the grace, the membership has lapsed and must be
        bought anew.

        The window is `[ends_on - 90 days, ends_on + 30 days)`: open on
        `ends_on - 90`, still open on `ends_on + 29`, closed from `ends_on + 30`.
        `level` defaults to the term's; a member may renew at the other level
        instead (Gold needs a gold achievement, at the full Gold fee).
        """
        m = self.renewal_base
        if m is None:
            return Decision(False, _("There is no membership to renew: buy one."))
        level = level or m.level
        if self.next_term is not None:
            return Decision(False, _("Already renewed: the next term runs from %(start)s to %(end)s.") % {
                "start": date_format(m.starts_on), "end": date_format(m.ends_on)})
        opens, closes = renewal_opens_on(m), grace_ends_on(m)
        if self.day < opens:
            return Decision(False, _("Renewal opens on %(opens)s, 90 days before the anniversary (%(end)s).") % {
                "opens": date_format(opens), "end": date_format(m.ends_on)})
        if self.day >= closes:
            return Decision(False, _(
                "The membership lapsed on %(closes)s, 30 days after its anniversary (%(end)s): buy a new one."
            ) % {"closes": date_format(closes), "end": date_format(m.ends_on)})
        qualification = self.qualifications[level]
        if not qualification.met:
            return Decision(False, sentences(
                _("You cannot renew at %(level)s.") % {"level": Level(level).label}, qualification.words()
            ))
        price = self._price(level)
        if price is None:
            return self._no_price(level)
        return Decision(True, price_usd=price, starts_on=m.ends_on, ends_on=one_year_after(m.ends_on), replaces=m)

    def buy_offer(self, benefit: Benefit) -> Decision:
        """MAPS is sold on the Benefits page: USD 475 a year, at the Silver level and above.

        Allowed with a membership whose benefits apply on D (active, or in
        grace) at the offer's level or above, and no subscription to it
        already running; the subscription runs one year from the purchase day.
        """
        term = self.active or (self.latest if self.in_grace else None)
        needed = benefit.membership_level or Level.SILVER
        if term is None or LEVEL_RANK[term.level] < LEVEL_RANK[needed]:
            return Decision(False, _("%(offer)s comes with a %(level)s membership or above.") % {
                "offer": benefit.name, "level": Level(needed).label})
        running = subscription_on(self.organization, benefit, day=self.day)
        if running is not None:
            return Decision(False, _("You already subscribe to %(offer)s until %(end)s.") % {
                "offer": benefit.name, "end": date_format(running.ends_on)})
        if benefit.price_usd is None:
            return Decision(False, _("%(offer)s is not sold.") % {"offer": benefit.name})
        return Decision(True, price_usd=benefit.price_usd, starts_on=self.day, ends_on=one_year_after(self.day))


def membership_state(organization: Organization, *, day: datetime.date) -> MembershipState:
    """The organization's membership on D with everything the rules need (a fixed number of queries)."""
    latest = (
        Membership.objects.filter(organization=organization, superseded_by__isnull=True)
        .order_by("-ends_on", "-pk")
        .first()
    )
    return MembershipState(
        organization=organization,
        day=day,
        active=membership_on(organization, day=day),
        latest=latest,
        qualifications=qualifications(organization, day=day),
        prices=dict(MembershipPlan.objects.values_list("level", "price_usd")),
    )


# ---------------------------------------------------------------------------
# The public directory


def fair_order_key(mpn_id: str, day: datetime.date) -> str:
    """A daily rotation: the order of a hash of the day and the MPN ID, new every day, so no partner is always first."""
    return hashlib.sha256(f"{day.isoformat()}:{mpn_id}".encode()).hexdigest()


@dataclass
class Listing:
    organization_id: int
    mpn_id: str
    country: str
    levels: dict[int, str]  # competency id -> displayed level


def directory_listings(
    *,
    day: datetime.date,
    competency_id: int | None = None,
    level: str | None = None,
    country: str | None = None,
) -> list[Listing]:
    """The partners the public directory lists on D, in the day's fair order.

    Listed: organizations with a public profile and at least one displayed
    competency (so an active membership). Filters (see `filter_listings`):
    a competency, a level, a country. Three queries whatever the number of
    partners.
    """
    candidates = (
        Organization.objects.filter(public_profile=True, memberships__starts_on__lte=day, memberships__ends_on__gt=day)
        .order_by()
        .values_list("pk", "mpn_id", "country")
        .distinct()
    )
    rows = {pk: (mpn_id, c) for pk, mpn_id, c in candidates}
    per_org: dict[int, dict[int, str]] = {}
    for (org_id, cid), shown in displayed_levels(organization_ids=rows, day=day).items():
        per_org.setdefault(org_id, {})[cid] = shown
    listings = [Listing(org_id, rows[org_id][0], rows[org_id][1], levels) for org_id, levels in per_org.items()]
    listings.sort(key=lambda item: fair_order_key(item.mpn_id, day))
    return filter_listings(listings, competency_id=competency_id, level=level, country=country)


def filter_listings(
    listings: list[Listing], *, competency_id: int | None = None, level: str | None = None, country: str | None = None
) -> list[Listing]:
    """Keep the order; a competency: displayed; a level: some (or the chosen) competency displayed at that
    level or above (Silver also finds Gold); a country: exactly."""
    rank = LEVEL_RANK[level] if level in (Level.SILVER, Level.GOLD) else LEVEL_RANK[Level.SILVER]
    return [
        item
        for item in listings
        if (not country or item.country == country)
        and any(
            LEVEL_RANK[shown] >= rank and (competency_id is None or cid == competency_id)
            for cid, shown in item.levels.items()
        )
    ]


def listed_profile(mpn_id: str, *, day: datetime.date) -> tuple[Organization, dict[int, str]] | None:
    """A partner's public profile on D and its displayed competencies, or None when the directory would not list it.

    A profile is public exactly when the directory lists the partner: a
    public profile and at least one displayed competency.
    """
    organization = Organization.objects.filter(mpn_id=mpn_id, public_profile=True).first()
    if organization is None:
        return None
    levels = {cid: level for (_org, cid), level in displayed_levels(organization_ids=[organization.pk], day=day).items()}
    if not levels:
        return None
    return organization, levels
