"""Dashboard pages about the membership and benefits."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from competencies.models import CompetencyStatus
from competencies.views import organization_or_404

from .models import MembershipPlan
from .selectors import entitled_benefits, latest_membership, membership_on


@login_required
def membership_overview(request):
    organization = organization_or_404(request)
    today = timezone.localdate()
    return render(
        request,
        "memberships/overview.html",
        {
            "organization": organization,
            "membership": membership_on(organization, day=today),
            "latest": latest_membership(organization),
            "plans": MembershipPlan.objects.order_by("price_usd"),
            "today": today,
        },
    )


@login_required
def benefits(request):
    organization = organization_or_404(request)
    today = timezone.localdate()
    membership = membership_on(organization, day=today)
    levels = dict(
        CompetencyStatus.objects.filter(organization=organization).values_list("competency_id", "effective_level")
    )
    return render(
        request,
        "memberships/benefits.html",
        {
            "organization": organization,
            "membership": membership,
            "benefits": entitled_benefits(membership_level=membership.level if membership else None, competency_levels=levels),
        },
    )
