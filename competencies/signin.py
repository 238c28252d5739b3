"""Sign-in throttling hooks for django-axes (settings: AXES_*; docs/rules.md, "Accounts and access").

Axes counts failed sign-ins per email and address and refuses the email
from that address for a while once there are too many. Two choices are
ours: the email is counted as it is stored (lower case, trimmed), so
changing its case is not a fresh start; and the lockout page says only
that there were too many failed sign-ins, never whether the email exists.
"""

from django.conf import settings
from django.shortcuts import render


def signin_username(request, credentials: dict | None = None) -> str:
    """The email a sign-in attempt is counted under: trimmed and in lower case, as emails are stored."""
    source = credentials if credentials else getattr(request, "POST", {})
    return str(source.get(settings.AXES_USERNAME_FORM_FIELD) or "").strip().lower()


def signin_locked_out(request, original_response=None, credentials: dict | None = None):
    """The page a locked-out sign-in gets (429): wait, then try again. The same for every email."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
