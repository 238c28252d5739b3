"""API tokens: created (shown once), looked up by prefix and checked by keyed hash, revoked, counted."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from competencies.models import Employee, Organization

from .models import ApiToken

TOKEN_PREFIX = "pc"


class TokenError(ValueError):
    """A token request the rules refuse; the message says why."""


def token_digest(raw: str) -> str:
    """HMAC-SHA256 of the whole token, keyed with SECRET_KEY: a stolen table reveals no usable token."""
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()


def token_create(*, organization: Organization | None, name: str, scope: str, by: Employee) -> tuple[ApiToken, str]:
    """A new token for the organization (None: an agent's staff token); returns the row and the raw token, shown once.

    The name is required (at most 100 characters) and the scope is read or write.
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise TokenError(_("Give the token a name of at most 100 characters."))
    if scope not in ApiToken.Scope.values:
        raise TokenError(_("Choose the scope read or write."))
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        organization=organization, name=name, scope=scope, prefix=prefix, digest=token_digest(raw), created_by=by
    )
    return token, raw


def token_revoke(*, token: ApiToken) -> ApiToken:
    """A revoked token is refused from its next request on; revoking twice changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_find(raw: str) -> ApiToken | None:
    """The live token `raw` is, or None (unknown, malformed, wrong secret, revoked)."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.select_related("organization", "created_by").filter(prefix=parts[1]).first()
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.digest, token_digest(raw)):
        return None
    return token


def token_used(*, token: ApiToken) -> None:
    """Each request is logged on its token: last used, request count (one UPDATE, no race)."""
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now(), request_count=F("request_count") + 1)


def tokens_of(organization: Organization) -> list[ApiToken]:
    return list(ApiToken.objects.filter(organization=organization).select_related("created_by"))
