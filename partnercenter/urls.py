"""The URL map: the whole product at a glance (docs/interfaces.md, "Pages")."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, register_converter, reverse_lazy
from django.urls.converters import IntConverter, StringConverter
from django.views.decorators.http import require_safe
from django.views.generic import RedirectView

from competencies import export_views, people_views
from competencies import views as competency_views
from memberships import views as membership_views
from memberships import what_if_views


# URL parameters are checked by their shape before any view or query: a value that cannot be one is 404.
class MpnIdConverter(StringConverter):
    """An MPN ID in a URL: ASCII digits, as the database's check holds them; anything else is 404 at once."""

    regex = "[0-9]{1,20}"


class RowIdConverter(IntConverter):
    """A row's id in a URL: at most 18 ASCII digits, which every id column holds (a longer number is 404 here,
    not an overflow in the database driver)."""

    regex = "[0-9]{1,18}"


register_converter(MpnIdConverter, "mpn")
register_converter(RowIdConverter, "id")


def export_path(name: str):
    """`exports/orders.csv`, named `export-orders-csv`: one of the organization's downloads (competencies.exports)."""
    return path(f"exports/{name}", export_views.organization_export, {"name": name}, name=f"export-{name.replace('.', '-')}")


dashboard_patterns = (
    [
        path("", membership_views.dashboard_home, name="home"),
        path("membership/", membership_views.membership_overview, name="membership"),
        path("membership/what-if/", what_if_views.what_if, name="what-if"),
        path("membership/buy/", membership_views.membership_buy, name="membership-buy"),
        path("membership/upgrade/", membership_views.membership_upgrade, name="membership-upgrade"),
        path("membership/renew/", membership_views.membership_renew, name="membership-renew"),
        path("membership/orders/<id:pk>/", membership_views.order_detail, name="order"),
        path("membership/benefits/", membership_views.benefits, name="benefits"),
        path("membership/benefits/maps/", membership_views.maps_buy, name="maps-buy"),
        path("membership/benefits/<slug:slug>/redeem/", membership_views.benefit_redeem, name="redeem"),
        path("membership/benefits/redemptions/<id:pk>/", membership_views.redemption_detail, name="redemption"),
        path("profile/", membership_views.profile, name="profile"),
        path("membership/competencies/", competency_views.competency_list, name="competencies"),
        path("membership/competencies/<slug:slug>/", competency_views.competency_detail, name="competency"),
        path("membership/centers/<slug:slug>/", competency_views.center_detail, name="center"),
        path("people/", competency_views.people, name="people"),
        path("people/add/", people_views.people_add, name="people-add"),
        path("people/<id:pk>/remove/", competency_views.member_remove_view, name="member-remove"),
        path("people/invitations/<id:pk>/withdraw/", competency_views.invitation_withdraw_view, name="invitation-withdraw"),
        export_path("competencies.csv"),
        export_path("competencies.json"),
        export_path("people.csv"),
        export_path("orders.csv"),
        export_path("redemptions.csv"),
        path("certifications/", competency_views.certifications, name="certifications"),
        path("certifications/profile/", people_views.mcp_id_set, name="mcp-id"),
        path("certifications/associate/", competency_views.associate, name="associate"),
        path("certifications/invitations/<id:pk>/", competency_views.invitation_respond, name="invitation"),
    ],
    "dashboard",
)


@require_safe
def favicon(request):
    # The static URL is read at request time: production's manifest exists only after collectstatic.
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:home", permanent=False)),
    # Browsers ask for /favicon.ico on pages that name no icon (Django admin's).
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/login/", competency_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # A new account's first password: Django's reset-token flow (one use, PASSWORD_RESET_TIMEOUT).
    path(
        "accounts/password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/password_set.html", success_url=reverse_lazy("password-set-done"),
            http_method_names=["get", "head", "post"],
        ),
        name="password-set",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registration/password_set_done.html", http_method_names=["get", "head"]
        ),
        name="password-set-done",
    ),
    path("dashboard/", include(dashboard_patterns)),
    # The public directory: no sign-in.
    path("partners/", membership_views.directory, name="partners"),
    path("partners/<mpn:mpn_id>/", membership_views.partner_profile, name="partner"),
    path("i18n/setlang/", competency_views.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    # The REST API (/api/v1/) and the dashboard's API tokens and webhooks page (api/urls.py).
    path("", include("api.urls")),
]
