"""The webhook part of the dashboard's API page: register, remove, send a test event, read the delivery log."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from competencies.views import organization_or_404

from .models import WebhookEndpoint
from .pages import admin_organization, api_page
from .tasks import deliver_webhooks
from .webhooks import WebhookError, endpoint_create, endpoint_delete, webhook_test_send


@login_required
@require_POST
def webhook_create_view(request):
    organization = admin_organization(request)
    try:
        endpoint = endpoint_create(organization=organization, url=request.POST.get("url", ""),
                                   events=request.POST.getlist("events"), by=request.user)
    except WebhookError as exc:
        return api_page(request, organization, errors={"webhook": str(exc)}, status=400)
    return api_page(request, organization, new_secret=endpoint.secret, new_secret_url=endpoint.url)


@login_required
@require_POST
def webhook_delete_view(request, pk: int):
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk, organization=organization_or_404(request))
    admin_organization(request)
    endpoint_delete(endpoint=endpoint)
    messages.success(request, _("The webhook %(url)s is removed.") % {"url": endpoint.url})
    return redirect("api:tokens")


@login_required
@require_POST
def webhook_test_view(request, pk: int):
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk, organization=organization_or_404(request))
    admin_organization(request)
    with transaction.atomic():
        webhook_test_send(endpoint=endpoint)
        transaction.on_commit(deliver_webhooks.delay)
    messages.success(request, _("A test event is on its way to %(url)s: see the delivery log.") % {"url": endpoint.url})
    return redirect("api:tokens")
