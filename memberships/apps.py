from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembershipsConfig(AppConfig):
    name = "memberships"
    verbose_name = _("Memberships")

    def ready(self) -> None:
        from competencies import hooks

        from . import activity, receivers

        activity.register()  # the `membership` record type of the activity importer
        hooks.invitation_sent.connect(receivers.invitation_email_queue)
