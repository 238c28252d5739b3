"""Response headers Django has no setting for. The rest (CSP, HSTS, nosniff, framing) are Django's own."""

from django.conf import settings


def permissions_policy(get_response):
    """Set `Permissions-Policy` (settings.PERMISSIONS_POLICY): browser features no page uses are turned off."""

    def middleware(request):
        response = get_response(request)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response

    return middleware
