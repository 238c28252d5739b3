from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PartnerCenterConfig(AppConfig):
    """The layer above both apps: the night, the Celery tasks, the commands that span both apps."""

    name = "partnercenter"
    verbose_name = _("Partner Center")

    def ready(self) -> None:
        from competencies import hooks

        from .tasks import queue_reevaluation

        hooks.reevaluation_requested.connect(queue_reevaluation)
