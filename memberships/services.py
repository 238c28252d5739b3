"""Writes on memberships, orders, benefits, the marketing profile and referrals.

Each service states the rule of docs/design.md ("Membership") it implements; the
rule itself lives in one place, `eligibility.MembershipState`, which the
membership page shows and these services re-check under a lock on the
organization before writing anything. Time is a parameter: callers pass the
day. A refusal raises with the reason and writes nothing.
"""

import datetime
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import TypedDict, Unpack

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from competencies.models import Employee, Level, Organization
from competencies.preferences import email_language
from competencies.statuses import reevaluate_on_commit

from .benefits import entitlements, sold_benefit
from .eligibility import Decision, MembershipState, membership_state
from .models import (
    Benefit,
    BenefitAllowance,
    BenefitPeriodUse,
    BenefitSubscription,
    Membership,
    Order,
    Period,
    Redemption,
    Referral,
)
from .outbox import email_enqueue
from .payments import PaymentProvider, payment_provider
from .tasks import deliver_on_commit
from .terms import latest_membership


class Refused(Exception):
    """An action the rules do not allow on the day; `str(exc)` is the reason, in plain words."""


class PurchaseRefused(Refused):
    pass


class RedemptionRefused(Refused):
    pass


class ReferralRefused(Refused):
    pass


class AlreadyDone(Refused):
    """A confirmation submitted twice: the first one's order or redemption, and nothing done again."""

    def __init__(self, done, message: str):
        super().__init__(message)
        self.done = done


# ---------------------------------------------------------------------------
# Purchases: an order, the payment step, then the term (in one transaction)


class Payment(TypedDict, total=False):
    """How a purchase is paid: the provider (None: the configured one), the review page's one-time token (a second
    submission finds the first order) and the price the review page showed (a changed price is refused)."""

    provider: PaymentProvider | None
    token: str
    reviewed_price: Decimal | None


def _lock(organization: Organization) -> None:
    """Purchases and redemptions of one organization queue on its row: two clicks never buy two terms."""
    Organization.objects.select_for_update().filter(pk=organization.pk).first()


def _checkout(
    *,
    organization: Organization,
    by: Employee | None,
    day: datetime.date,
    provider: PaymentProvider | None = None,
    kind: str,
    level: str = "",
    benefit: Benefit | None = None,
    decide: Callable[[MembershipState], Decision],
    fulfil: Callable[[Order, Decision], None],
    token: str = "",
    reviewed_price: Decimal | None = None,
) -> Order:
    """Check the rule on the day, write a pending order, charge it, and on payment create what it buys.

    Refused: raises `PurchaseRefused` and writes nothing. Declined: the
    order is kept as `failed` with the reason, and nothing else is written.
    Paid: the order turns `paid` and `fulfil` creates the term in the same
    transaction, so a term never exists without its paid order; the receipt
    is queued to the buyer in their language. A `token` (the review page's)
    places one order: the same token again raises `AlreadyDone` with that
    order and charges nothing (the lock serialises the two submissions, the
    unique constraint on `checkout_token` backs it). A `reviewed_price` other
    than the price on the day refuses: the buyer confirms what they saw.
    """
    provider = provider or payment_provider()
    with transaction.atomic():
        _lock(organization)
        if token and (done := Order.objects.filter(organization=organization, checkout_token=token).first()):
            raise AlreadyDone(done, _("This order was already placed: it was charged once, not again."))
        decision = decide(membership_state(organization, day=day))
        if not decision.allowed:
            raise PurchaseRefused(decision.reason)
        if reviewed_price is not None and reviewed_price != decision.price_usd:
            raise PurchaseRefused(_("The price changed since you reviewed the order: review it again."))
        order = Order.objects.create(
            organization=organization,
            kind=kind,
            level=level,
            benefit=benefit,
            amount_usd=decision.price_usd,
            day=day,
            created_by=by,
            replaces=decision.replaces,
            provider=provider.name,
            checkout_token=token,
        )
        _charge(order, provider, lambda: fulfil(order, decision))
    return order


def _charge(order: Order, provider: PaymentProvider, fulfil: Callable[[], None]) -> None:
    """Charge the pending order: declined, it turns `failed` with the reason; paid, it turns `paid`, `fulfil`
    creates what it buys and the receipt is queued (all in the caller's transaction)."""
    result = provider.charge(order=order)
    if not result.paid:
        order.status = Order.Status.FAILED
        order.failure_reason = result.error or _("The payment was declined.")
        order.save(update_fields=["status", "failure_reason"])
        return
    order.status = Order.Status.PAID
    order.reference = result.reference
    order.paid_at = timezone.now()
    fulfil()
    order.save(update_fields=["status", "reference", "paid_at", "membership"])
    receipt_send(order=order)


def receipt_send(*, order: Order) -> None:
    """A paid order's receipt is emailed to whoever placed it, in their language, once (keyed by the order).

    Queued in the paying transaction (a row first); delivered after commit.
    Nobody to send to (an order placed by no one, or without an email): nothing.
    """
    buyer = order.created_by
    if order.status != Order.Status.PAID or buyer is None or not buyer.email:
        return
    url = getattr(settings, "SITE_URL", "").rstrip("/") + reverse("dashboard:order", args=[order.pk])
    email = email_enqueue(
        key=f"receipt:{order.pk}",
        to_email=buyer.email,
        template="receipt",
        context={"order": order, "organization": order.organization, "buyer": buyer, "receipt_url": url},
        language=buyer.language or "en",
    )
    deliver_on_commit([email.pk])


def _new_term(source: str, level: str, day: datetime.date) -> Callable[[Order, Decision], None]:
    def fulfil(order: Order, decision: Decision) -> None:
        order.membership = Membership.objects.create(
            organization_id=order.organization_id, level=level, source=source,
            purchased_on=day, starts_on=decision.starts_on, ends_on=decision.ends_on,
        )
        # The directory and the at-risk alert read the stored history: bring it to the day of the purchase.
        reevaluate_on_commit(organization_ids=[order.organization_id], day=day)

    return fulfil


def membership_buy(
    *, organization: Organization, level: str, by: Employee | None, day: datetime.date, **payment: Unpack[Payment]
) -> Order:
    """Buy Silver: allowed on D only if O's effective level is at least silver in at least one competency on D.
    Buy Gold: at least one competency at gold. Otherwise refuse with the reason.

    Term: one year from the purchase day (`purchased_on` to `purchased_on + 1
    year`; bought on 29 February, it ends on 28 February). For an
    organization without an active term or one in grace (members upgrade or
    renew). Price: the level's yearly fee.
    """
    if level not in (Level.SILVER, Level.GOLD):
        raise PurchaseRefused(_("Choose Silver or Gold."))
    return _checkout(
        organization=organization, by=by, day=day, **payment,
        kind=Order.Kind.BUY, level=level,
        decide=lambda state: state.buy(level), fulfil=_new_term(Membership.Source.PURCHASE, level, day),
    )


def membership_renew(
    *,
    organization: Organization,
    by: Employee | None,
    day: datetime.date,
    level: str | None = None,
    **payment: Unpack[Payment],
) -> Order:
    """Renew: from 90 days before the anniversary (the term's end) until 30 days after it (grace: benefits
    continue, competencies are no longer displayed), only if the organization qualifies again at that level
    on the renewal day; the new term starts on the anniversary, so the anniversary never drifts. Past the
    grace, the membership has lapsed and must be bought anew.

    Window: `ends_on - 90 days <= D < ends_on + 30 days`. `level` defaults to
    the term's level; renewing at the other level is allowed when the
    organization qualifies for it (at that level's full fee).
    """
    if level is not None and level not in (Level.SILVER, Level.GOLD):
        raise PurchaseRefused(_("Choose Silver or Gold."))
    latest = latest_membership(organization)
    if latest is None:
        raise PurchaseRefused(_("There is no membership to renew: buy one."))
    target = level or latest.level
    return _checkout(
        organization=organization, by=by, day=day, **payment,
        kind=Order.Kind.RENEW, level=target,
        decide=lambda state: state.renew(target), fulfil=_new_term(Membership.Source.RENEWAL, target, day),
    )


def membership_upgrade(
    *, organization: Organization, by: Employee | None, day: datetime.date, **payment: Unpack[Payment]
) -> Order:
    """Upgrade Silver → Gold during a term: allowed with a gold achievement; the Gold term starts that day.
    Upgrade price: Silver → Gold costs the Gold fee less 25%, as Microsoft charged.

    The Gold term runs one year from the upgrade day. The Silver term ends
    that day: its `ends_on` becomes the upgrade day and `superseded_by`
    points at the Gold term (history is kept, nothing is deleted).
    """

    def fulfil(order: Order, decision: Decision) -> None:
        _new_term(Membership.Source.UPGRADE, Level.GOLD, day)(order, decision)
        silver = decision.replaces
        Membership.objects.filter(pk=silver.pk).update(ends_on=day, superseded_by=order.membership)

    return _checkout(
        organization=organization, by=by, day=day, **payment,
        kind=Order.Kind.UPGRADE, level=Level.GOLD,
        decide=lambda state: state.upgrade(), fulfil=fulfil,
    )


def maps_buy(
    *, organization: Organization, by: Employee | None, day: datetime.date, **payment: Unpack[Payment]
) -> Order:
    """MAPS (Microsoft Action Pack subscription) is sold on the Benefits page: USD 475 a year for about
    USD 20,000 worth of internal-use rights, at the Silver level and above.

    A subscription of one year from the purchase day, for an organization
    whose Silver or Gold benefits apply on D, one at a time.
    """
    benefit = sold_benefit()
    if benefit is None:
        raise PurchaseRefused(_("The Microsoft Action Pack subscription is not in the catalog."))

    def fulfil(order: Order, decision: Decision) -> None:
        BenefitSubscription.objects.create(
            organization_id=order.organization_id, benefit=benefit, order=order,
            starts_on=decision.starts_on, ends_on=decision.ends_on,
        )

    return _checkout(
        organization=organization, by=by, day=day, **payment,
        kind=Order.Kind.MAPS, benefit=benefit,
        decide=lambda state: state.buy_offer(benefit), fulfil=fulfil,
    )


# ---------------------------------------------------------------------------
# Redemptions

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


def activation_code() -> str:
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(4))


def _units(units) -> int:
    if isinstance(units, bool) or not isinstance(units, int):
        raise RedemptionRefused(_("Enter the quantity as a whole number."))
    if units < 1:
        raise RedemptionRefused(_("Enter a quantity of at least 1."))
    return units


@transaction.atomic
def benefit_redeem(
    *, organization: Organization, benefit: Benefit, by: Employee | None, day: datetime.date, units: int = 1,
    token: str = "",
) -> Redemption:
    """Admins redeem `units` of an offer the organization is entitled to and get its activation record (a code).

    docs/design.md: "what a membership level or a competency at a level entitles
    the organization to, with a quantity that redemptions may not exceed".
    The quantity is per term (the term whose benefits apply on D, grace
    included); a per-period limit ("one a month") caps the units of each
    period of the term on top of it (docs/rules.md, "Benefit limits"). The
    DATABASE enforces both: `redeemed` (and the period's `used`) move by one
    conditional `UPDATE … SET redeemed = redeemed + n WHERE redeemed + n <=
    quantity`, and check constraints refuse any row past its quantity or
    limit, so concurrent redemptions of the last unit cannot both succeed.
    A `token` (the confirmation page's) redeems once: the same token again
    raises `AlreadyDone` with the first redemption.
    """
    units = _units(units)
    _lock(organization)
    if token and (done := Redemption.objects.filter(organization=organization, request_token=token).first()):
        raise AlreadyDone(done, _("This redemption was already confirmed: nothing more was redeemed."))
    found = entitlements(organization, day=day)
    offer = found.offer(benefit.pk)
    _check_redeemable(found, offer, benefit, units)
    allowance, _created = BenefitAllowance.objects.get_or_create(
        organization=organization, benefit=benefit, membership=found.term, defaults={"quantity": offer.quantity}
    )
    taken = BenefitAllowance.objects.filter(pk=allowance.pk, redeemed__lte=F("quantity") - units).update(
        redeemed=F("redeemed") + units
    )
    if not taken:
        allowance.refresh_from_db(fields=["redeemed"])
        raise RedemptionRefused(
            _("Only %(remaining)s of %(offer)s remain this term.") % {"remaining": allowance.remaining, "offer": benefit.name}
        )
    if offer.period is not None:
        _take_from_period(allowance, offer, benefit, units)
    allowance.refresh_from_db(fields=["redeemed"])
    return Redemption.objects.create(
        allowance=allowance, organization=organization, benefit=benefit, code=activation_code(), day=day,
        redeemed_by=by, units=units, request_token=token,
    )


def _check_redeemable(found, offer, benefit: Benefit, units: int) -> None:
    if found.term is None:
        raise RedemptionRefused(_("Offers come with an active Silver or Gold membership."))
    if offer is None:
        raise RedemptionRefused(_("Your organization is not entitled to %(offer)s.") % {"offer": benefit.name})
    if offer.sold:
        raise RedemptionRefused(_("%(offer)s is bought, not redeemed.") % {"offer": benefit.name})
    if offer.quantity is None:
        raise RedemptionRefused(_("%(offer)s has nothing to redeem.") % {"offer": benefit.name})
    if offer.remaining == 0:
        raise RedemptionRefused(
            _("All %(quantity)s of %(offer)s have been redeemed this term.")
            % {"quantity": offer.quantity, "offer": benefit.name}
        )
    if units > offer.remaining:
        raise RedemptionRefused(
            _("Only %(remaining)s of %(offer)s remain this term.") % {"remaining": offer.remaining, "offer": benefit.name}
        )


def _take_from_period(allowance: BenefitAllowance, offer, benefit: Benefit, units: int) -> None:
    """Count `units` against the period's limit, or refuse (the caller's transaction then undoes the term's count)."""
    starts_on, ends_on = offer.period
    use, _created = BenefitPeriodUse.objects.get_or_create(
        allowance=allowance, starts_on=starts_on, defaults={"ends_on": ends_on, "period_limit": benefit.period_limit}
    )
    taken = BenefitPeriodUse.objects.filter(pk=use.pk, used__lte=F("period_limit") - units).update(used=F("used") + units)
    if taken:
        return
    use.refresh_from_db(fields=["used"])
    left = max(use.period_limit - use.used, 0)
    if benefit.per_period == Period.MONTH:
        message = _("%(offer)s: at most %(limit)s a month, %(left)s left this month; the next month starts on %(day)s.")
    else:
        message = _("%(offer)s: at most %(limit)s a term, %(left)s left.")
    raise RedemptionRefused(
        message % {"offer": benefit.name, "limit": use.period_limit, "left": left, "day": date_format(ends_on)}
    )


# ---------------------------------------------------------------------------
# Marketing profile


def profile_update(
    *,
    organization: Organization,
    description: str,
    website: str,
    country: str,
    public_profile: bool,
) -> Organization:
    """The marketing profile an admin edits: description, website, country, and whether the directory shows it.

    A website must be an http(s) URL; the directory shows the profile only
    while it is public and a competency is displayed.
    """
    website = (website or "").strip()
    if website:
        try:
            URLValidator(schemes=["http", "https"])(website)
        except ValidationError as exc:
            raise Refused(_("Enter a website starting with http:// or https://.")) from exc
    organization.description = (description or "").strip()
    organization.website = website
    organization.country = (country or "").strip()
    organization.public_profile = bool(public_profile)
    organization.save(update_fields=["description", "website", "country", "public_profile"])
    return organization


# ---------------------------------------------------------------------------
# Referrals


@transaction.atomic
def referral_create(
    *,
    organization: Organization,
    name: str,
    email: str,
    need: str,
    day: datetime.date,
    language: str = "en",
    dashboard_url: str = "",
) -> Referral:
    """A customer's referral request from the directory: stored, shown on the organization's membership page,
    and emailed to each of its admins (queued rows, in the admin's language; a worker sends them).

    Refused with the reason, writing nothing, when the name or the need is
    empty or the email is not an email address.
    """
    name, email, need = (name or "").strip(), (email or "").strip(), (need or "").strip()
    if not name:
        raise ReferralRefused(_("Enter your name."))
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ReferralRefused(_("Enter a valid email address.")) from exc
    if not need:
        raise ReferralRefused(_("Tell the partner what you need."))
    referral = Referral.objects.create(
        organization=organization, name=name[:200], email=email, need=need[:4000], received_on=day, language=language
    )
    emails = []
    for admin in organization.admins.filter(is_active=True).order_by("pk"):
        emails.append(email_enqueue(
            key=f"referral:{referral.pk}:{admin.pk}",
            to_email=admin.email,
            template="referral",
            context={"organization": organization, "referral": referral, "admin": admin, "dashboard_url": dashboard_url},
            language=email_language(employee=admin, organization=organization),
        ))
    deliver_on_commit([email.pk for email in emails])
    return referral
