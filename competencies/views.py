"""Dashboard pages about competencies. Thin: access check, selector, template."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from memberships.selectors import membership_on

from .models import CompetencyStatus, Level
from .selectors import organization_of


def organization_or_404(request):
    """The signed-in employee's organization; an employee with none sees nothing of anyone's."""
    organization = organization_of(request.user, day=timezone.localdate())
    if organization is None:
        raise Http404("You are not associated with an organization.")
    return organization


@login_required
def dashboard_home(request):
    today = timezone.localdate()
    organization = organization_of(request.user, day=today)
    context = {"organization": organization, "today": today}
    if organization is not None:
        statuses = list(
            CompetencyStatus.objects.filter(organization=organization)
            .exclude(effective_level=Level.NONE)
            .select_related("competency", "override")
            .order_by("competency__center__position", "competency__position")
        )
        context.update(
            membership=membership_on(organization, day=today),
            statuses=statuses,
            gold_count=sum(s.effective_level == Level.GOLD for s in statuses),
            silver_count=sum(s.effective_level == Level.SILVER for s in statuses),
        )
    return render(request, "dashboard/home.html", context)


@login_required
def competency_list(request):
    organization = organization_or_404(request)
    return render(request, "competencies/list.html", {"organization": organization})


@login_required
def competency_detail(request, slug):
    organization = organization_or_404(request)
    return render(request, "competencies/detail.html", {"organization": organization})


@login_required
def certifications(request):
    return render(request, "competencies/certifications.html", {})
