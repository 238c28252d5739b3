"""Dashboard pages about competencies. Thin: access check, selector or service, template."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from memberships.selectors import membership_on

from .evaluation import evaluate
from .models import Competency, Level
from .selectors import (
    competency_history,
    competency_overview,
    current_association,
    organization_of,
    own_credentials,
)
from .services import AssociationError, association_start


def organization_or_404(request):
    """The signed-in employee's organization; an employee with none sees nothing of anyone's."""
    organization = organization_of(request.user, day=timezone.localdate())
    if organization is None:
        raise Http404("You are not associated with an organization.")
    return organization


@login_required
@require_safe
def dashboard_home(request):
    today = timezone.localdate()
    organization = organization_of(request.user, day=today)
    context = {"organization": organization, "today": today}
    if organization is not None:
        groups = competency_overview(organization, day=today)
        achieved = [row for group in groups for row in group["rows"] if row["result"].effective_level != Level.NONE]
        context.update(
            membership=membership_on(organization, day=today),
            achieved=achieved,
            gold_count=sum(row["result"].effective_level == Level.GOLD for row in achieved),
            silver_count=sum(row["result"].effective_level == Level.SILVER for row in achieved),
        )
    return render(request, "dashboard/home.html", context)


@login_required
@require_safe
def competency_list(request):
    organization = organization_or_404(request)
    today = timezone.localdate()
    return render(
        request,
        "competencies/list.html",
        {"organization": organization, "groups": competency_overview(organization, day=today), "today": today},
    )


@login_required
@require_safe
def competency_detail(request, slug):
    organization = organization_or_404(request)
    competency = get_object_or_404(Competency.objects.select_related("center"), slug=slug)
    today = timezone.localdate()
    result = evaluate(organization_ids=[organization.pk], day=today, details=True)[(organization.pk, competency.pk)]
    return render(
        request,
        "competencies/detail.html",
        {
            "organization": organization,
            "competency": competency,
            "result": result,
            "history": competency_history(organization, competency),
            "today": today,
        },
    )


@login_required
@require_safe
def certifications(request):
    today = timezone.localdate()
    target = organization_of(request.user, day=today)
    current = current_association(request.user)
    return render(
        request,
        "competencies/certifications.html",
        {
            "credentials": own_credentials(request.user, day=today),
            "target": target,
            "current": current,
            "needs_association": target is not None and (current is None or current.organization_id != target.pk),
            "today": today,
        },
    )


@login_required
@require_POST
def associate(request):
    """Associate the signed-in employee's certifications with their own organization, and only that one."""
    today = timezone.localdate()
    target = organization_of(request.user, day=today)
    if target is None or request.POST.get("mpn_id") != target.mpn_id:
        raise Http404("You can associate your certifications only with your own organization.")
    try:
        with transaction.atomic():
            association_start(employee=request.user, organization=target, on=today)
    except AssociationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Your certifications now count for %(name)s from %(day)s.") % {"name": target.name, "day": today},
        )
    return redirect("dashboard:certifications")
