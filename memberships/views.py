"""Dashboard pages about the membership, benefits and the marketing profile (the public directory:
`directory_views`).

Thin: an access check, a selector or a service, a template. Every action is
POST-only with CSRF, re-checks its rule on the day in the service, and on a
refusal re-renders the page with the reason (status 400) having changed
nothing. A purchase or a redemption is a GET review page, then a POST
confirm carrying the page's one-time token (`memberships.checkout`).
Access: another organization's ids (in the URL or a form field) get 404;
an action on one's own organization by a non-admin gets 403.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from competencies.dates import last_day
from competencies.formatting import format_money
from competencies.models import Level, Organization
from competencies.selectors import achieved_competencies, invitations_received, is_organization_admin
from competencies.views import organization_or_404, request_organization

from . import services
from .activity_feed import activity_feed
from .benefits import entitlements, sold_benefit, subscription_on
from .checkout import checkout_review, token_issue, token_read
from .directory import listed_profile
from .directory_views import directory, partner_profile  # noqa: F401 (the URL map names them here)
from .eligibility import membership_state
from .forms import ProfileForm, RedeemForm
from .models import Benefit, MembershipPlan, Order, Redemption, Referral
from .terms import grace_ends_on, latest_membership, membership_on, renewal_opens_on, upgrade_price

ONE_DAY = datetime.timedelta(days=1)


@login_required
@require_safe
def dashboard_home(request):
    """The dashboard: the membership, the at-risk banner (layout), the competencies achieved, invitations."""
    today = timezone.localdate()
    organization = request_organization(request)
    context = {"organization": organization, "today": today, "invitations": invitations_received(request.user, day=today)}
    if organization is not None:
        achieved = achieved_competencies(organization, day=today)
        context.update(
            membership=membership_on(organization, day=today),
            achieved=achieved,
            gold_count=sum(row["result"].effective_level == Level.GOLD for row in achieved),
            silver_count=sum(row["result"].effective_level == Level.SILVER for row in achieved),
        )
        if is_organization_admin(request.user, organization):
            context["activity"] = activity_feed(organization, day=today, page=request.GET.get("activity", 1))
    return render(request, "dashboard/home.html", context)


def _action_organization(request) -> Organization:
    """The organization an admin action applies to: the signed-in employee's own, named in the form.

    Another organization's MPN ID in the form: 404 (never say whether it
    exists). The employee's own organization but not its admin: 403.
    """
    organization = organization_or_404(request)
    if request.POST.get("organization") != organization.mpn_id:
        raise Http404("Not your organization.")
    if not is_organization_admin(request.user, organization):
        raise PermissionDenied(_("Only your organization's admins can do this."))
    return organization


# ---------------------------------------------------------------------------
# Membership


def _membership_page(request, organization: Organization, *, day: datetime.date, status: int = 200):
    state = membership_state(organization, day=day)
    latest = state.latest
    renewal = None
    if latest is not None:
        renewal = {
            "opens_on": renewal_opens_on(latest),
            "last_day": grace_ends_on(latest) - ONE_DAY,
            "qualification": state.qualifications[latest.level],
            "open": renewal_opens_on(latest) <= day < grace_ends_on(latest),
        }
    buy = {level: state.buy(level) for level in (Level.SILVER, Level.GOLD)}
    renew_levels = [latest.level] if latest else []
    if latest is not None:
        other = Level.GOLD if latest.level == Level.SILVER else Level.SILVER
        if state.renew(other).allowed:
            renew_levels.append(other)
    return render(
        request,
        "memberships/overview.html",
        {
            "organization": organization,
            "today": day,
            "state": state,
            "membership": state.active,
            "latest": latest,
            "renewal": renewal,
            "buy_silver": buy[Level.SILVER],
            "buy_gold": buy[Level.GOLD],
            "upgrade": state.upgrade(),
            "upgrade_note": _upgrade_note(state.prices.get(Level.GOLD)),
            "renewals": [(level, Level(level).label, state.renew(level)) for level in renew_levels],
            "is_admin": is_organization_admin(request.user, organization),
            "admins": list(organization.admins.order_by("name", "email")),
            "orders": list(Order.objects.filter(organization=organization).select_related("membership", "benefit")[:10]),
            "referrals": list(Referral.objects.filter(organization=organization)[:20]),
            "plans": MembershipPlan.objects.order_by("price_usd"),
        },
        status=status,
    )


def _upgrade_note(gold_price) -> str:
    if gold_price is None:
        return ""
    return _("The Gold fee less 25%%: %(price)s instead of %(gold)s. The Gold term starts on the day of the upgrade.") % {
        "price": format_money(upgrade_price(gold_price)),
        "gold": format_money(gold_price),
    }


@login_required
@require_safe
def membership_overview(request):
    organization = organization_or_404(request)
    return _membership_page(request, organization, day=timezone.localdate())


def _after_order(request, order: Order):
    if order.status == Order.Status.PAID:
        term = order.membership
        if term is not None:
            messages.success(
                request,
                _("Paid %(amount)s (reference %(reference)s): your %(level)s membership runs from %(start)s to %(end)s.")
                % {
                    "amount": format_money(order.amount_usd),
                    "reference": order.reference,
                    "level": term.get_level_display(),
                    "start": date_format(term.starts_on),
                    "end": date_format(last_day(term.ends_on)),  # until its last day (docs/rules.md, "Dates")
                },
            )
        else:
            messages.success(
                request,
                _("Paid %(amount)s (reference %(reference)s) for %(offer)s.")
                % {"amount": format_money(order.amount_usd), "reference": order.reference, "offer": order.benefit.name},
            )
    else:
        messages.error(request, _("The payment failed: %(reason)s Nothing was bought.") % {"reason": order.failure_reason})


CHECKOUT_SERVICES = {
    "buy": services.membership_buy, "upgrade": services.membership_upgrade, "renew": services.membership_renew,
    "maps": services.maps_buy,
}


def _review_page(request, organization: Organization, *, action: str, level: str, day: datetime.date, status=200):
    review = checkout_review(organization=organization, action=action, level=level, day=day)
    if review is None:
        status = 400
        messages.error(request, _("Choose Silver or Gold."))
    is_admin = is_organization_admin(request.user, organization)
    token = ""
    if review is not None and review.decision.allowed and is_admin:
        token = token_issue(organization=organization, action=action, what=review.what, price=review.decision.price_usd)
    back = "dashboard:benefits" if action == "maps" else "dashboard:membership"
    return render(
        request,
        "memberships/checkout.html",
        {"organization": organization, "review": review, "token": token, "is_admin": is_admin, "today": day,
         "url": CHECKOUT_URLS[action], "back": back},
        status=status,
    )


CHECKOUT_URLS = {"buy": "dashboard:membership-buy", "upgrade": "dashboard:membership-upgrade",
                 "renew": "dashboard:membership-renew", "maps": "dashboard:maps-buy"}


def _checkout(request, action: str):
    """GET: the review page (what, price, term, what it unlocks, how it is paid). POST: the confirm.

    The confirm needs the review page's token: without it (or with an
    expired or forged one) the review is shown again, 400, nothing charged;
    with a token already used, the order it placed is shown and nothing is
    charged again.
    """
    day = timezone.localdate()
    level = (request.GET if request.method == "GET" else request.POST).get("level", "")
    if action == "upgrade":
        level = Level.GOLD
    if request.method == "GET":
        return _review_page(request, organization_or_404(request), action=action, level=level, day=day)
    organization = _action_organization(request)
    what = (sold_benefit().slug if sold_benefit() else "") if action == "maps" else level
    if action == "renew" and not level:
        level = what = _renew_default_level(organization)
    confirmation = token_read(request.POST.get("token", ""), organization=organization, action=action, what=what)
    if confirmation is None:
        messages.error(request, _("Review the order, then confirm it: nothing was charged."))
        return _review_page(request, organization, action=action, level=level, day=day, status=400)
    extra = {} if action in ("upgrade", "maps") else {"level": level}
    try:
        order = CHECKOUT_SERVICES[action](
            organization=organization, by=request.user, day=day, token=confirmation.nonce,
            reviewed_price=confirmation.price, **extra,
        )
    except services.AlreadyDone as exc:
        messages.info(request, str(exc))
        return redirect("dashboard:order", pk=exc.done.pk)
    except services.Refused as exc:
        messages.error(request, str(exc))
        return _review_page(request, organization, action=action, level=level, day=day, status=400)
    _after_order(request, order)
    return redirect("dashboard:order", pk=order.pk)


def _renew_default_level(organization: Organization) -> str:
    latest = latest_membership(organization)
    return latest.level if latest else ""


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def membership_buy(request):
    return _checkout(request, "buy")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def membership_upgrade(request):
    return _checkout(request, "upgrade")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def membership_renew(request):
    return _checkout(request, "renew")


@login_required
@require_safe
def order_detail(request, pk: int):
    organization = organization_or_404(request)
    order = get_object_or_404(
        Order.objects.select_related("membership", "benefit", "created_by", "subscription"), pk=pk, organization=organization
    )
    return render(request, "memberships/order.html", {"organization": organization, "order": order})


# ---------------------------------------------------------------------------
# Benefits


def _benefits_page(request, organization: Organization, *, day: datetime.date, status: int = 200):
    found = entitlements(organization, day=day)
    maps = sold_benefit()
    state = membership_state(organization, day=day) if maps is not None else None
    return render(
        request,
        "memberships/benefits.html",
        {
            "organization": organization,
            "today": day,
            "term": found.term,
            "in_grace": found.in_grace,
            "grace_last_day": grace_ends_on(found.term) - ONE_DAY if found.term else None,
            "offers": [o for o in found.offers if not o.sold],
            "maps": maps,
            "maps_decision": state.buy_offer(maps) if state else None,
            "maps_subscription": subscription_on(organization, maps, day=day) if maps else None,
            "redemptions": list(
                Redemption.objects.filter(organization=organization).select_related("benefit", "redeemed_by")[:20]
            ),
            "is_admin": is_organization_admin(request.user, organization),
        },
        status=status,
    )


@login_required
@require_safe
def benefits(request):
    organization = organization_or_404(request)
    return _benefits_page(request, organization, day=timezone.localdate())


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def maps_buy(request):
    return _checkout(request, "maps")


def _redeem_page(request, organization: Organization, benefit: Benefit, *, day: datetime.date, form, status=200):
    """The confirmation step of a redemption: the offer, how many units, what is left; a confirm button."""
    offer = entitlements(organization, day=day).offer(benefit.pk)
    is_admin = is_organization_admin(request.user, organization)
    units = form.cleaned_data["quantity"] if form.is_bound and form.is_valid() else None
    if units is not None and offer is not None and offer.redeemable and units > offer.available:
        form.add_error("quantity", _("Only %(remaining)s of %(offer)s remain this term.")
                       % {"remaining": offer.available, "offer": benefit.name})
        units, status = None, 400
    token = ""
    if is_admin and offer is not None and offer.redeemable and units is not None:
        token = token_issue(organization=organization, action="redeem", what=f"{benefit.slug}:{units}", price=None)
    return render(
        request,
        "memberships/redeem.html",
        {"organization": organization, "benefit": benefit, "offer": offer, "form": form, "units": units,
         "token": token, "is_admin": is_admin, "today": day},
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def benefit_redeem(request, slug: str):
    """GET (`?quantity=N`): confirm redeeming N units. POST (quantity and the page's token): redeem them.

    A quantity that is not a whole number from 1 to what is left, or a
    confirm without its token, shows the page again (400) with the reason,
    nothing redeemed; the same token twice redeems once.
    """
    day = timezone.localdate()
    if request.method != "POST":
        organization = organization_or_404(request)
        benefit = get_object_or_404(Benefit, slug=slug)
        form = RedeemForm(request.GET if "quantity" in request.GET else None)
        status = 400 if form.is_bound and not form.is_valid() else 200
        return _redeem_page(request, organization, benefit, day=day, form=form, status=status)
    organization = _action_organization(request)
    benefit = get_object_or_404(Benefit, slug=slug)
    form = RedeemForm(request.POST)
    if not form.is_valid():
        return _redeem_page(request, organization, benefit, day=day, form=form, status=400)
    units = form.cleaned_data["quantity"]
    what = f"{benefit.slug}:{units}"
    confirmation = token_read(request.POST.get("token", ""), organization=organization, action="redeem", what=what)
    if confirmation is None:
        messages.error(request, _("Check the quantity, then confirm: nothing was redeemed."))
        return _redeem_page(request, organization, benefit, day=day, form=form, status=400)
    try:
        redemption = services.benefit_redeem(
            organization=organization, benefit=benefit, by=request.user, day=day, units=units, token=confirmation.nonce
        )
    except services.AlreadyDone as exc:
        messages.info(request, str(exc))
        return redirect("dashboard:redemption", pk=exc.done.pk)
    except services.Refused as exc:
        messages.error(request, str(exc))
        return _redeem_page(request, organization, benefit, day=day, form=form, status=400)
    messages.success(
        request,
        _("%(offer)s redeemed: activation code %(code)s.")
        % {"offer": benefit.name if units == 1 else f"{units} × {benefit.name}", "code": redemption.code},
    )
    return redirect("dashboard:redemption", pk=redemption.pk)


@login_required
@require_safe
def redemption_detail(request, pk: int):
    organization = organization_or_404(request)
    redemption = get_object_or_404(
        Redemption.objects.select_related("benefit", "allowance", "allowance__membership", "redeemed_by"),
        pk=pk,
        organization=organization,
    )
    return render(request, "memberships/redemption.html", {"organization": organization, "redemption": redemption})


# ---------------------------------------------------------------------------
# Marketing profile


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def profile(request):
    """Admins edit the marketing profile; everyone in the organization sees it."""
    organization = organization_or_404(request)
    is_admin = is_organization_admin(request.user, organization)
    day = timezone.localdate()
    form = ProfileForm(instance=organization)
    status = 200
    if request.method == "POST":
        organization = _action_organization(request)
        form = ProfileForm(request.POST, instance=Organization.objects.get(pk=organization.pk))
        if form.is_valid():
            try:
                services.profile_update(organization=organization, **{f: form.cleaned_data[f] for f in ProfileForm.Meta.fields})
            except services.Refused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Your marketing profile is saved."))
                return redirect("dashboard:profile")
        status = 400
    listed = listed_profile(organization.mpn_id, day=day) is not None
    return render(
        request,
        "memberships/profile.html",
        {"organization": organization, "form": form, "is_admin": is_admin, "listed": listed},
        status=status,
    )
