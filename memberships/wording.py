"""The words of the notifications: the dashboard's banners and the emails say the same thing, in the reader's
language, made when they are shown (or the email rendered) from the codes and ids a notification stores."""

import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from competencies.causes import cause_words
from competencies.dates import last_day
from competencies.formatting import sentences
from competencies.models import Competency, Employee, Level, Organization
from competencies.preferences import email_language

from .models import Notification

# The seed's wording (docs/design.md, "At risk").
AT_RISK_SENTENCE = gettext_lazy(
    "A recent change to your competency achievement has put your membership renewal eligibility at risk."
)
BANNER_KINDS = [Notification.Kind.AT_RISK, Notification.Kind.EXPIRING_SOON, Notification.Kind.RENEWAL_REMINDER]


def _dashboard_url() -> str:
    base = getattr(settings, "SITE_URL", "")
    return f"{base.rstrip('/')}/dashboard/" if base else ""


def _label(level: str) -> str:
    return str(Level(level).label) if level in Level.values else level


def _day(value: str | None) -> str:
    return date_format(datetime.date.fromisoformat(value)) if value else ""


def _competency(item: dict) -> str:
    """The competency a payload names, in the reader's language (the name stored with it when the row is gone)."""
    competency = Competency.objects.filter(pk=item.get("competency_id")).only("name", "names").first()
    return competency.localized_name if competency else item.get("competency", "")


def _item_lines(payload: dict, language: str) -> list[str]:
    lines = []
    for item in payload.get("items", []):
        if item.get("recovered_on"):
            continue
        short = item.get("short", {})
        words = short.get(language) or short.get("en") or []
        lost = (
            _("%(competency)s: %(level)s lost (no level now).") if item["now"] == Level.NONE
            else _("%(competency)s: %(level)s lost (now %(now)s).")
        ) % {"competency": _competency(item), "level": _label(item["level"]), "now": _label(item["now"])}
        short = _("Short: %(words)s.") % {"words": pgettext("list separator", "; ").join(words)} if words else ""
        because = cause_words(item.get("cause_params"))
        cause = _("Cause: %(cause)s.") % {"cause": because} if because else ""
        lines.append(sentences(lost, short, cause))
    return lines


def _renewal_words(payload: dict) -> str:
    level = _label(payload.get("membership_level", ""))
    if payload.get("renewable"):
        return _("You can still renew your %(level)s membership through %(competencies)s.") % {
            "level": level,
            "competencies": ", ".join(payload.get("renewable_through", [])),
        }
    return _(
        "No other competency qualifies for a %(level)s renewal: meet this achievement again before your "
        "term ends on %(end)s."
    ) % {"level": level, "end": _day(payload.get("term_ends_on"))}


def _expiring_words(payload: dict) -> tuple[str, list[str]]:
    text = _(
        "%(competency)s (%(level)s) relies on something that lapses before your membership term ends on %(end)s."
    ) % {"competency": _competency(payload), "level": _label(payload["level"]), "end": _day(payload["term_ends_on"])}
    lines = []
    for lapse in payload.get("lapses", []):
        if lapse["kind"] == "override":
            lines.append(_("The %(level)s override, last day %(day)s.") % {
                "level": _label(lapse["what"]), "day": _day(lapse["last_day"])})
        else:
            lines.append(_("%(holder)s, last valid day %(day)s.") % {"holder": lapse["what"], "day": _day(lapse["last_day"])})
    return text, lines


def _reminder_words(payload: dict) -> str:
    values = {
        "level": _label(payload["level"]),
        "anniversary": _day(payload["anniversary"]),
        "grace": date_format(last_day(datetime.date.fromisoformat(payload["grace_ends_on"]))),
    }
    if payload["when"] == "before":
        return _(
            "Your %(level)s membership reaches its anniversary on %(anniversary)s: renew it from the Membership page."
        ) % values
    return _(
        "Your %(level)s membership ended on %(anniversary)s. Benefits continue until %(grace)s: renew by then or "
        "the membership lapses."
    ) % values


def email_context(notification: Notification, admin: Employee) -> dict:
    """What the email templates need; words are made while the recipient's language is active (email_enqueue)."""
    language = email_language(employee=admin, organization=notification.organization)
    with translation.override(language):
        payload = notification.payload
        context = {
            "admin": admin,
            "organization": notification.organization,
            "notification": notification,
            "dashboard_url": _dashboard_url(),
            "sentence": str(AT_RISK_SENTENCE),
        }
        if notification.kind == Notification.Kind.AT_RISK:
            context["lines"] = _item_lines(payload, language) or _item_lines(
                {"items": [{**i, "recovered_on": None} for i in payload.get("items", [])]}, language
            )
            context["renewal"] = _renewal_words(payload)
            context["competencies"] = ", ".join(_competency(i) for i in payload.get("items", []))
        elif notification.kind == Notification.Kind.RENEWAL_REMINDER:
            context["text"] = _reminder_words(payload)
            context["level"] = _label(payload["level"])
    return context


def dashboard_notifications(organization: Organization, *, day: datetime.date) -> list[dict]:
    """The open notifications the organization's dashboard pages show on D, in the active language.

    An at-risk banner shows until the achievement is met again or the term
    ends (cleared by the nightly run; a term that ended today hides it even
    before that run). Each is `{"css", "text", "lines", "footer"}`. Two queries.
    """
    banners = []
    language = translation.get_language() or "en"
    for notification in (
        Notification.objects.filter(
            organization=organization, kind__in=BANNER_KINDS, cleared_on__isnull=True, raised_on__lte=day
        )
        .filter(Q(membership__isnull=True) | Q(membership__ends_on__gt=day) | ~Q(kind=Notification.Kind.AT_RISK))
        .order_by("-raised_on", "-id")
    ):
        payload = notification.payload
        if notification.kind == Notification.Kind.AT_RISK:
            lines = _item_lines(payload, language)
            if lines:
                banners.append({"kind": notification.kind, "css": "risk", "text": str(AT_RISK_SENTENCE),
                                "lines": lines, "footer": _renewal_words(payload)})
        elif notification.kind == Notification.Kind.EXPIRING_SOON:
            text, lines = _expiring_words(payload)
            banners.append({"kind": notification.kind, "css": "warn", "text": text, "lines": lines, "footer": ""})
        else:
            banners.append({"kind": notification.kind, "css": "info", "text": _reminder_words(payload),
                            "lines": [], "footer": ""})
    return banners
