"""Dashboard pages about the membership, benefits and the marketing profile, and the public directory.

Thin: an access check, a selector or a service, a template. Every action is
POST-only with CSRF, re-checks its rule on the day in the service, and on a
refusal re-renders the page with the reason (status 400) having changed
nothing. Access: another organization's ids (in the URL or a form field)
get 404; an action on one's own organization by a non-admin gets 403.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from competencies.formatting import format_money
from competencies.models import Competency, Level, Organization
from competencies.selectors import achieved_competencies, invitations_received, is_organization_admin
from competencies.views import organization_or_404, request_organization

from . import services
from .benefits import entitlements, sold_benefit, subscription_on
from .directory import directory_listings, filter_listings, listed_profile
from .eligibility import membership_state
from .forms import DirectoryFilterForm, ProfileForm, ReferralForm
from .models import Benefit, MembershipPlan, Order, Redemption, Referral
from .terms import grace_ends_on, membership_on, renewal_opens_on, upgrade_price

ONE_DAY = datetime.timedelta(days=1)
DIRECTORY_PAGE_SIZE = 25
REFERRALS_PER_IP_PER_HOUR = 5


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
                    "end": date_format(term.ends_on),
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


def _membership_action(request, action):
    organization = _action_organization(request)
    day = timezone.localdate()
    try:
        order = action(organization=organization, by=request.user, day=day)
    except services.Refused as exc:
        messages.error(request, str(exc))
        return _membership_page(request, organization, day=day, status=400)
    _after_order(request, order)
    return redirect("dashboard:membership")


@login_required
@require_POST
def membership_buy(request):
    level = request.POST.get("level", "")
    return _membership_action(
        request, lambda **kw: services.membership_buy(level=level, **kw)
    )


@login_required
@require_POST
def membership_upgrade(request):
    return _membership_action(request, services.membership_upgrade)


@login_required
@require_POST
def membership_renew(request):
    level = request.POST.get("level") or None
    if level not in (None, Level.SILVER, Level.GOLD):
        level = "unknown"
    return _membership_action(request, lambda **kw: services.membership_renew(level=level, **kw))


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
            "redemptions": list(Redemption.objects.filter(organization=organization).select_related("benefit", "redeemed_by")[:20]),
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
@require_POST
def maps_buy(request):
    organization = _action_organization(request)
    day = timezone.localdate()
    try:
        order = services.maps_buy(organization=organization, by=request.user, day=day)
    except services.Refused as exc:
        messages.error(request, str(exc))
        return _benefits_page(request, organization, day=day, status=400)
    _after_order(request, order)
    return redirect("dashboard:benefits")


@login_required
@require_POST
def benefit_redeem(request, slug: str):
    organization = _action_organization(request)
    benefit = get_object_or_404(Benefit, slug=slug)
    day = timezone.localdate()
    try:
        redemption = services.benefit_redeem(organization=organization, benefit=benefit, by=request.user, day=day)
    except services.Refused as exc:
        messages.error(request, str(exc))
        return _benefits_page(request, organization, day=day, status=400)
    messages.success(
        request, _("%(offer)s redeemed: activation code %(code)s.") % {"offer": benefit.name, "code": redemption.code}
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


# ---------------------------------------------------------------------------
# The public directory


@require_safe
def directory(request):
    day = timezone.localdate()
    competencies = list(Competency.objects.order_by("center__position", "position", "name"))
    everyone = directory_listings(day=day)
    countries = sorted({item.country for item in everyone if item.country})
    form = DirectoryFilterForm(request.GET or None, competencies=competencies, countries=countries)
    form.is_valid()  # an invalid filter is named on the page and ignored; the valid ones still apply
    chosen = form.cleaned_data if form.is_bound else {}
    competency = {c.slug: c for c in competencies}.get(chosen.get("competency") or "")
    listings = filter_listings(
        everyone, competency_id=competency.pk if competency else None, level=chosen.get("level") or None,
        country=chosen.get("country") or None, q=chosen.get("q"), competency_names={c.pk: c.name for c in competencies},
    )
    page = Paginator(listings, DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    organizations = Organization.objects.in_bulk([item.organization_id for item in page])
    by_id = {c.pk: c for c in competencies}
    rows = []
    for item in page:
        shown = sorted(
            ((by_id[cid], level_) for cid, level_ in item.levels.items() if cid in by_id),
            key=lambda pair: (-1 if pair[1] == Level.GOLD else 0, pair[0].name),
        )
        rows.append({"organization": organizations[item.organization_id], "competencies": shown})
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "partners/directory.html",
        {"form": form, "page": page, "rows": rows, "today": day, "query": query.urlencode(), "total": len(listings)},
    )


def _throttled(request) -> bool:
    """At most a few referral requests an hour from one address (the cache counts them)."""
    address = request.META.get("REMOTE_ADDR", "")
    key = f"referral-throttle:{address}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count > REFERRALS_PER_IP_PER_HOUR


def partner_profile(request, mpn_id: str):
    """A partner's public profile with Silver/Gold badges of its DISPLAYED competencies, and the referral form.

    404 unless the directory lists the partner (a public profile and at
    least one displayed competency).
    """
    day = timezone.localdate()
    found = listed_profile(mpn_id, day=day)
    if found is None:
        raise Http404("No such partner in the directory.")
    organization, levels = found
    form = ReferralForm()
    status = 200
    if request.method == "POST":
        form = ReferralForm(request.POST)
        if form.is_bot:
            # Say nothing a bot could learn from: the same thanks, and nothing stored.
            messages.success(request, _("Thank you: %(name)s will contact you.") % {"name": organization.name})
            return redirect("partner", mpn_id=mpn_id)
        if form.is_valid():
            if _throttled(request):
                form.add_error(None, _("Too many requests from your network: please try again in an hour."))
            else:
                try:
                    services.referral_create(
                        organization=organization,
                        name=form.cleaned_data["name"],
                        email=form.cleaned_data["email"],
                        need=form.cleaned_data["need"],
                        day=day,
                        language=translation.get_language() or "en",
                        dashboard_url=request.build_absolute_uri(reverse("dashboard:membership")),
                    )
                except services.Refused as exc:
                    form.add_error(None, str(exc))
                else:
                    messages.success(request, _("Thank you: %(name)s will contact you.") % {"name": organization.name})
                    return redirect("partner", mpn_id=mpn_id)
        status = 400
        form.data = form.data.copy()
        form.data["started"] = ReferralForm.stamp()  # a fresh stamp: the next try is timed from now
    competencies = Competency.objects.in_bulk(list(levels))
    shown = sorted(
        ((competencies[cid], level) for cid, level in levels.items() if cid in competencies),
        key=lambda pair: (-1 if pair[1] == Level.GOLD else 0, pair[0].name),
    )
    return render(
        request,
        "partners/profile.html",
        {"organization": organization, "competencies": shown, "form": form, "today": day},
        status=status,
    )
