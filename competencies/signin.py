"""Sign-in throttling hooks for django-axes (settings: AXES_*; docs/rules.md, "Accounts and access").

Axes counts failed sign-ins per email and address and refuses the email
from that address for a while once there are too many. Two choices are
ours: the email is counted under its canonical form, the one stored
(competencies/identity.py), so no spelling of it (case, fullwidth letters,
a dotless ı, spaces) is a fresh start; and the lockout page says only that
there were too many failed sign-ins, never whether the email exists.
"""

from django.conf import settings
from django.shortcuts import render

from .identity import email_key


def signin_username(request, credentials: dict | None = None) -> str:
    """The key a sign-in attempt is counted under: the email's canonical form, as sign-in looks it up."""
    source = credentials if credentials else getattr(request, "POST", {})
    return email_key(str(source.get(settings.AXES_USERNAME_FORM_FIELD) or ""))


def signin_locked_out(request, original_response=None, credentials: dict | None = None):
    """The page a locked-out sign-in gets (429): wait, then try again. The same for every email."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
