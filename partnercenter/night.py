"""The night: its order written once, and the steps it runs for each range of organizations.

    1. expire overrides whose `expires_on` has come, recording the reversion;
    2. evaluate every organization as of the day, recording every change of level;
    2b. forecast: store, per organization, the changes of level the coming year holds if nothing
       new happens (`competencies.forecast`);
    3. notify: raise and clear at-risk, expiring-soon and early-warning notifications, queue their emails;
    4. remind: renewal reminders (a membership's state — active, grace, lapsed — is derived
       from its dates, so lapsing needs no write);
    5. send the emails queued.

`night()` is that order. `run_nightly(day=…)` runs it synchronously
(`manage.py run_nightly --date`); the Celery tasks (`partnercenter.tasks`)
run it through the broker, one chain evaluate → forecast → notify → remind per range of
organization ids that any number of workers share; the catch-up runs it
again, evaluating only the ranges that are not yet evaluated as of the day (the forecast,
notify and remind steps run again for every range: idempotent; the forecast leaves alone the
organizations already forecast as of the day).
Steps 3 and 4 for an organization depend only on its own step 2, so a range
is notified as soon as it is evaluated: no barrier waits for every range.

Idempotent and crash-safe: every step writes in per-batch transactions and
decides what to write by comparing with what is stored (statuses, history,
notification keys, email keys), so a night run twice changes nothing the
second time, and a night killed halfway and run again ends as if it had run
once.
"""

import bisect
import datetime
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from competencies.forecast_store import forecast_refresh
from competencies.models import Organization
from competencies.overrides import overrides_expire
from competencies.statuses import RefreshResult, statuses_refresh
from memberships.at_risk import at_risk_refresh
from memberships.early_warnings import early_warnings_refresh
from memberships.expiring import expiring_soon_refresh
from memberships.outbox import emails_deliver_pending
from memberships.reminders import renewal_reminders_send

log = logging.getLogger(__name__)

Range = tuple[int, int | None]
# The steps each range of organizations goes through, in order.
RANGE_STEPS = ("evaluate", "forecast", "notify", "remind")


@dataclass
class NightlyReport:
    """What a synchronous night did, for `run_nightly`'s output and the log."""

    day: datetime.date
    overrides_expired: int = 0
    ranges: int = 0
    refresh: RefreshResult = field(default_factory=RefreshResult)
    notify: dict = field(default_factory=dict)
    emails: dict = field(default_factory=dict)

    def add(self, step: str, part) -> None:
        if step == "evaluate":
            for name, value in vars(part).items():
                setattr(self.refresh, name, getattr(self.refresh, name) + value)
        else:
            for key, value in part.items():
                self.notify[key] = self.notify.get(key, 0) + value

    def summary(self) -> str:
        refresh, notify = self.refresh, self.notify
        sent = (
            f", {self.emails.get('sent', 0)} sent, {self.emails.get('retry', 0)} to retry" if self.emails else ""
        )
        return (
            f"{self.day}: {self.overrides_expired} overrides expired; {refresh.organizations - refresh.carried} organizations "
            f"evaluated in {self.ranges} ranges and {refresh.carried} carried over unchanged, {refresh.changes} level changes, "
            f"{notify.get('forecast_changes', 0)} forecast changes written; "
            f"at risk +{notify.get('at_risk_raised', 0)}/-{notify.get('at_risk_cleared', 0)}, "
            f"expiring soon +{notify.get('expiring_soon_raised', 0)}/-{notify.get('expiring_soon_cleared', 0)}, "
            f"renewal reminders +{notify.get('reminders_raised', 0)}; {notify.get('emails_queued', 0)} emails queued"
            + sent
        )


def night(
    *,
    day: datetime.date,
    run_range: Callable[[Sequence[str], int, int | None], None],
    send: Callable[[], object],
    catch_up: bool = False,
    on_range: Callable[[int, int], None] | None = None,
) -> dict:
    """The night of `day`, in order: expire, then every range through RANGE_STEPS, then send.

    `run_range(steps, first_id, last_id)` runs (or queues) the steps for one
    range; `send()` sends (or queues the sending of) the pending emails. With
    `catch_up`, a range whose organizations are all evaluated as of `day`
    skips step 2: the catch-up re-runs what a lost message or a killed
    worker left undone, and steps 3 and 4 are cheap and idempotent.
    """
    expired = expire_overrides(day=day)
    ranges = list(organization_ranges())
    stale = ranges_holding(organizations_not_evaluated(day=day), ranges) if catch_up else set(ranges)
    for done, (first_id, last_id) in enumerate(ranges, start=1):
        steps = RANGE_STEPS if (first_id, last_id) in stale else RANGE_STEPS[1:]
        run_range(steps, first_id, last_id)
        if on_range is not None:
            on_range(done, len(ranges))  # a command's progress: ranges done of all
    send()
    return {"day": day.isoformat(), "overrides_expired": expired, "ranges": len(ranges), "ranges_evaluated": len(stale)}


def run_nightly(
    *, day: datetime.date, now: datetime.datetime | None = None, on_range: Callable[[int, int], None] | None = None
) -> NightlyReport:
    """The night of `day`, synchronously: the same order and steps the Celery tasks run.

    With `now` (the command passes the clock), the pending emails are sent
    here, claimed one at a time; without it they are left to the delivery
    tasks queued when they were written.
    """
    report = NightlyReport(day=day)

    def run_range(steps: Sequence[str], first_id: int, last_id: int | None) -> None:
        for step in steps:
            report.add(step, STEPS[step](first_id=first_id, last_id=last_id, day=day))

    def send() -> None:
        if now is not None:
            report.emails = emails_deliver_pending(now=now)

    done = night(day=day, run_range=run_range, send=send, on_range=on_range)
    report.overrides_expired, report.ranges = done["overrides_expired"], done["ranges"]
    log.info("night of %s", report.summary())
    return report


def expire_overrides(*, day: datetime.date) -> int:
    """Step 1: expire overrides whose `expires_on` has come; record the reversion (see `overrides_expire`)."""
    return len(overrides_expire(day=day))


def evaluate_range(
    *, first_id: int, last_id: int | None, day: datetime.date, cause: str | None = None, cause_params: dict | None = None
) -> RefreshResult:
    """Step 2 for one range: re-evaluate its organizations as of `day`, recording every change with its cause.

    Set-based (`statuses_refresh`: a handful of queries per batch); causes
    are inferred from what changed since the stored status, unless `cause`
    names it (a catalog change: every organization evaluated). Otherwise an
    organization whose facts did not change since the night before is carried
    to the day unevaluated (`carry_forward`, docs/rules.md).
    """
    return statuses_refresh(
        organization_ids=range_ids(first_id=first_id, last_id=last_id), day=day, cause=cause, cause_params=cause_params,
        carry=cause is None,
    )


def forecast_range(*, first_id: int, last_id: int | None, day: datetime.date) -> dict:
    """Step 2b for one range: store the forecast of its organizations as of `day` (after step 2, before
    step 3, whose early warnings read it)."""
    return {"forecast_changes": forecast_refresh(organization_ids=range_ids(first_id=first_id, last_id=last_id), day=day)}


def notify(*, organization_ids: list[int], day: datetime.date) -> dict:
    """Step 3 for some organizations: raise and clear at-risk notifications and queue their emails; expiring soon;
    early warnings (which read the forecast of step 2b)."""
    result = at_risk_refresh(organization_ids=organization_ids, day=day)
    result.add(expiring_soon_refresh(organization_ids=organization_ids, day=day))
    found = vars(result)
    for name, value in early_warnings_refresh(organization_ids=organization_ids, day=day).items():
        found[name] = found.get(name, 0) + value
    return found


def notify_range(*, first_id: int, last_id: int | None, day: datetime.date) -> dict:
    """Step 3 for one range."""
    return notify(organization_ids=range_ids(first_id=first_id, last_id=last_id), day=day)


def remind_range(*, first_id: int, last_id: int | None, day: datetime.date) -> dict:
    """Step 4 for one range: renewal reminders 15 days before and 23 days after the anniversary."""
    return vars(renewal_reminders_send(organization_ids=range_ids(first_id=first_id, last_id=last_id), day=day))


STEPS = {"evaluate": evaluate_range, "forecast": forecast_range, "notify": notify_range, "remind": remind_range}


def reevaluate(
    *, organization_ids: list[int], day: datetime.date, cause: str | None = None, cause_params: dict | None = None
) -> dict:
    """A change of the day, once committed: re-evaluate the organizations it touched, then their notifications.

    The banner, the pages and the emails say the same thing at the same
    moment: the re-evaluation a change triggers also raises, alters or
    clears its at-risk and expiring-soon notifications, not the next night; and their forecast
    is computed again in between (the early warnings read it).
    """
    result = vars(statuses_refresh(organization_ids=organization_ids, day=day, cause=cause, cause_params=cause_params))
    result["forecast_changes"] = forecast_refresh(organization_ids=organization_ids, day=day, whole=True)
    result.update(notify(organization_ids=organization_ids, day=day))
    return result


def organization_ranges(*, size: int | None = None) -> Iterator[Range]:
    """Ranges `(first_id, last_id)` of about `size` organizations each (default EVALUATION_BATCH_SIZE), in id order.

    The last range is open-ended (`last_id` None): an organization created
    while the night runs is evaluated too. One query, streamed.
    """
    size = size or settings.EVALUATION_BATCH_SIZE
    first = previous = None
    count = 0
    for pk in Organization.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=10_000):
        if first is None:
            first = pk
        count += 1
        if count == size:
            yield first, pk
            first, count = None, 0
        previous = pk
    if first is not None:
        yield first, None
    elif previous is not None:
        # The ranges ended on a full one: still leave the end open for organizations created meanwhile.
        yield previous + 1, None


def range_ids(*, first_id: int, last_id: int | None) -> list[int]:
    queryset = Organization.objects.filter(pk__gte=first_id)
    if last_id is not None:
        queryset = queryset.filter(pk__lte=last_id)
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def organizations_not_evaluated(*, day: datetime.date) -> set[int]:
    """Organizations not evaluated as of `day` (or later): their step 2 has not run.

    Each organization's marker (`statuses_as_of`) says how far evaluation
    has got for all its statuses at once: one query.
    """
    return set(
        Organization.objects.filter(Q(statuses_as_of__isnull=True) | Q(statuses_as_of__lt=day)).values_list("pk", flat=True)
    )


def ranges_holding(ids: set[int], ranges: list[Range]) -> set[Range]:
    """The ranges that hold at least one of `ids` (a binary search per range)."""
    ordered = sorted(ids)
    found = set()
    for first_id, last_id in ranges:
        at = bisect.bisect_left(ordered, first_id)
        if at < len(ordered) and (last_id is None or ordered[at] <= last_id):
            found.add((first_id, last_id))
    return found
