from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from competencies.views import request_organization  # the view may have read it already: once per request
from memberships.wording import dashboard_notifications


def organization(request):
    """The signed-in employee's organization, for the layout, and its open notifications for the banner.

    `dashboard_notifications` is lazy: only a page that shows the banner
    (`includes/notifications.html`, every dashboard page) reads it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_organization": None, "dashboard_notifications": []}

    current = request_organization(request)

    def notifications():
        if current is None:
            return []
        return dashboard_notifications(current, day=timezone.localdate())

    return {"current_organization": current, "dashboard_notifications": SimpleLazyObject(notifications)}
