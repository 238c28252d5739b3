"""Checkout and confirmation steps: what a review page shows, and the one-time token its confirm posts.

A purchase (buy, upgrade, renew, MAPS) and a redemption go through a review
page, then a confirm (POST). The review page carries a signed one-time token
naming the organization, the action and the price shown; the confirm checks
the signature and passes the token's nonce to the service, which places one
order (or one redemption) per nonce: a confirm submitted twice is done once,
and the second submission is told so.
"""

import datetime
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core import signing
from django.utils.translation import gettext as _

from competencies.models import Level, Organization
from competencies.selectors import achieved_competencies

from .benefits import entitled_benefits, sold_benefit
from .eligibility import Decision, membership_state
from .models import Benefit, Order
from .payments import payment_provider

TOKEN_SALT = "memberships.checkout"
TOKEN_MAX_AGE = 2 * 3600  # a review page left open longer is reviewed again


def token_issue(*, organization: Organization, action: str, what: str, price: Decimal | None) -> str:
    """A signed one-time token for a confirm form: organization, action, what (level or offer), price, nonce."""
    payload = {"o": organization.pk, "a": action, "w": what, "p": "" if price is None else str(price),
               "n": secrets.token_hex(16)}
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


@dataclass(frozen=True)
class Confirmation:
    nonce: str
    price: Decimal | None


def token_read(signed: str, *, organization: Organization, action: str, what: str) -> Confirmation | None:
    """The confirmation a posted token stands for, or None when it is missing, forged, expired or for another action."""
    try:
        payload = signing.loads(signed or "", salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or (payload.get("o"), payload.get("a"), payload.get("w")) != (
        organization.pk, action, what
    ):
        return None
    try:
        price = Decimal(payload["p"]) if payload.get("p") else None
    except (InvalidOperation, KeyError, TypeError):
        return None
    nonce = payload.get("n")
    return Confirmation(nonce=nonce, price=price) if isinstance(nonce, str) and nonce else None


@dataclass
class Review:
    """What a checkout's review page shows: what is bought, its price and term, what it unlocks, how it is paid."""

    action: str  # buy | upgrade | renew | maps
    what: str  # the level, or the offer's slug
    title: str
    decision: Decision
    payment_method: str
    benefits: list[Benefit] = field(default_factory=list)
    competencies: list[tuple[str, str]] = field(default_factory=list)  # (name, level) shown with the membership
    offer: Benefit | None = None
    note: str = ""

    @property
    def level_label(self) -> str:
        return str(Level(self.what).label) if self.what in (Level.SILVER, Level.GOLD) else ""


TITLES = {
    "buy": lambda level: _("Buy a %(level)s membership") % {"level": Level(level).label},
    "upgrade": lambda level: _("Upgrade to Gold"),
    "renew": lambda level: _("Renew at %(level)s") % {"level": Level(level).label},
}


def checkout_review(*, organization: Organization, action: str, level: str = "", day: datetime.date) -> Review | None:
    """The review of a membership purchase (`buy`, `upgrade`, `renew`) or of MAPS (`maps`) on D.

    None when the action names no level it could buy (the page says to choose Silver or Gold).
    """
    state = membership_state(organization, day=day)
    provider = payment_provider()
    method = getattr(provider, "label", "") or provider.name
    if action == "maps":
        offer = sold_benefit()
        if offer is None:
            return None
        return Review(action=action, what=offer.slug, title=offer.name, decision=state.buy_offer(offer),
                      payment_method=str(method), offer=offer)
    if action == "upgrade":
        level = Level.GOLD
    elif action == "renew" and not level:
        level = state.latest.level if state.latest else ""
    if level not in (Level.SILVER, Level.GOLD):
        return None
    decision = {"buy": lambda: state.buy(level), "upgrade": state.upgrade, "renew": lambda: state.renew(level)}[action]()
    achieved = achieved_competencies(organization, day=day)
    levels = {row["competency"].id: row["result"].effective_level for row in achieved}
    note = ""
    if action == "upgrade" and decision.allowed and decision.replaces is not None:
        note = _("Your Silver term ends on the day of the upgrade; the Gold fee is reduced by 25%.")
    return Review(
        action=action, what=level, title=TITLES[action](level), decision=decision, payment_method=str(method),
        benefits=entitled_benefits(membership_level=level, competency_levels=levels),
        competencies=[(row["competency"].name, row["result"].effective_level) for row in achieved],
        note=note,
    )


ORDER_KINDS = {"buy": Order.Kind.BUY, "upgrade": Order.Kind.UPGRADE, "renew": Order.Kind.RENEW, "maps": Order.Kind.MAPS}
