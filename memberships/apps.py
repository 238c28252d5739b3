from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembershipsConfig(AppConfig):
    name = "memberships"
    verbose_name = _("Memberships")

    def ready(self) -> None:
        from competencies import catalog as competency_catalog
        from competencies import hooks

        from . import activity, catalog, exports, receivers

        activity.register()  # the `membership` record type of the activity importer
        exports.register()  # orders and redemptions, downloaded from the dashboard and admin
        hooks.invitation_sent.connect(receivers.invitation_email_queue)
        hooks.association_ended.connect(receivers.departure_email_queue)
        hooks.account_created.connect(receivers.account_email_queue)
        # Memberships' part of the catalog file, checked and written by load_catalog after the competencies.
        competency_catalog.register_section("memberships", parse=catalog.parse_plans, load=catalog.load_plans)
        competency_catalog.register_section("benefits", parse=catalog.parse_benefits, load=catalog.load_benefits)
