"""Expiring soon (docs/design.md, beyond the seed): the nightly step that warns when a credential or an
override holding an achievement up lapses before the membership term ends.

An `expiring_soon` notification is a banner only (no email), open while the
situation holds and cleared by the first night that no longer finds it.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q

from competencies.dates import last_day
from competencies.engine import evaluate
from competencies.facts import among
from competencies.models import LEVEL_RANK, Association, EarnedCredential, Level, Override
from competencies.rules import covering, credential_valid, credential_valid_on
from competencies.snapshot import catalog_snapshot

from .models import Membership, Notification
from .notify import NotifyResult, clear_open, in_batches, key_digest
from .terms import active_terms


def expiring_soon_refresh(*, organization_ids: Iterable[int], day: datetime.date) -> NotifyResult:
    """docs/design.md, beyond the seed: a milder "expiring soon" warning when a credential or override that
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
    return in_batches(organization_ids, _expiring_batch, day=day)


def _lapsing_overrides(terms: dict[int, Membership], day: datetime.date) -> dict[int, list[tuple[int, str, datetime.date]]]:
    """Per organization: (competency id, level, expiry) of its overrides active on D that expire before its term ends."""
    overrides: dict[int, list[tuple[int, str, datetime.date]]] = defaultdict(list)
    for org_id, competency_id, level, expires_on in (
        Override.objects.filter(
            among("organization_id", terms), state=Override.State.ACTIVE, starts_on__lte=day, expires_on__gt=day
        )
        .order_by()
        .values_list("organization_id", "competency_id", "level", "expires_on")
    ):
        if expires_on < terms[org_id].ends_on:
            overrides[org_id].append((competency_id, level, expires_on))
    return overrides


def _lapsing_credentials(terms: dict[int, Membership], day: datetime.date, catalog) -> dict[int, list[tuple]]:
    """Per organization: (last valid day, employee name, credential id) of valid credentials held by people who
    count for it on D that lapse (expiry or end of acceptance) before its term's last day. Two queries."""
    if not terms or not catalog.credential_codes:
        return {}
    horizon = max(m.ends_on for m in terms.values())
    members: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for employee_id, org_id, name, email in (
        Association.objects.filter(covering(day), among("organization_id", terms))
        .order_by()
        .values_list("employee_id", "organization_id", "employee__name", "employee__email")
    ):
        members[employee_id].append((org_id, name or email))
    retiring = [pk for pk, until in catalog.accepted_until.items() if day < until < horizon]
    lapses: dict[int, list[tuple]] = defaultdict(list)
    for employee_id, credential_id, earned_on, expires_on in (
        EarnedCredential.objects.filter(
            credential_valid(day), among("employee_id", members), among("credential_id", catalog.credential_codes)
        )
        .filter(Q(expires_on__gt=day, expires_on__lt=horizon) | Q(credential_id__in=retiring))
        .order_by()
        .values_list("employee_id", "credential_id", "earned_on", "expires_on")
    ):
        until = catalog.accepted_until.get(credential_id)
        if not credential_valid_on(earned_on, expires_on, until, day):
            continue  # no longer accepted: not valid on D
        ends = [d for d in (expires_on, until) if d is not None]
        if not ends:
            continue
        first_invalid = min(ends)
        for org_id, name in members[employee_id]:
            if first_invalid < terms[org_id].ends_on:
                lapses[org_id].append((last_day(first_invalid), name, credential_id))
    return lapses


def _expiring_batch(chunk: list[int], *, day: datetime.date, result: NotifyResult) -> None:
    terms = active_terms(organization_ids=chunk, day=day)
    catalog = catalog_snapshot()
    overrides = _lapsing_overrides(terms, day)
    lapses = _lapsing_credentials(terms, day, catalog)
    candidates = sorted(set(overrides) | set(lapses))
    wanted = _expiring_wanted(candidates, terms, overrides, lapses, catalog, day=day) if candidates else {}
    result.expiring_soon_cleared += clear_open(
        organization_ids=chunk, kind=Notification.Kind.EXPIRING_SOON, keep=wanted, day=day
    )
    for key, (org_id, m, payload) in wanted.items():
        _notification, created = Notification.objects.get_or_create(
            key=key,
            defaults={"organization_id": org_id, "membership": m, "kind": Notification.Kind.EXPIRING_SOON,
                      "raised_on": day, "payload": payload},
        )
        result.expiring_soon_raised += created


def _expiring_wanted(
    candidates: list[int], terms: dict[int, Membership], overrides: dict, lapses: dict, catalog, *, day: datetime.date
) -> dict[str, tuple[int, Membership, dict]]:
    """The expiring-soon notifications the candidates should have open on D, by key: each evaluated on D and
    again on its term's last day (one engine call per distinct last day)."""
    now = evaluate(organization_ids=candidates, day=day, catalog=catalog)
    by_last_day: dict[datetime.date, list[int]] = defaultdict(list)
    for org_id in candidates:
        by_last_day[last_day(terms[org_id].ends_on)].append(org_id)
    wanted: dict[str, tuple[int, Membership, dict]] = {}
    for term_last_day, org_ids in sorted(by_last_day.items()):
        then = evaluate(organization_ids=org_ids, day=term_last_day, catalog=catalog)
        for org_id in org_ids:
            m = terms[org_id]
            for spec in catalog.competencies:
                found = _expiring(org_id, spec, now[(org_id, spec.id)], then[(org_id, spec.id)],
                                  overrides.get(org_id, []), lapses.get(org_id, []), catalog)
                if found is None:
                    continue
                key = f"expiring_soon:{org_id}:{m.pk}:{spec.id}:" + key_digest(
                    [found["level"], *(f"{x['what']}@{x['last_day']}" for x in found["lapses"])]
                )
                wanted[key] = (org_id, m, {**found, "competency_id": spec.id, "competency": spec.name,
                                           "term_ends_on": m.ends_on.isoformat()})
    return wanted


def _expiring(org_id, spec, now, then, overrides, lapses, catalog) -> dict | None:
    """What lapses before the term ends and takes the achievement down with it, or None."""
    if now.effective_level == Level.NONE or LEVEL_RANK[then.effective_level] >= LEVEL_RANK[now.effective_level]:
        return None
    found = []
    for competency_id, level, expires_on in overrides:
        if competency_id == spec.id and LEVEL_RANK[level] > LEVEL_RANK[now.evaluated_level]:
            found.append({"kind": "override", "what": level, "last_day": last_day(expires_on).isoformat()})
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
            for lapse_day, name, credential_id in sorted(lapses):
                if credential_id in credentials:
                    found.append({"kind": "credential", "what": f"{name}: {catalog.credential_codes[credential_id]}",
                                  "last_day": lapse_day.isoformat()})
    if not found:
        return None
    return {"level": now.effective_level, "drops_to": then.effective_level, "lapses": found}
