"""Dashboard pages about competencies. Thin: access check, selector, template."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from .selectors import organization_of


def _organization_or_404(request):
    """The signed-in employee's organization; an employee with none sees nothing."""
    organization = organization_of(request.user, day=timezone.localdate())
    if organization is None:
        raise Http404("You are not associated with an organization.")
    return organization


@login_required
def dashboard_home(request):
    organization = organization_of(request.user, day=timezone.localdate())
    return render(request, "dashboard/home.html", {"organization": organization})


@login_required
def competency_list(request):
    organization = _organization_or_404(request)
    return render(request, "competencies/list.html", {"organization": organization})


@login_required
def competency_detail(request, slug):
    organization = _organization_or_404(request)
    return render(request, "competencies/detail.html", {"organization": organization})


@login_required
def certifications(request):
    return render(request, "competencies/certifications.html", {})
