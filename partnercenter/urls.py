"""The URL map: the whole product at a glance (docs/interfaces.md, "Pages")."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from competencies import views as competency_views
from memberships import views as membership_views

dashboard_patterns = (
    [
        path("", membership_views.dashboard_home, name="home"),
        path("membership/", membership_views.membership_overview, name="membership"),
        path("membership/buy/", membership_views.membership_buy, name="membership-buy"),
        path("membership/upgrade/", membership_views.membership_upgrade, name="membership-upgrade"),
        path("membership/renew/", membership_views.membership_renew, name="membership-renew"),
        path("membership/orders/<int:pk>/", membership_views.order_detail, name="order"),
        path("membership/benefits/", membership_views.benefits, name="benefits"),
        path("membership/benefits/maps/", membership_views.maps_buy, name="maps-buy"),
        path("membership/benefits/<slug:slug>/redeem/", membership_views.benefit_redeem, name="redeem"),
        path("membership/benefits/redemptions/<int:pk>/", membership_views.redemption_detail, name="redemption"),
        path("profile/", membership_views.profile, name="profile"),
        path("membership/competencies/", competency_views.competency_list, name="competencies"),
        path("membership/competencies/<slug:slug>/", competency_views.competency_detail, name="competency"),
        path("membership/centers/<slug:slug>/", competency_views.center_detail, name="center"),
        path("people/", competency_views.people, name="people"),
        path("people/<int:pk>/remove/", competency_views.member_remove_view, name="member-remove"),
        path("people/invitations/<int:pk>/withdraw/", competency_views.invitation_withdraw_view, name="invitation-withdraw"),
        path("certifications/", competency_views.certifications, name="certifications"),
        path("certifications/associate/", competency_views.associate, name="associate"),
        path("certifications/invitations/<int:pk>/", competency_views.invitation_respond, name="invitation"),
    ],
    "dashboard",
)

def favicon(request):
    # The static URL is read at request time: production's manifest exists only after collectstatic.
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:home", permanent=False)),
    # Browsers ask for /favicon.ico on pages that name no icon (Django admin's).
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/login/", competency_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("dashboard/", include(dashboard_patterns)),
    # The public directory: no sign-in.
    path("partners/", membership_views.directory, name="partners"),
    path("partners/<str:mpn_id>/", membership_views.partner_profile, name="partner"),
    path("i18n/setlang/", competency_views.set_language, name="set_language"),
    path("admin/", admin.site.urls),
]
