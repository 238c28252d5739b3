"""Achievements at risk (docs/design.md, "At risk"): the rule, and the nightly step that raises and clears
the at-risk notifications and queues their emails.

An `at_risk` notification is raised once per new loss, emailed once to the
organization's admins, and shows on its dashboard pages while open. It is
cleared when every achievement it lists is met again ("back on track"
email) or when the term ends (no email).
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import translation

from competencies.engine import batched, evaluate
from competencies.facts import among
from competencies.models import LEVEL_RANK, Competency, Level, Organization, StatusChange
from competencies.snapshot import catalog_snapshot

from .displayed import levels_reached_in_terms
from .models import Membership, Notification
from .notify import NotifyResult, email_admins, in_batches, key_digest, languages, organization_admins
from .tasks import deliver_on_commit
from .terms import active_terms

# ---------------------------------------------------------------------------
# The rule: achievements at risk on D


@dataclass(frozen=True)
class LastChange:
    """The latest recorded change of one organization × competency up to D: its level on D and why."""

    level: str
    day: datetime.date
    cause: str
    cause_params: dict


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
    for org_id, competency_id, changed_on, level, cause, params in (
        StatusChange.objects.filter(among("organization_id", organization_ids), day__lte=day)
        .order_by("day", "id")
        .values_list("organization_id", "competency_id", "day", "new_effective", "cause", "cause_params")
    ):
        last[org_id][competency_id] = LastChange(level, changed_on, cause, params)
    return last


def achievements_at_risk(*, organization_ids: Iterable[int], day: datetime.date) -> dict[int, OrganizationRisk]:
    """docs/design.md: "An achievement at risk on D: O has an active membership, competency C reached level L during
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
    """Organizations evaluated as of D or later (their marker, `statuses_as_of`): their history up to D is complete.

    A notification is never raised or cleared from a stale status: an
    organization whose batch has not run (or failed) waits for it.
    """
    return set(
        Organization.objects.filter(among("id", organization_ids), statuses_as_of__gte=day).values_list("pk", flat=True)
    )


def _short_words(pairs: dict[int, list[tuple[int, str]]], day: datetime.date) -> dict[tuple[int, int], dict]:
    """Per organization × competency at risk, the engine's words for what the lost level lacks, in every language.

    The option of the lost level with the best progress, its unmet
    requirements' gaps ("1 more person with AZ-305"). One engine call per
    language, for the organizations at risk only.
    """
    words: dict[tuple[int, int], dict] = defaultdict(dict)
    catalog = catalog_snapshot()
    for language in languages():
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

    docs/design.md: "When one or more achievements of O become at risk, the
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
    return in_batches(organization_ids, _at_risk_batch, day=day)


def _at_risk_batch(chunk: list[int], *, day: datetime.date, result: NotifyResult) -> None:
    locked = list(Organization.objects.select_for_update().filter(among("id", chunk)).order_by("pk").values_list("pk", flat=True))
    fresh = _evaluated_as_of(locked, day)
    result.skipped_stale += len(set(locked) - fresh)
    renewed = _renewed_terms(locked, day)
    risks = {
        org_id: risk for org_id, risk in achievements_at_risk(organization_ids=fresh, day=day).items()
        if (org_id, risk.membership.ends_on) not in renewed  # renewed already: its renewal is no longer at risk
    }
    covered, recovered = _review_open(locked, fresh, risks, renewed, day=day, result=result)
    new_losses = {
        org_id: [i for i in risk.items if (i.competency_id, i.level) not in covered[org_id]]
        for org_id, risk in risks.items()
    }
    new_losses = {org_id: items for org_id, items in new_losses.items() if items}
    admins = organization_admins({*new_losses, *(n.organization_id for n in recovered)})

    email_ids: list[int] = []
    for notification in recovered:
        result.at_risk_cleared += 1
        email_ids += email_admins(notification, admins.get(notification.organization_id, []),
                                  template="back_on_track", key=f"back_on_track:{notification.pk}")
    if new_losses:
        email_ids += _raise_new_losses(new_losses, risks, admins, day=day, result=result)
    result.emails_queued += len(email_ids)
    deliver_on_commit(email_ids)


def _renewed_terms(organization_ids: list[int], day: datetime.date) -> set[tuple[int, datetime.date]]:
    """(organization id, day) pairs where a term bought before D starts later: the term ending that day is renewed."""
    return set(
        Membership.objects.filter(among("organization_id", organization_ids), starts_on__gt=day)
        .order_by()
        .values_list("organization_id", "starts_on")
    )


def _clear(notification: Notification, day: datetime.date, because: str) -> None:
    notification.cleared_on = day
    notification.payload = {**notification.payload, "cleared_because": because}
    notification.save(update_fields=["cleared_on", "payload"])


def _review_open(
    locked: list[int], fresh: set[int], risks: dict[int, OrganizationRisk], renewed: set, *, day: datetime.date,
    result: NotifyResult,
) -> tuple[dict[int, set[tuple[int, str]]], list[Notification]]:
    """Go over the open at-risk notifications: clear those whose term is over or renewed, mark the items met
    again, and bring the items still at risk up to date (level now, cause, what is short, the term's end).

    Returns, per organization, the achievements still listed by an open
    notification (not a new loss), and the notifications now wholly recovered.
    """
    covered: dict[int, set[tuple[int, str]]] = defaultdict(set)
    recovered: list[Notification] = []
    stale_words: list[tuple[Notification, dict]] = []
    names = dict(Competency.objects.values_list("pk", "name")) if risks else {}
    for notification in Notification.objects.filter(
        among("organization_id", locked), kind=Notification.Kind.AT_RISK, cleared_on__isnull=True
    ).select_related("membership"):
        org_id, m = notification.organization_id, notification.membership
        if m is None or not (m.starts_on <= day < m.ends_on):
            # "until the achievement is met again or the term ends": the term it was raised in is over
            # (an upgrade ends the Silver term that day too). No email: there is nothing to act on.
            _clear(notification, day, "term_ended")
            result.at_risk_cleared += 1
            continue
        if (org_id, m.ends_on) in renewed:
            _clear(notification, day, "renewed")  # renewed: the renewal it warned about is done
            result.at_risk_cleared += 1
            continue
        if org_id not in fresh:
            continue
        risk = risks.get(org_id)
        if risk is not None:
            stale_words += _bring_up_to_date(notification, risk, names)
        if _mark_recovered(notification, {(i.competency_id, i.level) for i in risk.items} if risk else set(),
                           covered[org_id], day=day):
            recovered.append(notification)
    if stale_words:
        _rewrite_short_words(stale_words, day)
    return covered, recovered


def _bring_up_to_date(
    notification: Notification, risk: OrganizationRisk, names: dict[int, str]
) -> list[tuple[Notification, dict]]:
    """Update the open items still at risk from the current state (saved with the notification); the items
    whose level now changed, whose engine words must be made again."""
    now = {i.competency_id: i for i in risk.items}
    notification.payload.update(_term_fields(risk, names))
    changed = []
    for item in notification.payload.get("items", []):
        current = now.get(item["competency_id"])
        if item.get("recovered_on") or current is None or current.level != item["level"]:
            continue
        fields = _item_fields(current)
        if fields["now"] != item["now"]:
            changed.append((notification, item))
        item.update(fields)
    notification.save(update_fields=["payload"])
    return changed


def _rewrite_short_words(items: list[tuple[Notification, dict]], day: datetime.date) -> None:
    pairs: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for notification, item in items:
        pairs[notification.organization_id].append((item["competency_id"], item["level"]))
    words = _short_words(pairs, day)
    for notification, item in items:
        item["short"] = words.get((notification.organization_id, item["competency_id"]), {})
        notification.save(update_fields=["payload"])


def _mark_recovered(
    notification: Notification, at_risk: set[tuple[int, str]], covered: set[tuple[int, str]], *, day: datetime.date
) -> bool:
    """Mark the notification's items met again on D (adding those still at risk to `covered`); True when that
    recovers the last of them and clears it."""
    changed = False
    for item in notification.payload.get("items", []):
        if item.get("recovered_on"):
            continue
        if (item["competency_id"], item["level"]) in at_risk:
            covered.add((item["competency_id"], item["level"]))
        else:
            item["recovered_on"] = day.isoformat()
            changed = True
    if not changed:
        return False
    cleared = all(i.get("recovered_on") for i in notification.payload.get("items", []))
    if cleared:
        notification.cleared_on = day
        notification.payload["cleared_because"] = "recovered"
    notification.save(update_fields=["cleared_on", "payload"])
    return cleared


def _raise_new_losses(
    new_losses: dict[int, list[AtRiskItem]],
    risks: dict[int, OrganizationRisk],
    admins: dict,
    *,
    day: datetime.date,
    result: NotifyResult,
) -> list[int]:
    """One new notification per organization listing its new losses, emailed to its admins; the emails' ids."""
    words = _short_words({org_id: [(i.competency_id, i.level) for i in items] for org_id, items in new_losses.items()}, day)
    names = dict(Competency.objects.values_list("pk", "name"))
    email_ids: list[int] = []
    for org_id, items in new_losses.items():
        notification = _raise_at_risk(org_id, risks[org_id], items, words=words, names=names, day=day)
        if notification is None:
            continue
        result.at_risk_raised += 1
        email_ids += email_admins(notification, admins.get(org_id, []), template="at_risk", key=f"at_risk:{notification.pk}")
    return email_ids


def _term_fields(risk: OrganizationRisk, names: dict[int, str]) -> dict:
    """The term the notification warns about and whether another competency still holds its level
    (`renewable_through`), as of the current state."""
    membership = risk.membership
    at_risk_ids = {i.competency_id for i in risk.items}
    through = sorted(
        (names.get(c, str(c)) for c, level in risk.effective.items()
         if c not in at_risk_ids and LEVEL_RANK[level] >= LEVEL_RANK[membership.level]),
        key=str.lower,
    )
    return {
        "membership_level": membership.level,
        "term_ends_on": membership.ends_on.isoformat(),
        "renewable": bool(through),
        "renewable_through": through,
    }


def _item_fields(i: AtRiskItem) -> dict:
    """An item's level now and the change that caused it, as codes and parameters."""
    return {
        "now": i.now,
        "cause": i.change.cause if i.change else "",
        "cause_params": i.change.cause_params if i.change else {},
        "changed_on": i.change.day.isoformat() if i.change else None,
    }


def _at_risk_payload(
    org_id: int, risk: OrganizationRisk, items: list[AtRiskItem], *, words: dict, names: dict[int, str]
) -> dict:
    """What the notification stores: codes, ids, days and the engine's gap words; its sentences are made when
    shown (`wording`). `renewable_through`: the other competencies that still hold the membership's level."""
    return {
        **_term_fields(risk, names),
        "items": [
            {
                "competency_id": i.competency_id,
                "competency": names.get(i.competency_id, str(i.competency_id)),
                "level": i.level,
                "short": words.get((org_id, i.competency_id), {}),
                **_item_fields(i),
            }
            for i in items
        ],
    }


def _raise_at_risk(
    org_id: int,
    risk: OrganizationRisk,
    items: list[AtRiskItem],
    *,
    words: dict,
    names: dict[int, str],
    day: datetime.date,
) -> Notification | None:
    """The notification of these new losses, or None when a run of the same day already raised it."""
    membership = risk.membership
    key = f"at_risk:{org_id}:{membership.pk}:{day.isoformat()}:" + key_digest(
        f"{i.competency_id}:{i.level}" for i in items
    )
    notification, created = Notification.objects.get_or_create(
        key=key,
        defaults={
            "organization_id": org_id,
            "membership": membership,
            "kind": Notification.Kind.AT_RISK,
            "raised_on": day,
            "payload": _at_risk_payload(org_id, risk, items, words=words, names=names),
        },
    )
    return notification if created else None
