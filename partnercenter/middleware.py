"""Middleware of the edge: response headers Django has no setting for, and input no view should ever see."""

import logging
import unicodedata

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse
from django.shortcuts import render

# Django's logger for suspicious requests; one line each, without a traceback (a flood of them is cheap to log).
security_logger = logging.getLogger("django.security.UnreadableInput")


def permissions_policy(get_response):
    """Set `Permissions-Policy` (settings.PERMISSIONS_POLICY): browser features no page uses are turned off."""

    def middleware(request):
        response = get_response(request)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response

    return middleware


class UnreadableInput(SuspiciousOperation):
    """A request whose path, query or form holds a character no page reads (400, logged by django.security)."""


def _control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def _unreadable(request) -> str | None:
    """What is wrong with the request's text, or None.

    No URL or query parameter of the product holds a control character. A
    form's text may (a pasted description), except NUL, which PostgreSQL
    refuses in text: forms are checked for NUL only, the rest is theirs.
    """
    if _control(request.path_info):
        return "a control character in the path"
    for key, values in request.GET.lists():
        if _control(key) or any(_control(v) for v in values):
            return "a control character in the query string"
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, values in request.POST.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return "a NUL character in the form"
    return None


def refuse_unreadable_input(get_response):
    """Answer 400 to a control character in the path or the query string, or a NUL in a posted form.

    Checked once here, before any view, form, filter or query: the database
    refuses NUL in text (a psycopg DataError, a 500), and no page of the
    product reads control characters.
    """

    def middleware(request):
        reason = _unreadable(request)
        if reason:
            security_logger.warning("Bad Request: %s: %s", request.path_info.encode("unicode_escape")[:200], reason)
            if request.path_info.startswith(settings.API_PATH_PREFIX):  # the API answers in problem details (RFC 9457)
                body = {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": reason}
                return JsonResponse(body, status=400, content_type="application/problem+json")
            return render(request, "400.html", {"exception": UnreadableInput(reason)}, status=400)
        return get_response(request)

    return middleware
