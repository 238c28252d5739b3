"""Notifications (DESIGN.md, "At risk" and "Membership") and the delivery of their emails.

Rows first: a notification and its emails are written in one transaction
by the nightly steps below; sending is a separate step that claims each
email row (`email_deliver`), queued once the transaction commits. Nothing
here reads the clock: the day (and, for delivery, the instant) is a
parameter.

Kinds, and when they show on the organization's dashboard pages (open
while `cleared_on` is empty):

- `at_risk`: an achievement of the current term is lost. Raised once per
  new loss, emailed once to the organization's admins, cleared when every
  achievement it lists is met again ("back on track" email) or when the
  term ends (no email).
- `expiring_soon`: a credential or an override that holds an achievement
  up lapses before the term ends. Banner only; cleared when it no longer
  holds.
- `renewal_reminder`: 15 days before and 23 days after the anniversary,
  unless renewed; banner and email; cleared by the renewal or when its
  window is over.
"""

import datetime
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from competencies.causes import cause_words
from partnercenter.formatting import sentences
from competencies.evaluation import batched, catalog_snapshot, evaluate
from competencies.models import (
    LEVEL_RANK,
    Association,
    Competency,
    CompetencyStatus,
    EarnedCredential,
    Employee,
    Level,
    Organization,
    Override,
    StatusChange,
)

from .emails import email_enqueue, message_id
from .models import Membership, Notification, OutboundEmail
from .selectors import active_terms, levels_reached_in_terms

log = logging.getLogger(__name__)

ONE_DAY = datetime.timedelta(days=1)
# The seed's wording (DESIGN.md, "At risk").
AT_RISK_SENTENCE = gettext_lazy(
    "A recent change to your competency achievement has put your membership renewal eligibility at risk."
)
REMINDER_BEFORE_DAYS = 15  # "Reminders go out 15 days before …
REMINDER_AFTER_DAYS = 23  # … and 23 days after the anniversary."
GRACE_DAYS = 30  # "until 30 days after it"

BANNER_KINDS = [Notification.Kind.AT_RISK, Notification.Kind.EXPIRING_SOON, Notification.Kind.RENEWAL_REMINDER]


@dataclass
class NotifyResult:
    """What one notification step did, for the nightly log and the tests."""

    at_risk_raised: int = 0
    at_risk_cleared: int = 0
    expiring_soon_raised: int = 0
    expiring_soon_cleared: int = 0
    reminders_raised: int = 0
    reminders_cleared: int = 0
    emails_queued: int = 0
    skipped_stale: int = 0  # organizations not yet evaluated as of the day: left for their batch

    def add(self, other: "NotifyResult") -> "NotifyResult":
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def _languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def _key_digest(parts: Iterable[str]) -> str:
    return hashlib.sha1("|".join(sorted(parts)).encode()).hexdigest()[:16]


def _admins(organization_ids: Iterable[int]) -> dict[int, list[Employee]]:
    """The active admins of each organization (one query), who receive its emails."""
    through = Organization.admins.through
    admins: dict[int, list[Employee]] = defaultdict(list)
    for row in (
        through.objects.filter(organization_id__in=list(organization_ids), employee__is_active=True)
        .select_related("employee")
        .order_by("organization_id", "employee_id")
    ):
        admins[row.organization_id].append(row.employee)
    return admins


def _dashboard_url() -> str:
    base = getattr(settings, "SITE_URL", "")
    return f"{base.rstrip('/')}/dashboard/" if base else ""


# ---------------------------------------------------------------------------
# The rule: achievements at risk on D


@dataclass(frozen=True)
class LastChange:
    """The latest recorded change of one organization × competency up to D: its level on D and why."""

    level: str
    day: datetime.date
    cause: str
    cause_detail: str


@dataclass
class AtRiskItem:
    competency_id: int
    level: str  # reached in the term, as the membership counts it
    now: str  # effective on D
    change: LastChange | None


@dataclass
class OrganizationRisk:
    membership: Membership
    items: list[AtRiskItem]
    effective: dict[int, str]  # competency id -> effective level on D (those with a recorded level)


def _last_changes(organization_ids: list[int], day: datetime.date) -> dict[int, dict[int, LastChange]]:
    """Per organization and competency, the latest recorded change up to D: the effective level on D (one query).

    Every change of effective level is recorded with its day, so the latest
    change up to D gives the level on D, whatever day the stored status is
    as of now; no row means it never left `none`.
    """
    last: dict[int, dict[int, LastChange]] = defaultdict(dict)
    for org_id, competency_id, changed_on, level, cause, detail in (
        StatusChange.objects.filter(organization_id__in=organization_ids, day__lte=day)
        .order_by("day", "id")
        .values_list("organization_id", "competency_id", "day", "new_effective", "cause", "cause_detail")
    ):
        last[org_id][competency_id] = LastChange(level, changed_on, cause, detail)
    return last


def achievements_at_risk(*, organization_ids: Iterable[int], day: datetime.date) -> dict[int, OrganizationRisk]:
    """DESIGN.md: "An achievement at risk on D: O has an active membership, competency C reached level L during
    the current term, and C's effective level on D is below L."

    Active: `starts_on <= D < ends_on` (so nothing is at risk during the
    grace after the anniversary). L is the highest effective level C reached
    in the term (`levels_reached_in_terms`: the level held entering the term
    counts), counted as the membership shows it: a Silver member's Gold is
    Silver, so a Silver member losing Gold for Silver has nothing at risk
    (its Silver renewal still stands). Organizations with nothing at risk are
    left out. Three queries per 5,000 organizations.
    """
    risks: dict[int, OrganizationRisk] = {}
    for chunk in batched(organization_ids, 5000):
        terms = active_terms(organization_ids=chunk, day=day)
        if not terms:
            continue
        reached = levels_reached_in_terms(terms={org_id: (m.starts_on, day) for org_id, m in terms.items()})
        last = _last_changes(list(terms), day)
        for (org_id, competency_id), level in sorted(reached.items()):
            membership = terms[org_id]
            if LEVEL_RANK[level] > LEVEL_RANK[membership.level]:
                level = membership.level
            change = last[org_id].get(competency_id)
            now = change.level if change else Level.NONE
            if LEVEL_RANK[now] >= LEVEL_RANK[level]:
                continue
            if org_id not in risks:
                effective = {c: ch.level for c, ch in last[org_id].items()}
                risks[org_id] = OrganizationRisk(membership=membership, items=[], effective=effective)
            risks[org_id].items.append(AtRiskItem(competency_id, level, now, change))
    return risks


def at_risk_flags(*, organization_ids: Iterable[int], day: datetime.date) -> set[tuple[int, int]]:
    """The `(organization_id, competency_id)` pairs whose achievement is at risk on D (the export's `at_risk`)."""
    return {
        (org_id, item.competency_id)
        for org_id, risk in achievements_at_risk(organization_ids=organization_ids, day=day).items()
        for item in risk.items
    }


# ---------------------------------------------------------------------------
# Step 3 of the night: raise and clear at-risk notifications, queue their emails


def _evaluated_as_of(organization_ids: list[int], day: datetime.date) -> set[int]:
    """Organizations whose stored status is as of D or later: their history up to D is complete.

    A notification is never raised or cleared from a stale status: an
    organization whose batch has not run (or failed) waits for it.
    """
    ids = list(organization_ids)
    if not ids:
        return set()
    return set(
        # The range says the same as the list, in words the planner reads even when its statistics are
        # stale: without it PostgreSQL may scan every status (12 s a batch at 100,000 organizations).
        CompetencyStatus.objects.filter(
            organization_id__in=ids, organization_id__gte=min(ids), organization_id__lte=max(ids), as_of__gte=day
        )
        .order_by()
        .values_list("organization_id", flat=True)
        .distinct()
    )


def _short_words(pairs: dict[int, list[tuple[int, str]]], day: datetime.date) -> dict[tuple[int, int], dict]:
    """Per organization × competency at risk, the engine's words for what the lost level lacks, in every language.

    The option of the lost level with the best progress, its unmet
    requirements' gaps ("1 more person with AZ-305"). One engine call per
    language, for the organizations at risk only.
    """
    words: dict[tuple[int, int], dict] = defaultdict(dict)
    catalog = catalog_snapshot()
    for language in _languages():
        with translation.override(language):
            results = evaluate(organization_ids=list(pairs), day=day, details=True, catalog=catalog)
        for org_id, items in pairs.items():
            for competency_id, level in items:
                result = results.get((org_id, competency_id))
                options = [o for o in result.options if o.level == level] if result else []
                best = max(options, key=lambda o: o.progress, default=None)
                words[(org_id, competency_id)][language] = (
                    [r.gap for r in best.requirements if not r.met and r.gap] if best else []
                )
    return words


def at_risk_refresh(*, organization_ids: Iterable[int], day: datetime.date) -> NotifyResult:
    """Nightly job 3: raise and clear at-risk notifications; queue their emails.

    DESIGN.md: "When one or more achievements of O become at risk, the
    nightly run raises one notification with the seed's wording … listing
    each at-risk competency, the level lost, the requirement now short and
    the change that caused it, and whether the current membership level can
    still be renewed through another competency. It shows on every dashboard
    page of O until the achievement is met again or the term ends, and it is
    emailed once to O's admins. A later run that finds the same situation
    sends nothing more; a new loss raises a new notification; recovery
    clears it (and may send a "back on track" email)."

    An achievement is the same while it is listed, not recovered, by an open
    notification of the organization: nothing new. One that is not (never
    listed, or recovered since) is a new loss: one new notification lists
    every such achievement of the organization. An item met again is marked
    recovered; when all of a notification's items are, it is cleared and a
    "back on track" email goes to the admins. When the term it was raised in
    ends (or is replaced by an upgrade), it is cleared without an email. Per
    batch of organizations, in one transaction, the organizations' rows
    locked (in id order, as the status refresh does) so a duplicated task
    waits and then finds nothing to do. Idempotent.
    """
    result = NotifyResult()
    for chunk in batched(organization_ids, settings.EVALUATION_BATCH_SIZE):
        with transaction.atomic():
            _at_risk_batch(chunk, day=day, result=result)
    return result


def _at_risk_batch(chunk: list[int], *, day: datetime.date, result: NotifyResult) -> None:
    locked = list(Organization.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk", flat=True))
    fresh = _evaluated_as_of(locked, day)
    result.skipped_stale += len(set(locked) - fresh)
    risks = achievements_at_risk(organization_ids=fresh, day=day)
    at_risk_now = {org_id: {(i.competency_id, i.level) for i in risk.items} for org_id, risk in risks.items()}

    covered: dict[int, set[tuple[int, str]]] = defaultdict(set)
    cleared: list[Notification] = []
    for notification in Notification.objects.filter(
        organization_id__in=locked, kind=Notification.Kind.AT_RISK, cleared_on__isnull=True
    ).select_related("membership"):
        org_id, m = notification.organization_id, notification.membership
        if m is None or not (m.starts_on <= day < m.ends_on):
            # "until the achievement is met again or the term ends": the term it was raised in is over
            # (an upgrade ends the Silver term that day too). No email: there is nothing to act on.
            notification.cleared_on = day
            notification.payload = {**notification.payload, "cleared_because": "term_ended"}
            notification.save(update_fields=["cleared_on", "payload"])
            result.at_risk_cleared += 1
            continue
        if org_id not in fresh:
            continue
        changed = False
        for item in notification.payload.get("items", []):
            if item.get("recovered_on"):
                continue
            if (item["competency_id"], item["level"]) in at_risk_now.get(org_id, set()):
                covered[org_id].add((item["competency_id"], item["level"]))
            else:
                item["recovered_on"] = day.isoformat()
                changed = True
        if not changed:
            continue
        if all(i.get("recovered_on") for i in notification.payload.get("items", [])):
            notification.cleared_on = day
            notification.payload["cleared_because"] = "recovered"
            cleared.append(notification)
        notification.save(update_fields=["cleared_on", "payload"])

    new_losses = {
        org_id: [i for i in risk.items if (i.competency_id, i.level) not in covered[org_id]]
        for org_id, risk in risks.items()
    }
    new_losses = {org_id: items for org_id, items in new_losses.items() if items}
    admins = _admins({*new_losses, *(n.organization_id for n in cleared)})
    email_ids: list[int] = []

    for notification in cleared:
        result.at_risk_cleared += 1
        for admin in admins.get(notification.organization_id, []):
            email = email_enqueue(
                key=f"back_on_track:{notification.pk}:{admin.pk}",
                to_email=admin.email,
                template="back_on_track",
                context=_email_context(notification, admin),
                language=admin.language or "en",
                notification=notification,
            )
            email_ids.append(email.pk)

    if new_losses:
        words = _short_words(
            {org_id: [(i.competency_id, i.level) for i in items] for org_id, items in new_losses.items()}, day
        )
        names = dict(Competency.objects.values_list("pk", "name"))
        for org_id, items in new_losses.items():
            risk = risks[org_id]
            notification = _raise_at_risk(org_id, risk, items, words=words, names=names, day=day)
            if notification is None:
                continue
            result.at_risk_raised += 1
            for admin in admins.get(org_id, []):
                email = email_enqueue(
                    key=f"at_risk:{notification.pk}:{admin.pk}",
                    to_email=admin.email,
                    template="at_risk",
                    context=_email_context(notification, admin),
                    language=admin.language or "en",
                    notification=notification,
                )
                email_ids.append(email.pk)
    result.emails_queued += len(email_ids)
    email_deliver_on_commit(email_ids)


def _raise_at_risk(
    org_id: int,
    risk: OrganizationRisk,
    items: list[AtRiskItem],
    *,
    words: dict,
    names: dict[int, str],
    day: datetime.date,
) -> Notification | None:
    membership = risk.membership
    at_risk_ids = {i.competency_id for i in risk.items}
    through = sorted(
        (names.get(c, str(c)) for c, level in risk.effective.items()
         if c not in at_risk_ids and LEVEL_RANK[level] >= LEVEL_RANK[membership.level]),
        key=str.lower,
    )
    payload = {
        "membership_level": membership.level,
        "term_ends_on": membership.ends_on.isoformat(),
        "renewable": bool(through),
        "renewable_through": through,
        "items": [
            {
                "competency_id": i.competency_id,
                "competency": names.get(i.competency_id, str(i.competency_id)),
                "level": i.level,
                "now": i.now,
                "short": words.get((org_id, i.competency_id), {}),
                "cause": i.change.cause if i.change else "",
                "cause_detail": i.change.cause_detail if i.change else "",
                "changed_on": i.change.day.isoformat() if i.change else None,
            }
            for i in items
        ],
    }
    key = f"at_risk:{org_id}:{membership.pk}:{day.isoformat()}:" + _key_digest(
        f"{i.competency_id}:{i.level}" for i in items
    )
    notification, created = Notification.objects.get_or_create(
        key=key,
        defaults={
            "organization_id": org_id,
            "membership": membership,
            "kind": Notification.Kind.AT_RISK,
            "raised_on": day,
            "payload": payload,
        },
    )
    return notification if created else None


# ---------------------------------------------------------------------------
# Step 3, beyond the seed: "expiring soon"


def expiring_soon_refresh(*, organization_ids: Iterable[int], day: datetime.date) -> NotifyResult:
    """DESIGN.md, beyond the seed: a milder "expiring soon" warning when a credential or override that
    currently holds an achievement up will lapse before the term ends.

    For organizations with an active term, candidates first (set-based):
    an active override, or a valid credential of the competencies held by
    someone who counts for the organization, whose last day comes before
    the term's last day. Those organizations only are evaluated again as of
    the term's last day (the engine, one call per distinct last day); an
    achievement whose effective level would then be lower is expiring soon
    when an override held it up and lapses, or when a people requirement it
    relies on would no longer hold (a metric sliding out of its window is
    not a lapse: new figures will come). Banner only, no email. One open
    notification per organization × competency × situation; cleared when it
    no longer holds. Idempotent.
    """
    result = NotifyResult()
    for chunk in batched(organization_ids, settings.EVALUATION_BATCH_SIZE):
        with transaction.atomic():
            _expiring_batch(chunk, day=day, result=result)
    return result


def _lapsing_credentials(terms: dict[int, Membership], day: datetime.date, catalog) -> dict[int, list[tuple]]:
    """Per organization: (last valid day, employee name, credential id) of valid credentials held by people who
    count for it on D that lapse (expiry or end of acceptance) before its term's last day. Two queries."""
    if not terms or not catalog.credential_codes:
        return {}
    horizon = max(m.ends_on for m in terms.values())
    members: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for employee_id, org_id, name, email in (
        Association.objects.filter(organization_id__in=list(terms), starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gt=day))
        .order_by()
        .values_list("employee_id", "organization_id", "employee__name", "employee__email")
    ):
        members[employee_id].append((org_id, name or email))
    retiring = [pk for pk, until in catalog.accepted_until.items() if day < until < horizon]
    lapses: dict[int, list[tuple]] = defaultdict(list)
    for employee_id, credential_id, expires_on in (
        EarnedCredential.objects.filter(
            employee_id__in=list(members), credential_id__in=list(catalog.credential_codes), earned_on__lte=day
        )
        .filter(Q(expires_on__gt=day, expires_on__lt=horizon) | Q(credential_id__in=retiring))
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gt=day))
        .order_by()
        .values_list("employee_id", "credential_id", "expires_on")
    ):
        until = catalog.accepted_until.get(credential_id)
        if until is not None and until <= day:
            continue  # no longer accepted: not valid on D
        ends = [d for d in (expires_on, until) if d is not None]
        if not ends:
            continue
        first_invalid = min(ends)
        for org_id, name in members[employee_id]:
            if first_invalid < terms[org_id].ends_on:
                lapses[org_id].append((first_invalid - ONE_DAY, name, credential_id))
    return lapses


def _expiring_batch(chunk: list[int], *, day: datetime.date, result: NotifyResult) -> None:
    terms = active_terms(organization_ids=chunk, day=day)
    catalog = catalog_snapshot()
    overrides: dict[int, list[tuple[int, str, datetime.date]]] = defaultdict(list)
    for org_id, competency_id, level, expires_on in (
        Override.objects.filter(
            organization_id__in=list(terms), state=Override.State.ACTIVE, starts_on__lte=day, expires_on__gt=day
        )
        .order_by()
        .values_list("organization_id", "competency_id", "level", "expires_on")
    ):
        if expires_on < terms[org_id].ends_on:
            overrides[org_id].append((competency_id, level, expires_on))
    lapses = _lapsing_credentials(terms, day, catalog)
    candidates = sorted(set(overrides) | set(lapses))

    wanted: dict[str, tuple[int, Membership, dict]] = {}
    if candidates:
        now = evaluate(organization_ids=candidates, day=day, catalog=catalog)
        by_last_day: dict[datetime.date, list[int]] = defaultdict(list)
        for org_id in candidates:
            by_last_day[terms[org_id].ends_on - ONE_DAY].append(org_id)
        for last_day, org_ids in sorted(by_last_day.items()):
            then = evaluate(organization_ids=org_ids, day=last_day, catalog=catalog)
            for org_id in org_ids:
                for spec in catalog.competencies:
                    found = _expiring(org_id, spec, now[(org_id, spec.id)], then[(org_id, spec.id)],
                                      overrides.get(org_id, []), lapses.get(org_id, []), catalog)
                    if found is None:
                        continue
                    m = terms[org_id]
                    key = f"expiring_soon:{org_id}:{m.pk}:{spec.id}:" + _key_digest(
                        [found["level"], *(f"{x['what']}@{x['last_day']}" for x in found["lapses"])]
                    )
                    wanted[key] = (org_id, m, {**found, "competency_id": spec.id, "competency": spec.name,
                                               "term_ends_on": m.ends_on.isoformat()})

    for notification in Notification.objects.filter(
        organization_id__in=chunk, kind=Notification.Kind.EXPIRING_SOON, cleared_on__isnull=True
    ).exclude(key__in=list(wanted)):
        notification.cleared_on = day
        notification.save(update_fields=["cleared_on"])
        result.expiring_soon_cleared += 1
    for key, (org_id, m, payload) in wanted.items():
        _notification, created = Notification.objects.get_or_create(
            key=key,
            defaults={"organization_id": org_id, "membership": m, "kind": Notification.Kind.EXPIRING_SOON,
                      "raised_on": day, "payload": payload},
        )
        result.expiring_soon_raised += created


def _expiring(org_id, spec, now, then, overrides, lapses, catalog) -> dict | None:
    """What lapses before the term ends and takes the achievement down with it, or None."""
    if now.effective_level == Level.NONE or LEVEL_RANK[then.effective_level] >= LEVEL_RANK[now.effective_level]:
        return None
    found = []
    for competency_id, level, expires_on in overrides:
        if competency_id == spec.id and LEVEL_RANK[level] > LEVEL_RANK[now.evaluated_level]:
            found.append({"kind": "override", "what": level, "last_day": (expires_on - ONE_DAY).isoformat()})
    if LEVEL_RANK[then.evaluated_level] < LEVEL_RANK[now.evaluated_level]:
        later = {o.option_id: o for o in then.options}
        people_short = any(
            r.kind == "certified_people" and not r.met
            for o in now.options
            if o.met and LEVEL_RANK[o.level] >= LEVEL_RANK[now.evaluated_level]
            for r in later[o.option_id].requirements
        )
        if people_short:
            credentials = catalog.credentials_of(spec.id)
            for last_day, name, credential_id in sorted(lapses):
                if credential_id in credentials:
                    found.append({"kind": "credential", "what": f"{name}: {catalog.credential_codes[credential_id]}",
                                  "last_day": last_day.isoformat()})
    if not found:
        return None
    return {"level": now.effective_level, "drops_to": then.effective_level, "lapses": found}


# ---------------------------------------------------------------------------
# Step 4 of the night: renewal reminders


def renewal_reminders_send(*, organization_ids: Iterable[int], day: datetime.date) -> NotifyResult:
    """Nightly job 4: "Reminders go out 15 days before and 23 days after the anniversary" (DESIGN.md, "Membership").

    A term's anniversary is its `ends_on`. Not renewed (no later term of the
    organization, not replaced by an upgrade): the "before" reminder is due
    from 15 days before the anniversary until the day before it, the
    "after" one from 23 days after it until the grace ends (30 days after):
    a night that did not run on the exact day still sends it, once
    (`key` per term and reminder). Each is a banner and an email to the
    admins; a renewal or the end of its window clears it. A lapsed
    membership needs no change of row: its state is derived from its dates
    (active, grace, lapsed). Idempotent.
    """
    result = NotifyResult()
    for chunk in batched(organization_ids, settings.EVALUATION_BATCH_SIZE):
        with transaction.atomic():
            _reminders_batch(chunk, day=day, result=result)
    return result


def _reminders_batch(chunk: list[int], *, day: datetime.date, result: NotifyResult) -> None:
    near = list(
        Membership.objects.filter(
            organization_id__in=chunk,
            superseded_by__isnull=True,
            ends_on__gt=day - datetime.timedelta(days=GRACE_DAYS),
            ends_on__lte=day + datetime.timedelta(days=REMINDER_BEFORE_DAYS),
        ).order_by("organization_id", "ends_on")
    )
    later_terms: dict[int, list[datetime.date]] = defaultdict(list)
    if near:
        for org_id, starts_on in Membership.objects.filter(
            organization_id__in={m.organization_id for m in near}, starts_on__gte=min(m.ends_on for m in near)
        ).values_list("organization_id", "starts_on"):
            later_terms[org_id].append(starts_on)
    wanted: dict[str, tuple[Membership, str]] = {}
    for m in near:
        if any(starts_on >= m.ends_on for starts_on in later_terms[m.organization_id]):
            continue  # renewed
        if m.ends_on - datetime.timedelta(days=REMINDER_BEFORE_DAYS) <= day < m.ends_on:
            wanted[f"renewal_reminder:{m.pk}:before"] = (m, "before")
        elif m.ends_on + datetime.timedelta(days=REMINDER_AFTER_DAYS) <= day < m.ends_on + datetime.timedelta(days=GRACE_DAYS):
            wanted[f"renewal_reminder:{m.pk}:after"] = (m, "after")

    for notification in Notification.objects.filter(
        organization_id__in=chunk, kind=Notification.Kind.RENEWAL_REMINDER, cleared_on__isnull=True
    ).exclude(key__in=list(wanted)):
        notification.cleared_on = day
        notification.save(update_fields=["cleared_on"])
        result.reminders_cleared += 1
    existing = set(Notification.objects.filter(key__in=list(wanted)).values_list("key", flat=True))
    due = {key: value for key, value in wanted.items() if key not in existing}
    admins = _admins({m.organization_id for m, _when in due.values()})
    email_ids = []
    for key, (m, when) in due.items():
        notification, created = Notification.objects.get_or_create(
            key=key,
            defaults={
                "organization_id": m.organization_id,
                "membership": m,
                "kind": Notification.Kind.RENEWAL_REMINDER,
                "raised_on": day,
                "payload": {
                    "when": when,
                    "level": m.level,
                    "anniversary": m.ends_on.isoformat(),
                    "grace_ends_on": (m.ends_on + datetime.timedelta(days=GRACE_DAYS)).isoformat(),
                },
            },
        )
        if not created:
            continue
        result.reminders_raised += 1
        for admin in admins.get(m.organization_id, []):
            email = email_enqueue(
                key=f"{key}:{admin.pk}",
                to_email=admin.email,
                template="renewal_reminder",
                context=_email_context(notification, admin),
                language=admin.language or "en",
                notification=notification,
            )
            email_ids.append(email.pk)
    result.emails_queued += len(email_ids)
    email_deliver_on_commit(email_ids)


# ---------------------------------------------------------------------------
# Words: the banner and the emails say the same thing, in the reader's language


def _label(level: str) -> str:
    return str(Level(level).label) if level in Level.values else level


def _day(value: str | None) -> str:
    return date_format(datetime.date.fromisoformat(value)) if value else ""


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
        ) % {"competency": item["competency"], "level": _label(item["level"]), "now": _label(item["now"])}
        short = _("Short: %(words)s.") % {"words": pgettext("list separator", "; ").join(words)} if words else ""
        cause = _("Cause: %(cause)s.") % {"cause": cause_words(item["cause_detail"])} if item.get("cause_detail") else ""
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
    ) % {"competency": payload["competency"], "level": _label(payload["level"]), "end": _day(payload["term_ends_on"])}
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
        "grace": _day((datetime.date.fromisoformat(payload["grace_ends_on"]) - ONE_DAY).isoformat()),
    }
    if payload["when"] == "before":
        return _(
            "Your %(level)s membership reaches its anniversary on %(anniversary)s: renew it from the Membership page."
        ) % values
    return _(
        "Your %(level)s membership ended on %(anniversary)s. Benefits continue until %(grace)s: renew by then or "
        "the membership lapses."
    ) % values


def _email_context(notification: Notification, admin: Employee) -> dict:
    """What the email templates need; words are made while the recipient's language is active (email_enqueue)."""
    language = admin.language or "en"
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
            context["competencies"] = ", ".join(i["competency"] for i in payload.get("items", []))
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


# ---------------------------------------------------------------------------
# Email delivery: claim a row, send it, mark it. Never sent twice.
#
# A row is claimed by moving it from `pending` to `sending` (on PostgreSQL a
# `SELECT … FOR UPDATE SKIP LOCKED` of the pending row first, so concurrent
# workers pass over each other's rows; on SQLite the conditional UPDATE is
# the claim). Only the claimer sends. A refused send puts the row back to
# `pending` with the error and one more attempt; after MAX_ATTEMPTS it is
# `failed` and stays for a person to look at. A worker that dies between
# the claim and the mark leaves the row in `sending`: after STUCK_AFTER it is
# reclaimed and sent again. That window (the SMTP server accepted the
# message, the worker died before the UPDATE) is the one way an email can
# go out twice; the Message-ID is derived from the row, so mail clients that
# deduplicate by Message-ID show it once.

MAX_ATTEMPTS = 10
STUCK_AFTER = datetime.timedelta(minutes=15)


@dataclass
class Delivery:
    outcome: str  # sent | retry | failed | skipped
    attempts: int = 0


def _mark_claimed(queryset, *, now: datetime.datetime) -> int:
    return queryset.filter(status=OutboundEmail.Status.PENDING).update(
        status=OutboundEmail.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )


def email_claim(*, email_id: int, now: datetime.datetime) -> OutboundEmail | None:
    """Claim one pending email for sending; None when it is not pending (sent, or another worker has it)."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            row = (
                OutboundEmail.objects.select_for_update(skip_locked=True)
                .filter(pk=email_id, status=OutboundEmail.Status.PENDING)
                .values_list("pk", flat=True)
                .first()
            )
            if row is None or not _mark_claimed(OutboundEmail.objects.filter(pk=row), now=now):
                return None
    elif not _mark_claimed(OutboundEmail.objects.filter(pk=email_id), now=now):
        return None
    return OutboundEmail.objects.get(pk=email_id)


def email_claim_next(*, now: datetime.datetime, exclude: Iterable[int] = ()) -> OutboundEmail | None:
    """Claim the oldest pending email (leaving out `exclude`); None when there is none left."""
    pending = OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING).exclude(pk__in=list(exclude))
    if connection.vendor == "postgresql":
        with transaction.atomic():
            row = pending.select_for_update(skip_locked=True).order_by("created_at", "id").values_list("pk", flat=True).first()
            if row is None:
                return None
            _mark_claimed(OutboundEmail.objects.filter(pk=row), now=now)
        return OutboundEmail.objects.get(pk=row)
    while True:
        row = pending.order_by("created_at", "id").values_list("pk", flat=True).first()
        if row is None:
            return None
        if _mark_claimed(OutboundEmail.objects.filter(pk=row), now=now):
            return OutboundEmail.objects.get(pk=row)


def email_send(email: OutboundEmail) -> None:
    """Send one claimed email through Django's mail (the `default` mailer, from EMAIL_URL): plain text and HTML."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">") or "partnercenter.localhost"
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to_email],
        headers={"Message-ID": message_id(email, domain)},  # unique across restores (memberships/emails.py)
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    message.send(using="default")


def _deliver_claimed(email: OutboundEmail, *, now: datetime.datetime) -> Delivery:
    try:
        email_send(email)
    except Exception as exc:  # noqa: BLE001 - any refusal keeps the row for a later attempt
        status = OutboundEmail.Status.FAILED if email.attempts >= MAX_ATTEMPTS else OutboundEmail.Status.PENDING
        OutboundEmail.objects.filter(pk=email.pk, status=OutboundEmail.Status.SENDING).update(
            status=status, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        log.warning("email %s not sent (attempt %s): %s", email.pk, email.attempts, exc)
        return Delivery("failed" if status == OutboundEmail.Status.FAILED else "retry", email.attempts)
    OutboundEmail.objects.filter(pk=email.pk, status=OutboundEmail.Status.SENDING).update(
        status=OutboundEmail.Status.SENT, sent_at=now, last_error=""
    )
    return Delivery("sent", email.attempts)


def email_deliver(*, email_id: int, now: datetime.datetime) -> Delivery:
    """Claim, send and mark one email. `retry` when the server refused it (the row is pending again)."""
    email = email_claim(email_id=email_id, now=now)
    if email is None:
        return Delivery("skipped")
    return _deliver_claimed(email, now=now)


def emails_reclaim_stuck(*, now: datetime.datetime, older_than: datetime.timedelta = STUCK_AFTER) -> int:
    """Rows left in `sending` by a worker that died: back to `pending` (see above: the one duplicate window)."""
    return OutboundEmail.objects.filter(status=OutboundEmail.Status.SENDING, claimed_at__lt=now - older_than).update(
        status=OutboundEmail.Status.PENDING, last_error="reclaimed: the worker that claimed it did not finish"
    )


def emails_deliver_pending(*, now: datetime.datetime, limit: int = 1000) -> dict:
    """Reclaim stuck rows, then claim and send pending emails one at a time, each tried at most once per run."""
    counts = {"reclaimed": emails_reclaim_stuck(now=now), "sent": 0, "retry": 0, "failed": 0}
    tried: list[int] = []
    while len(tried) < limit:
        email = email_claim_next(now=now, exclude=tried)
        if email is None:
            break
        tried.append(email.pk)
        counts[_deliver_claimed(email, now=now).outcome] += 1
    return counts


def email_deliver_on_commit(email_ids: Iterable[int]) -> None:
    """Queue delivery of these emails once the current transaction commits (nothing is sent from inside it)."""
    from .tasks import deliver_email

    ids = sorted({int(i) for i in email_ids})
    if not ids:
        return

    def enqueue():
        for pk in ids:
            deliver_email.delay(pk)

    transaction.on_commit(enqueue, robust=True)
