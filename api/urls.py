"""The API under /api/v1/ (its schema and documentation page) and the dashboard's token and webhook pages."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from . import agents, pages, views, webhook_pages, writes

app_name = "api"

v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api:schema"), name="docs"),
    path("organization/", views.OrganizationView.as_view(), name="organization"),
    path("competencies/", views.CompetencyList.as_view(), name="competencies"),
    path("competencies/<slug:slug>/", views.CompetencyDetail.as_view(), name="competency"),
    path("history/", views.HistoryList.as_view(), name="history"),
    path("people/", views.PeopleList.as_view(), name="people"),
    path("people/<id:pk>/", views.PersonDetail.as_view(), name="person"),
    path("people/<id:pk>/end/", writes.PersonEnd.as_view(), name="person-end"),
    path("invitations/", writes.Invitations.as_view(), name="invitations"),
    path("membership/", views.MembershipView.as_view(), name="membership"),
    path("orders/", views.OrderList.as_view(), name="orders"),
    path("orders/<id:pk>/", views.OrderDetail.as_view(), name="order"),
    path("benefits/", views.BenefitsView.as_view(), name="benefits"),
    path("benefits/<slug:slug>/redeem/", writes.BenefitRedeem.as_view(), name="redeem"),
    path("redemptions/", views.RedemptionList.as_view(), name="redemptions"),
    path("redemptions/<id:pk>/", views.RedemptionDetail.as_view(), name="redemption"),
    path("notifications/", views.NotificationList.as_view(), name="notifications"),
    path("overrides/", agents.OverridePlace.as_view(), name="overrides"),
    # Last: any other address under /api/v1/ answers a problem document, like every other error of the API.
    re_path(r"^(?P<rest>(?s:.*))\Z", views.NoSuchRoute.as_view(), name="no-such-route"),
]

urlpatterns = [
    path("api/v1/", include(v1)),
    path("dashboard/api-tokens/", pages.api_tokens, name="tokens"),
    path("dashboard/api-tokens/<id:pk>/revoke/", pages.token_revoke_view, name="token-revoke"),
    path("dashboard/api-tokens/webhooks/", webhook_pages.webhook_create_view, name="webhook-create"),
    path("dashboard/api-tokens/webhooks/<id:pk>/remove/", webhook_pages.webhook_delete_view, name="webhook-delete"),
    path("dashboard/api-tokens/webhooks/<id:pk>/test/", webhook_pages.webhook_test_view, name="webhook-test"),
]
