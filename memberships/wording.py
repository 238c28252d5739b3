"""The words of the notifications: the dashboard's banners and the emails say the same thing, in the reader's
language, made when they are shown (or the email rendered) from the codes and ids a notification stores."""

import datetime

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from competencies.causes import cause_words, localized_value
from competencies.dates import last_day
from competencies.forecast import forecast_words
from competencies.formatting import level_words, sentences
from competencies.models import Competency, EarnedCredential, Employee, Organization
from competencies.preferences import email_language
from competencies.snapshot import catalog_snapshot

from .models import Notification

# The seed's wording (docs/design.md, "At risk").
AT_RISK_SENTENCE = gettext_lazy(
    "A recent change to your competency achievement has put your membership renewal eligibility at risk."
)
BANNER_KINDS = [Notification.Kind.AT_RISK, Notification.Kind.EXPIRING_SOON, Notification.Kind.RENEWAL_REMINDER,
                Notification.Kind.EARLY_WARNING]


def _site(path: str) -> str:
    """An absolute link for the emails (settings.SITE_URL), or "" when no site is configured."""
    base = getattr(settings, "SITE_URL", "")
    return f"{base.rstrip('/')}{path}" if base else ""


def _dashboard_url() -> str:
    return _site(reverse("dashboard:home"))


def _label(level: str) -> str:
    return level_words(level)


def _day(value: str | None) -> str:
    return date_format(datetime.date.fromisoformat(value)) if value else ""


def _competencies(items: list[dict]) -> dict[int, Competency]:
    """The competencies the payload's items name, by id (one query)."""
    return Competency.objects.only("slug", "name", "names").in_bulk([i.get("competency_id") for i in items])


def _competency(item: dict, found: dict[int, Competency] | None = None) -> str:
    """The competency a payload names, in the reader's language (the name stored with it when the row is gone)."""
    found = _competencies([item]) if found is None else found
    competency = found.get(item.get("competency_id"))
    return competency.localized_name if competency else item.get("competency", "")


def _until(value: str | None) -> str:
    """A stored end (the first day without it) said as its last day: the one convention (docs/rules.md)."""
    return date_format(last_day(datetime.date.fromisoformat(value))) if value else ""


def _lost_credentials(items: list[dict]) -> dict[tuple[int, int], list[str]]:
    """Per (employee id, competency id) named by an item's cause, the credentials the person held that the
    competency counts: "70-764 Administering a SQL Database" (one query)."""
    catalog = catalog_snapshot()
    wanted = {(i["cause_params"]["employee_id"], i["competency_id"]) for i in items
              if isinstance(i.get("cause_params"), dict) and i["cause_params"].get("employee_id")}
    if not wanted:
        return {}
    held: dict[tuple[int, int], list[str]] = {}
    rows = (EarnedCredential.objects.filter(employee_id__in={e for e, _c in wanted})
            .order_by("credential__code").values_list("employee_id", "credential_id", "credential__code", "credential__title"))
    for employee_id, credential_id, code, title in rows:
        for e, competency_id in wanted:
            if e == employee_id and credential_id in catalog.credentials_of(competency_id):
                held.setdefault((e, competency_id), []).append(f"{code} {title}".strip())
    return held


def at_risk_items(payload: dict, language: str, *, absolute: bool = False) -> list[dict]:
    """The open items of an at-risk notification, each with what was lost and why, and the next steps:
    `{"text", "competency", "competency_url", "people_url", "fix_by"}` (links absolute for the emails)."""
    items = [i for i in payload.get("items", []) if not i.get("recovered_on")]
    competencies = _competencies(items)
    held = _lost_credentials(items)

    def link(path: str) -> str:
        return _site(path) if absolute else path

    found = []
    for item in items:
        short = item.get("short", {})
        words = short.get(language) or short.get("en") or []
        lost = _("%(competency)s: %(level)s lost (now %(now)s).") % {
            "competency": _competency(item, competencies), "level": _label(item["level"]), "now": _label(item["now"])}
        short = _("Short: %(words)s.") % {"words": pgettext("list separator", "; ").join(words)} if words else ""
        because = cause_words(item.get("cause_params"))
        cause = _("Cause: %(cause)s.") % {"cause": because} if because else ""
        params = item.get("cause_params") or {}
        credentials = held.get((params.get("employee_id"), item["competency_id"]), [])
        had = _("%(name)s held %(credentials)s.") % {
            "name": params.get("name", ""), "credentials": pgettext("list separator", "; ").join(credentials)
        } if credentials else ""
        slug = competencies[item["competency_id"]].slug if item["competency_id"] in competencies else None
        found.append({
            "text": sentences(lost, short, cause, had),
            "competency": _competency(item, competencies),
            "competency_url": link(reverse("dashboard:competency", args=[slug])) if slug else "",
            "people_url": link(reverse("dashboard:people")),
            "fix_by": _until(payload.get("term_ends_on")),
        })
    return found


def _renewal_words(payload: dict) -> str:
    level = _label(payload.get("membership_level", ""))
    if payload.get("renewable"):
        return _("You can still renew your %(level)s membership through %(competencies)s.") % {
            "level": level,
            "competencies": ", ".join(payload.get("renewable_through", [])),
        }
    return _(
        "No other competency qualifies for a %(level)s renewal: meet this achievement again by %(end)s, "
        "your term's last day."
    ) % {"level": level, "end": _until(payload.get("term_ends_on"))}


def _expiring_words(payload: dict) -> tuple[str, list[str]]:
    text = _(
        "%(competency)s (%(level)s) relies on something that lapses before %(end)s, your membership term's last day."
    ) % {"competency": _competency(payload), "level": _label(payload["level"]), "end": _until(payload["term_ends_on"])}
    lines = []
    for lapse in payload.get("lapses", []):
        if lapse["kind"] == "override":
            lines.append(_("The %(level)s override, until %(day)s.") % {
                "level": _label(lapse["what"]), "day": _day(lapse["last_day"])})
        else:
            lines.append(_("%(holder)s, valid until %(day)s.") % {"holder": lapse["what"], "day": _day(lapse["last_day"])})
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


# What to do before a drop, by the kind of fact that causes it (`competencies.forecast.FORECAST_TEMPLATES`).
REMEDIES = {
    "expires": gettext_lazy("Remedy: renew the credential, or certify another person, before %(day)s."),
    "retires": gettext_lazy("Remedy: have someone earn a credential that replaces it before %(day)s."),
    "leaves": gettext_lazy("Remedy: certify another person of the organization before %(day)s."),
    "metric_leaves": gettext_lazy("Remedy: record newer figures for %(metric)s before %(day)s."),
    "override_ends": gettext_lazy("Remedy: meet the level's requirements before the override ends on %(day)s."),
}
OTHER_REMEDY = gettext_lazy("Remedy: meet the level's requirements again before %(day)s.")


def early_warning_words(payload: dict) -> tuple[str, list[str]]:
    """An early warning's sentence and, per drop, its cause and remedy, in the active language."""
    decisive = datetime.date.fromisoformat(payload["decisive_day"])
    text = _(
        "If nothing changes, your %(level)s membership cannot be renewed on %(anniversary)s: from %(day)s no "
        "competency is at %(level)s any more."
    ) % {"level": _label(payload["membership_level"]), "anniversary": _day(payload["anniversary"]),
         "day": date_format(decisive)}
    lines = []
    found = _competencies(payload.get("drops", []))
    for drop in payload.get("drops", []):
        params = drop.get("cause_params") or {}
        day = datetime.date.fromisoformat(drop["day"])
        change = _("%(day)s: %(competency)s %(old)s → %(new)s.") % {
            "day": date_format(day), "competency": _competency(drop, found), "old": _label(drop["old"]),
            "new": _label(drop["new"])}
        because = forecast_words(params)
        cause = _("Cause: %(cause)s.") % {"cause": because} if because else ""
        remedy = REMEDIES.get(params.get("kind"), OTHER_REMEDY)
        metric = localized_value("metric", params) if "metric" in params else ""
        lines.append(sentences(change, cause, str(remedy) % {"day": date_format(day), "metric": metric}))
    return text, lines


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
            items = at_risk_items(payload, language, absolute=True) or at_risk_items(
                {**payload, "items": [{**i, "recovered_on": None} for i in payload.get("items", [])]}, language,
                absolute=True,
            )
            context["items"] = items
            context["lines"] = [item["text"] for item in items]
            context["renewal"] = _renewal_words(payload)
            found = _competencies(payload.get("items", []))
            context["competencies"] = ", ".join(_competency(i, found) for i in payload.get("items", []))
        elif notification.kind == Notification.Kind.EARLY_WARNING:
            context["text"], context["lines"] = early_warning_words(payload)
            context["level"] = _label(payload["membership_level"])
        elif notification.kind == Notification.Kind.RENEWAL_REMINDER:
            context["text"] = _reminder_words(payload)
            context["level"] = _label(payload["level"])
    return context


def dashboard_notifications(organization: Organization, *, day: datetime.date) -> list[dict]:
    """The open notifications the organization's dashboard pages show on D, in the active language.

    An at-risk banner shows until the achievement is met again or the term
    ends (cleared by the nightly run; a term that ended today hides it even
    before that run). Each is `{"css", "text", "lines", "footer"}`; an at-risk one also
    has its `items` with their links (`at_risk_items`).
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
            items = at_risk_items(payload, language)
            if items:
                banners.append({"kind": notification.kind, "css": "risk", "text": str(AT_RISK_SENTENCE),
                                "items": items, "lines": [item["text"] for item in items],
                                "footer": _renewal_words(payload)})
        elif notification.kind == Notification.Kind.EXPIRING_SOON:
            text, lines = _expiring_words(payload)
            banners.append({"kind": notification.kind, "css": "warn", "text": text, "lines": lines, "footer": ""})
        elif notification.kind == Notification.Kind.EARLY_WARNING:
            text, lines = early_warning_words(payload)
            banners.append({"kind": notification.kind, "css": "warn", "text": text, "lines": lines, "footer": ""})
        else:
            banners.append({"kind": notification.kind, "css": "info", "text": _reminder_words(payload),
                            "lines": [], "footer": ""})
    return banners
