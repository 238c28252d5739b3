"""The public directory and a partner's public profile with its referral form: no sign-in."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from competencies.models import Competency, Level, Organization
from competencies.throttle import count_once

from . import services
from .directory import directory_listings, filter_listings, listed_profile
from .forms import DirectoryFilterForm, ReferralForm

DIRECTORY_PAGE_SIZE = 25
REFERRALS_PER_IP_PER_HOUR = 5


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
    return count_once(f"referral-throttle:{address}", timeout=3600) > REFERRALS_PER_IP_PER_HOUR


@require_http_methods(["GET", "HEAD", "POST"])
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
