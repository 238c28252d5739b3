"""Errors as RFC 9457 problem details (`application/problem+json`), worded in the caller's language."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_TYPE = "https://partnercenter.example/problems/"


class ProblemJSONRenderer(JSONRenderer):
    media_type = "application/problem+json"


class Refused(exceptions.APIException):
    """A rule of the product refused the request (422): nothing changed, `detail` says why."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "refused"


TITLES = {
    400: ("invalid", gettext_lazy("The request is not valid.")),
    401: ("unauthenticated", gettext_lazy("An API token is needed.")),
    403: ("forbidden", gettext_lazy("This token may not do this.")),
    404: ("not-found", gettext_lazy("Not found.")),
    405: ("method-not-allowed", gettext_lazy("Method not allowed.")),
    406: ("not-acceptable", gettext_lazy("The requested format is not offered.")),
    415: ("unsupported-media-type", gettext_lazy("Send JSON.")),
    422: ("refused", gettext_lazy("The request was refused.")),
    429: ("rate-limited", gettext_lazy("Too many requests.")),
}


def problem(status_code: int, detail: str, *, errors=None, headers=None) -> Response:
    slug, title = TITLES.get(status_code, ("error", gettext_lazy("Error.")))
    body = {"type": PROBLEM_TYPE + slug, "title": str(title), "status": status_code, "detail": str(detail)}
    if errors:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers, content_type="application/problem+json")
    return response


def problem_exception_handler(exc, context):
    """Every error the API answers is a problem document; validation errors list the fields in `errors`."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    errors = None
    detail = getattr(exc, "detail", "")
    if isinstance(detail, (dict, list)):
        errors = detail
        detail = _("Some fields are not valid.")
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
    if response.status_code == 429:
        detail = _("Too many requests with this token: wait %(seconds)s seconds.") % {
            "seconds": headers.get("Retry-After", "60")
        }
    return problem(response.status_code, detail, errors=errors, headers=headers)
