"""Adding people (an organization's admin) and linking one's certification profile (every employee). Thin views."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .accounts import (
    MAX_FILE_BYTES,
    MAX_FILE_LINES,
    AccountError,
    ThrottledError,
    account_add,
    account_add_throttle,
    accounts_add,
    accounts_check,
    accounts_parse,
    employee_mcp_id_set,
)
from .forms import AccountForm, AccountsFileForm, McpIdForm
from .models import Invitation
from .views import _admin_or_403, organization_or_404, request_organization


def _add_page(request, organization, *, one=None, many=None, errors=(), preview=None, status=200):
    language = translation.get_language()
    return render(
        request,
        "competencies/people_add.html",
        {
            "organization": organization,
            "one": one or AccountForm(initial={"language": language}),
            "many": many or AccountsFileForm(initial={"language": language}),
            "errors": errors,
            "preview": preview,
            "max_lines": MAX_FILE_LINES,
            "max_kb": MAX_FILE_BYTES // 1024,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def people_add(request):
    """GET: the forms; POST `action` = one (add a person), preview (check a file) or confirm (add the checked file)."""
    organization = organization_or_404(request)
    _admin_or_403(request, organization)
    if request.method != "POST":
        return _add_page(request, organization)
    try:
        account_add_throttle(admin=request.user, now=timezone.now())
    except ThrottledError as exc:
        return _add_page(request, organization, errors=exc.errors, status=429)
    action = request.POST.get("action")
    if action == "one":
        return _add_one(request, organization)
    if action in ("preview", "confirm"):
        return _add_file(request, organization, confirm=action == "confirm")
    return _add_page(request, organization, errors=[_("Choose to add one person or a file.")], status=400)


def _add_one(request, organization):
    form = AccountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            added = account_add(
                organization=organization, name=data["name"], email=data["email"], by=request.user,
                day=timezone.localdate(), language=data["language"],
            )
        except AccountError as exc:
            form.add_error("email", str(exc))
        else:
            if isinstance(added, Invitation):
                messages.success(request, _(
                    "%(email)s already has a Partner Center account: they are invited instead, until %(day)s."
                ) % {"email": added.email, "day": date_format(added.expires_on, "DATE_FORMAT")})
            else:
                messages.success(request, _(
                    "%(name)s now counts for %(org)s; %(email)s gets an email to choose a password."
                ) % {"name": added.display_name, "org": organization.name, "email": added.email})
            return redirect("dashboard:people")
    return _add_page(request, organization, one=form, status=400)


def _add_file(request, organization, *, confirm: bool):
    """Preview: parse and check the uploaded file, show who would be added. Confirm: the previewed text again,
    checked again, added all or nothing."""
    if confirm:
        raw = request.POST.get("data", "").encode("utf-8")
        language = request.POST.get("language", "")
        if not raw or language not in dict(AccountsFileForm.base_fields["language"].choices):
            return _add_page(request, organization, errors=[_("Upload the file again.")], status=400)
    else:
        form = AccountsFileForm(request.POST, request.FILES)
        if not form.is_valid():
            return _add_page(request, organization, many=form, status=400)
        raw = form.cleaned_data["file"].read(MAX_FILE_BYTES + 1)
        language = form.cleaned_data["language"]
    try:
        people = accounts_parse(raw)
        if confirm:
            added = accounts_add(organization=organization, people=people, by=request.user,
                                 day=timezone.localdate(), language=language)
        else:
            accounts_check(people)
    except AccountError as exc:
        return _add_page(request, organization, errors=exc.errors, status=400)
    if confirm:
        messages.success(request, _("%(n)s people now count for %(org)s; each gets an email to choose a password.")
                         % {"n": len(added), "org": organization.name})
        return redirect("dashboard:people")
    preview = {"people": people, "data": raw.decode("utf-8-sig"), "language": language}
    return _add_page(request, organization, preview=preview)


@login_required
@require_POST
def mcp_id_set(request):
    """The signed-in employee links (or unlinks) their certification profile ID; only their own. The form names
    their organization (or none): a form naming another one is not theirs (404)."""
    organization = request_organization(request)
    if request.POST.get("organization", "") != (organization.mpn_id if organization else ""):
        raise Http404("Not your organization.")
    form = McpIdForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("dashboard:certifications")
    try:
        employee_mcp_id_set(employee=request.user, mcp_id=form.cleaned_data["mcp_id"])
    except AccountError as exc:
        messages.error(request, str(exc))
    else:
        if request.user.mcp_id:
            messages.success(request, _("Your certification profile (MCP ID %(id)s) is linked.") % {"id": request.user.mcp_id})
        else:
            messages.success(request, _("Your certification profile is unlinked."))
    return redirect("dashboard:certifications")
