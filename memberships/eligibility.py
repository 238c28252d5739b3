"""What an organization may buy on a day, and why not: the rules of a purchase (docs/design.md, "Membership").

`MembershipState` applies them: the membership page shows its decisions and
the services (`memberships.services`) re-check them, under a lock on the
organization, before they write anything.
"""

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from competencies.dates import last_day, years_after
from competencies.engine import evaluate
from competencies.facts import among
from competencies.formatting import sentences
from competencies.models import LEVEL_RANK, CompetencyStatus, ForecastChange, Level, Organization
from competencies.snapshot import catalog_snapshot

from .benefits import subscription_on
from .models import Benefit, Membership, MembershipPlan
from .terms import (
    active_terms,
    grace_ends_on,
    membership_and_latest,
    renewal_opens_on,
    term_ends_on,
    upgrade_price,
)


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
    catalog = catalog_snapshot()
    results = evaluate(organization_ids=[organization.pk], day=day, details=True, catalog=catalog)
    return qualifications_of(results, organization_id=organization.pk, catalog=catalog, day=day)


def qualifications_of(
    results: dict, *, organization_id: int, catalog, day: datetime.date, explain: Callable | None = None
) -> dict[str, Qualification]:
    """`qualifications` from results already evaluated: with details, or without and `explain(competency_id)`
    giving one competency's result with details (the what-if planner's plan: only the closest is worded)."""
    found = {}
    for level in (Level.SILVER, Level.GOLD):
        rank = LEVEL_RANK[level]
        qualifying, best = [], None
        for spec in catalog.competencies:
            result = results.get((organization_id, spec.id))
            if result is None:
                continue
            if LEVEL_RANK[result.effective_level] >= rank:
                qualifying.append((spec.localized_name, result.effective_level))
                continue
            for option in result.options:
                if LEVEL_RANK[option.level] >= rank and (best is None or option.progress > best[0]):
                    best = (option.progress, spec, option)
        if qualifying or best is None:
            found[level] = Qualification(level=level, day=day, competencies=tuple(qualifying))
        else:
            _progress, spec, option = best
            if explain is not None:
                option = next(o for o in explain(spec.id).options if o.option_id == option.option_id)
            missing = tuple(r.gap for r in option.requirements if not r.met and r.gap)
            found[level] = Qualification(level=level, day=day, closest=spec.localized_name, missing=missing)
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
    """An organization's membership on a day, and the rules of docs/design.md's "Membership" applied to it.

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
                 "last": date_format(last_day(grace_ends_on(m)))})
        qualification = self.qualifications[level]
        if not qualification.met:
            return Decision(False, sentences(_("You cannot buy %(level)s yet.") % {"level": label}, qualification.words()))
        price = self._price(level)
        if price is None:
            return self._no_price(level)
        return Decision(True, price_usd=price, starts_on=self.day, ends_on=term_ends_on(self.day))

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
        return Decision(True, price_usd=upgrade_price(gold), starts_on=self.day, ends_on=term_ends_on(self.day), replaces=m)

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
                "start": date_format(self.next_term.starts_on), "end": date_format(last_day(self.next_term.ends_on))})
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
        return Decision(True, price_usd=price, starts_on=m.ends_on, ends_on=term_ends_on(m.ends_on), replaces=m)

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
        return Decision(True, price_usd=benefit.price_usd, starts_on=self.day, ends_on=years_after(self.day))


def membership_state(
    organization: Organization, *, day: datetime.date, qualified: dict[str, Qualification] | None = None
) -> MembershipState:
    """The organization's membership on D with everything the rules need (a fixed number of queries).

    `qualified`: the qualifications already made (`qualifications_of` a what-if plan's results) instead of
    evaluating the stored data."""
    active, latest = membership_and_latest(organization, day=day)
    return MembershipState(
        organization=organization,
        day=day,
        active=active,
        latest=latest,
        qualifications=qualified if qualified is not None else qualifications(organization, day=day),
        prices=dict(MembershipPlan.objects.values_list("level", "price_usd")),
    )



# ---------------------------------------------------------------------------
# Renewable on the anniversary if nothing changes (the forecast)


@dataclass(frozen=True)
class RenewalOutlook:
    """Whether a membership could be renewed at its level on its anniversary if nothing new happens."""

    organization_id: int
    membership: Membership
    anniversary: datetime.date
    qualifying: tuple[int, ...]  # competencies at the membership's level or above on the anniversary
    # The forecast changes that take a competency qualifying today below the level by the anniversary.
    drops: tuple[ForecastChange, ...]

    @property
    def renewable(self) -> bool:
        return bool(self.qualifying)

    @property
    def decisive_day(self) -> datetime.date | None:
        """The day from which no competency is at the level any more (None when it stays renewable)."""
        return None if self.renewable or not self.drops else max(d.day for d in self.drops)


def renewal_outlooks(*, organization_ids: Iterable[int], day: datetime.date) -> dict[int, RenewalOutlook]:
    """For each organization with a term active on D: its renewal at the term's level on the anniversary
    if nothing changes.

    Rule: the renewal day's qualification (`MembershipState.renew`) asked of
    the forecast: the effective level of each competency on the anniversary is
    today's stored one moved by the stored forecast changes up to that day
    (`competencies.forecast`); renewable when one is at the term's level or
    above. Three queries, whatever the number of organizations.
    """
    terms = active_terms(organization_ids=organization_ids, day=day)
    if not terms:
        return {}
    levels: dict[tuple[int, int], str] = {
        (org_id, competency_id): level
        for org_id, competency_id, level in CompetencyStatus.objects.filter(among("organization_id", terms))
        .order_by().values_list("organization_id", "competency_id", "effective_level")
    }
    today = dict(levels)
    falls: dict[int, list[ForecastChange]] = defaultdict(list)
    latest_end = max(m.ends_on for m in terms.values())
    for change in ForecastChange.objects.filter(
        among("organization_id", terms), day__gt=day, day__lte=latest_end
    ).select_related("competency").order_by("day", "id"):
        m = terms[change.organization_id]
        if change.day > m.ends_on:
            continue
        levels[(change.organization_id, change.competency_id)] = change.new_effective
        rank = LEVEL_RANK[m.level]
        if LEVEL_RANK[change.old_effective] >= rank > LEVEL_RANK[change.new_effective]:
            falls[change.organization_id].append(change)
    by_org: dict[int, list[int]] = defaultdict(list)
    for (org_id, competency_id), level in levels.items():
        if LEVEL_RANK[level] >= LEVEL_RANK[terms[org_id].level]:
            by_org[org_id].append(competency_id)
    outlooks = {}
    for org_id, m in terms.items():
        rank = LEVEL_RANK[m.level]
        qualifying = tuple(sorted(by_org[org_id]))
        drops = tuple(
            d for d in falls[org_id]
            if LEVEL_RANK[today.get((org_id, d.competency_id), Level.NONE)] >= rank and d.competency_id not in qualifying
        )
        outlooks[org_id] = RenewalOutlook(org_id, m, m.ends_on, qualifying, drops)
    return outlooks


def renewal_outlook(organization: Organization, *, day: datetime.date) -> RenewalOutlook | None:
    """`renewal_outlooks` for one organization: what the membership page shows."""
    return renewal_outlooks(organization_ids=[organization.pk], day=day).get(organization.pk)
