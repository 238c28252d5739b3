"""The dashboard's API page (/dashboard/api-tokens/): an organization's admins create and revoke tokens and webhooks.

Thin: the access check (the employee's own organization, named in the form; its admins only), a service, a template.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from competencies.selectors import is_organization_admin
from competencies.views import organization_or_404

from .models import ApiToken
from .tokens import TokenError, token_create, token_revoke, tokens_of
from .webhooks import webhook_context


def admin_organization(request):
    """The signed-in admin's own organization; another one named in a form is 404, a non-admin 403."""
    organization = organization_or_404(request)
    if request.method == "POST" and request.POST.get("organization") != organization.mpn_id:
        raise Http404("Not your organization.")
    if not is_organization_admin(request.user, organization):
        raise PermissionDenied(_("Only your organization's admins can do this."))
    return organization


def api_page(request, organization, *, new_token: str = "", errors=None, status: int = 200, **extra):
    context = {
        "organization": organization,
        "tokens": tokens_of(organization),
        "scopes": ApiToken.Scope.choices,
        "new_token": new_token,
        "errors": errors or {},
        "posted": request.POST if request.method == "POST" else {},
        **webhook_context(organization),
        **extra,
    }
    return render(request, "api/tokens.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_tokens(request):
    """GET: the tokens and webhooks; POST: create a token, shown once on the answer (never again)."""
    organization = admin_organization(request)
    if request.method != "POST":
        return api_page(request, organization)
    try:
        _token, raw = token_create(organization=organization, name=request.POST.get("name", ""),
                                   scope=request.POST.get("scope", ""), by=request.user)
    except TokenError as exc:
        return api_page(request, organization, errors={"token": str(exc)}, status=400)
    return api_page(request, organization, new_token=raw)


@login_required
@require_POST
def token_revoke_view(request, pk: int):
    organization = organization_or_404(request)
    token = get_object_or_404(ApiToken, pk=pk, organization=organization)
    admin_organization(request)
    token_revoke(token=token)
    messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("api:tokens")
