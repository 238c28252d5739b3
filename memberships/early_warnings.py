"""Early warnings (docs/rules.md, "Early warnings"): the nightly step that warns a member organization 90, 30
and 7 days before the day its membership would stop qualifying for renewal if nothing new happens.

It reads the stored forecast through the renewal outlook (`eligibility.renewal_outlooks`): the decisive
day is the first day from which no competency is at the membership's level any more. One notification
per term and stage (90, 30, 7), emailed once to the admins (rows first, the same outbox as the at-risk
notification); a later stage clears the earlier one's banner; all clear when the forecast no longer shows
the drop (no email).
"""

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from competencies.engine import batched
from competencies.facts import among
from competencies.models import Organization

from .eligibility import RenewalOutlook, renewal_outlooks
from .models import Notification
from .notify import email_admins, organization_admins
from .tasks import deliver_on_commit

# "a warning 90, 30 and 7 days before that day", largest first.
WARNING_STAGES = (90, 30, 7)


def warning_stage(*, decisive_day: datetime.date, day: datetime.date) -> int | None:
    """The stage due on D for a drop on `decisive_day`: the smallest of 90, 30, 7 that is at least the days
    left (90 from 90 to 31 days before, 30 from 30 to 8, 7 from 7 to 1); None more than 90 days before
    (or once the day has come: the at-risk notification takes over)."""
    left = (decisive_day - day).days
    if left < 1 or left > WARNING_STAGES[0]:
        return None
    return min(stage for stage in WARNING_STAGES if stage >= left)


def warning_payload(outlook: RenewalOutlook, stage: int) -> dict:
    """What the words need: codes, ids and days only (the words are made when shown, in the reader's language)."""
    return {
        "stage": stage,
        "membership_level": outlook.membership.level,
        "anniversary": outlook.anniversary.isoformat(),
        "decisive_day": outlook.decisive_day.isoformat(),
        "drops": [
            {"competency_id": d.competency_id, "competency": d.competency.name, "day": d.day.isoformat(),
             "old": d.old_effective, "new": d.new_effective, "cause": d.cause, "cause_params": d.cause_params}
            for d in outlook.drops
        ],
    }


def early_warnings_refresh(*, organization_ids: Iterable[int], day: datetime.date) -> dict:
    """Step 3 of the night (and a change of the day once committed): raise, update and clear early warnings.

    Rule: a member organization (a term active on D) whose renewal outlook
    is not renewable has a decisive day, the first day from which no
    competency is at the membership's level. On D the stage due is the one
    of 90, 30, 7 whose window holds the days left (`warning_stage`); its
    notification (key `early_warning:<term>:<stage>`, so at most once per
    term and stage) is raised and emailed to the admins, each in their
    language. The open warnings of the term's other stages are cleared (the
    banner shows the latest). A warning whose drop is gone from the forecast
    is cleared, without email; the same stage seen again later reopens its
    banner but never emails again (the email keys). Per batch, one
    transaction, the organizations locked in id order. Idempotent.
    """
    result = {"early_warnings_raised": 0, "early_warnings_cleared": 0, "emails_queued": 0}
    for chunk in batched(organization_ids, settings.EVALUATION_BATCH_SIZE):
        with transaction.atomic():
            _batch(list(chunk), day=day, result=result)
    return result


def _batch(chunk: list[int], *, day: datetime.date, result: dict) -> None:
    locked = list(Organization.objects.select_for_update().filter(among("id", chunk)).order_by("pk").values_list("pk", flat=True))
    wanted: dict[str, tuple[RenewalOutlook, int]] = {}
    for outlook in renewal_outlooks(organization_ids=locked, day=day).values():
        stage = warning_stage(decisive_day=outlook.decisive_day, day=day) if outlook.decisive_day else None
        if stage is not None:
            wanted[f"early_warning:{outlook.membership.pk}:{stage}"] = (outlook, stage)
    for notification in Notification.objects.filter(
        among("organization_id", locked), kind=Notification.Kind.EARLY_WARNING, cleared_on__isnull=True
    ).exclude(key__in=list(wanted)):
        notification.cleared_on = day
        notification.save(update_fields=["cleared_on"])
        result["early_warnings_cleared"] += 1
    existing = {n.key: n for n in Notification.objects.filter(key__in=list(wanted))}
    raised: list[Notification] = []
    for key, (outlook, stage) in wanted.items():
        payload = warning_payload(outlook, stage)
        notification = existing.get(key)
        if notification is None:
            notification = Notification.objects.create(
                key=key, organization_id=outlook.organization_id, membership=outlook.membership,
                kind=Notification.Kind.EARLY_WARNING, raised_on=day, payload=payload,
            )
            raised.append(notification)
            result["early_warnings_raised"] += 1
        elif notification.cleared_on is not None or notification.payload != payload:
            notification.cleared_on = None  # the drop is back (or moved): the banner shows it, no new email
            notification.payload = payload
            notification.save(update_fields=["cleared_on", "payload"])
    admins = organization_admins({n.organization_id for n in raised})
    email_ids: list[int] = []
    for notification in raised:
        email_ids += email_admins(notification, admins.get(notification.organization_id, []),
                                  template="early_warning", key=notification.key)
    result["emails_queued"] += len(email_ids)
    deliver_on_commit(email_ids)
