"""Dashboard pages about competencies. Thin: access check, selector or service, template."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from .associations import AssociationError, association_start
from .engine import evaluate
from .forms import InvitationForm, McpIdForm
from .invitations import (
    InvitationError,
    MemberRemovalError,
    invitation_accept,
    invitation_decline,
    invitation_send,
    invitation_withdraw,
    member_remove,
)
from .models import Association, CenterOfExcellence, Competency, Invitation
from .preferences import employee_language_set, employee_sign_in_language
from .selectors import (
    PEOPLE_SORTS,
    competency_history,
    competency_overview,
    credential_titles,
    current_association,
    invitations_received,
    invitations_sent,
    is_organization_admin,
    key_people_of,
    members_matching,
    members_of,
    organization_of,
    own_credentials,
    requirement_credentials,
)
from .snapshot import catalog_snapshot

PEOPLE_PAGE_SIZE = 50
# A page with a form: GET and HEAD show it, POST acts; any other method is 405.
require_get_or_post = require_http_methods(["GET", "HEAD", "POST"])
CONTRIBUTORS_PAGE_SIZE = 25  # per requirement, on a competency's page
HISTORY_PAGE_SIZE = 20


def request_organization(request):
    """The signed-in employee's organization today, read once per request: the view and the layout's
    context processor both need it."""
    today = timezone.localdate()
    cached = getattr(request, "_organization_of", None)
    if cached is None or cached[0] != today:
        cached = request._organization_of = (today, organization_of(request.user, day=today))
    return cached[1]


def organization_or_404(request):
    """The signed-in employee's organization; an employee with none sees nothing of anyone's."""
    organization = request_organization(request)
    if organization is None:
        raise Http404("You are not associated with an organization.")
    return organization


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
    catalog = catalog_snapshot()  # read once: the evaluation, the credentials each requirement names, their titles
    result = evaluate(
        organization_ids=[organization.pk], day=today, details=True, competency_ids=[competency.pk], catalog=catalog
    )[(organization.pk, competency.pk)]
    contributors_page = request.GET.get("contributors")
    codes = requirement_credentials(catalog, competency.pk)
    options = [
        {
            "option": option,
            "requirements": [
                {
                    "req": req,
                    "codes": codes.get(req.requirement_id, []),
                    "contributors": Paginator(req.contributors, CONTRIBUTORS_PAGE_SIZE).get_page(contributors_page),
                }
                for req in option.requirements
            ],
        }
        for option in result.options
    ]
    return render(
        request,
        "competencies/detail.html",
        {
            "organization": organization,
            "competency": competency,
            "result": result,
            "options": options,
            "titles": catalog.titles,
            "history": Paginator(competency_history(organization, competency), HISTORY_PAGE_SIZE).get_page(
                request.GET.get("history")
            ),
            "today": today,
        },
    )


@login_required
@require_safe
def certifications(request):
    today = timezone.localdate()
    target = request_organization(request)
    current = current_association(request.user)
    return render(
        request,
        "competencies/certifications.html",
        {
            "credentials": own_credentials(request.user, day=today),
            "mcp_form": McpIdForm(initial={"mcp_id": request.user.mcp_id}),
            "invitations": invitations_received(request.user, day=today),
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
            _("Your certifications now count for %(name)s from %(day)s.") % {"name": target.name, "day": date_format(today)},
        )
    return redirect("dashboard:certifications")


# ---------------------------------------------------------------------------
# People: who counts for the organization, invitations, removals


def _admin_or_403(request, organization):
    """An admin action: the form names the employee's own organization (else 404), and they administer it (else 403)."""
    if request.method == "POST" and request.POST.get("organization") != organization.mpn_id:
        raise Http404("Not your organization.")
    if not is_organization_admin(request.user, organization):
        raise PermissionDenied(_("Only your organization's admins can do this."))


def _people_page(request, organization, *, form=None, status=200):
    today = timezone.localdate()
    members = members_of(organization, day=today)
    q, sort = request.GET.get("q", "").strip(), request.GET.get("sort", "name")
    if sort.lstrip("-") not in PEOPLE_SORTS:
        sort = "name"
    found = members_matching(members, q=q, sort=sort)
    page = Paginator(found, PEOPLE_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "competencies/people.html",
        {
            "organization": organization,
            "page": page,
            "member_count": len(members),
            "found_count": len(found),
            "q": q,
            "sort": sort,
            "sorts": _people_sort_choices(),
            "query": query.urlencode(),
            "titles": credential_titles(),
            "is_admin": is_organization_admin(request.user, organization),
            "invitations": invitations_sent(organization),
            "form": form or InvitationForm(),
            "today": today,
        },
        status=status,
    )


def _people_sort_choices() -> list[tuple[str, str]]:
    return [
        ("name", _("Name (A to Z)")),
        ("-name", _("Name (Z to A)")),
        ("since", _("Counts since (oldest first)")),
        ("-since", _("Counts since (newest first)")),
        ("-credentials", _("Most credentials first")),
    ]


@login_required
@require_get_or_post
def people(request):
    """Everyone who counts for the organization, what rests on whom; admins invite people here."""
    organization = organization_or_404(request)
    if request.method != "POST":
        return _people_page(request, organization)
    _admin_or_403(request, organization)
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation = invitation_send(
                organization=organization, email=form.cleaned_data["email"], invited_by=request.user,
                day=timezone.localdate(),
            )
        except InvitationError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(
                request,
                _("%(email)s is invited until %(day)s.")
                % {"email": invitation.email, "day": date_format(invitation.expires_on, "DATE_FORMAT")},
            )
            return redirect("dashboard:people")
    return _people_page(request, organization, form=form, status=400)


@login_required
def invitation_withdraw_view(request, pk: int):
    """GET: confirm withdrawing the invitation (works without JavaScript); POST: withdraw it."""
    organization = organization_or_404(request)
    invitation = get_object_or_404(Invitation, pk=pk, organization=organization)
    _admin_or_403(request, organization)
    if request.method != "POST":
        return render(
            request, "competencies/invitation_withdraw.html", {"organization": organization, "invitation": invitation}
        )
    try:
        invitation_withdraw(invitation=invitation, by=request.user, day=timezone.localdate())
    except InvitationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The invitation to %(email)s is withdrawn.") % {"email": invitation.email})
    return redirect("dashboard:people")


@login_required
@require_get_or_post
def member_remove_view(request, pk: int):
    """GET: what the organization would lose; POST: end the employee's association today."""
    organization = organization_or_404(request)
    today = timezone.localdate()
    association = get_object_or_404(
        Association.objects.select_related("employee").exclude(ends_on__lte=today),
        employee_id=pk, organization=organization, starts_on__lte=today,
    )
    _admin_or_403(request, organization)
    employee = association.employee
    if request.method == "POST":
        try:
            member_remove(organization=organization, employee=employee, by=request.user, day=today)
        except MemberRemovalError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("%(name)s no longer counts for %(org)s from %(day)s.")
                % {"name": employee.display_name, "org": organization.name, "day": date_format(today, "DATE_FORMAT")},
            )
        return redirect("dashboard:people")
    return render(
        request,
        "competencies/member_remove.html",
        {
            "organization": organization,
            "member": employee,
            "impact": key_people_of(organization, day=today).get(employee.pk, []),
            "today": today,
        },
    )


@login_required
@require_get_or_post
def invitation_respond(request, pk: int):
    """The invitee reviews an invitation (what their current organization would lose), then accepts or declines.

    Only invitations addressed to the signed-in employee's email, pending
    and not expired, exist here: anything else is 404.
    """
    today = timezone.localdate()
    invitation = get_object_or_404(
        Invitation.objects.select_related("organization", "invited_by"),
        pk=pk, email=request.user.email, state=Invitation.State.PENDING, expires_on__gt=today,
    )
    current = current_association(request.user)
    leaving = current.organization if current and current.organization_id != invitation.organization_id else None
    if request.method == "POST":
        answer = request.POST.get("answer")
        try:
            if answer == "accept":
                invitation_accept(invitation=invitation, employee=request.user, day=today)
                messages.success(
                    request,
                    _("Your certifications now count for %(name)s from %(day)s.")
                    % {"name": invitation.organization.name, "day": date_format(today, "DATE_FORMAT")},
                )
            elif answer == "decline":
                invitation_decline(invitation=invitation, employee=request.user, day=today)
                messages.success(
                    request, _("You declined the invitation of %(name)s.") % {"name": invitation.organization.name}
                )
            else:
                messages.error(request, _("Choose to accept or to decline the invitation."))
                return redirect("dashboard:invitation", pk=invitation.pk)
        except InvitationError as exc:
            messages.error(request, str(exc))
        return redirect("dashboard:certifications")
    return render(
        request,
        "competencies/invitation.html",
        {
            "invitation": invitation,
            "leaving": leaving,
            "impact": key_people_of(leaving, day=today).get(request.user.pk, []) if leaving else [],
            "today": today,
        },
    )


# ---------------------------------------------------------------------------
# Signing in and the language switcher


def _language_cookie(response, language: str) -> None:
    # Django's own language cookie, set as its set_language view sets it (every LANGUAGE_COOKIE_* setting).
    options = {option: getattr(settings, f"LANGUAGE_COOKIE_{setting}") for option, setting in (
        ("max_age", "AGE"), ("path", "PATH"), ("domain", "DOMAIN"), ("secure", "SECURE"),
        ("httponly", "HTTPONLY"), ("samesite", "SAMESITE"),
    )}
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, **options)


class SignInView(auth_views.LoginView):
    """Django's sign-in; signing in applies the employee's saved language, if they chose one (and the cookie keeps
    it after sign-out). Signing in saves nothing: until the employee chooses, the browser's language stands."""

    redirect_authenticated_user = True
    http_method_names = ["get", "head", "post"]  # OPTIONS, PUT, … are 405, as on every other page

    def form_valid(self, form):
        response = super().form_valid(form)
        language = employee_sign_in_language(employee=form.get_user())
        if language is not None:
            translation.activate(language)
            _language_cookie(response, language)
        return response


def set_language(request):
    """The language switcher: Django's `set_language` (cookie, back to `next`); signed in, the choice is saved."""
    response = i18n.set_language(request)
    language = request.POST.get("language", "") if request.method == "POST" else ""
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        employee_language_set(employee=request.user, language=language)
    return response


@login_required
@require_safe
def center_detail(request, slug):
    """A Center of Excellence: what it covers, its competencies and the organization's level in each."""
    organization = organization_or_404(request)
    center = get_object_or_404(CenterOfExcellence, slug=slug)
    today = timezone.localdate()
    group = next((g for g in competency_overview(organization, day=today) if g["center"].pk == center.pk), None)
    return render(
        request,
        "competencies/center.html",
        {"organization": organization, "center": center, "rows": group["rows"] if group else [], "today": today},
    )
