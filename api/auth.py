"""Who calls: bearer-token authentication, scopes as permissions, a rate limit per token."""

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from competencies.selectors import is_organization_admin
from competencies.throttle import count_once

from .models import ApiToken
from .tokens import token_find, token_used


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer pc_…`; a missing, unknown or revoked token is 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _sep, raw = header.partition(" ")
        token = token_find(raw.strip()) if keyword == self.keyword else None
        if token is None or token.created_by is None or not token.created_by.is_active:
            raise exceptions.AuthenticationFailed(_("The API token is missing, unknown or revoked."))
        token_used(token=token)
        return token.created_by, token

    def authenticate_header(self, request):
        return self.keyword


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token: pc_<prefix>_<secret>."}


def request_token(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


class HasToken(permissions.BasePermission):
    """Reads need a live token; writes need one with the write scope whose creator still administers the organization."""

    message = _("This call needs an API token.")

    def has_permission(self, request, view):
        token = request_token(request)
        if token is None:
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if token.scope != ApiToken.Scope.WRITE:
            self.message = _("This token may only read: ask your admin for a token with the write scope.")
            return False
        if token.organization is not None and not is_organization_admin(token.created_by, token.organization):
            self.message = _("The token's creator no longer administers the organization.")
            return False
        return True


class TokenRateThrottle(throttling.BaseThrottle):
    """At most API_RATE_LIMIT requests per token per minute (Django's cache); beyond, 429 with Retry-After."""

    window = 60

    def allow_request(self, request, view):
        token = request_token(request)
        if token is None:
            return True
        limit = settings.API_RATE_LIMIT
        window_start = int(timezone.now().timestamp()) // self.window * self.window
        count = count_once(f"api-rate:{token.pk}:{window_start}", timeout=self.window + 5)
        self._wait = window_start + self.window - int(timezone.now().timestamp())
        return count <= limit

    def wait(self):
        return max(getattr(self, "_wait", self.window), 1)
