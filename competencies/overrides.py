"""Achievement overrides: an agent grants an organization a level in one competency, for a while, with a reason.

An override runs from `starts_on` to `expires_on` (default: 3 calendar
months later, `dates.months_after`). Every apply, extend, revoke and expiry
writes an `OverrideAudit` row in the same transaction and re-evaluates the
organization once it commits, each change of level recorded with its own
cause.
"""

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .causes import cause_params_of
from .dates import months_after
from .engine import evaluate
from .models import LEVEL_RANK, Employee, Level, Organization, Override, OverrideAudit, StatusChange, higher_level
from .statuses import reevaluate_on_commit

OVERRIDE_MONTHS = 3


class OverrideError(ValueError):
    """An override refused, with the reason; `field` names the form field at fault, when there is one."""

    def __init__(self, message, *, field: str | None = None):
        super().__init__(str(message))
        self.field = field


def override_default_expiry(starts_on: datetime.date) -> datetime.date:
    """Three calendar months after `starts_on` (30 November → 28 February: the month's last day when it is shorter)."""
    return months_after(starts_on, OVERRIDE_MONTHS)


def override_validate(
    *,
    level: str,
    reason: str,
    starts_on: datetime.date | None,
    expires_on: datetime.date | None,
    day: datetime.date,
) -> datetime.date:
    """The rules an override must meet before it is written; returns its `expires_on` (the default when None).

    A reason is required; the level is Silver or Gold; it ends after it
    starts; and it has not already ended on `day` (an override that is over
    grants nothing).
    """
    if not (reason or "").strip():
        raise OverrideError(_("A reason is required: say why the organization gets this level."), field="reason")
    if level not in (Level.SILVER, Level.GOLD):
        raise OverrideError(
            _("Unknown level “%(level)s”: an override grants Silver or Gold.") % {"level": level}, field="level"
        )
    if starts_on is None:
        raise OverrideError(_("A start day is required."), field="starts_on")
    expires_on = expires_on or override_default_expiry(starts_on)
    if expires_on <= starts_on:
        raise OverrideError(
            _("The override must end after it starts: it starts on %(start)s and would end on %(end)s.")
            % {"start": date_format(starts_on), "end": date_format(expires_on)},
            field="expires_on",
        )
    if expires_on <= day:
        raise OverrideError(
            _("The override would already have ended (%(end)s is not after today, %(day)s).")
            % {"end": date_format(expires_on), "day": date_format(day)},
            field="expires_on",
        )
    return expires_on


def _override_values(override: Override) -> dict:
    return {
        "level": override.level,
        "starts_on": override.starts_on.isoformat(),
        "expires_on": override.expires_on.isoformat(),
        "state": override.state,
        "revoked_on": override.revoked_on.isoformat() if override.revoked_on else None,
    }


def _audit(override: Override, *, action: str, actor: Employee | None, day: datetime.date, reason: str, old: dict) -> None:
    """The audit row of a change, written in its transaction: who, when, why, the values before and after."""
    OverrideAudit.objects.create(
        override=override, action=action, actor=actor, day=day, reason=reason,
        old_values=old, new_values=_override_values(override),
    )


def _reevaluate(override: Override, *, on: datetime.date, cause: str, kind: str, **values) -> None:
    """Re-evaluate the override's organization as of `on` once the change commits, recorded with its cause."""
    reevaluate_on_commit(
        organization_ids=[override.organization_id],
        day=on,
        cause=cause,
        cause_params=cause_params_of(kind, override_id=override.pk, level=override.level, **values),
    )


def active_override_exists_error(*, organization_id: int, competency_id: int) -> OverrideError:
    """The refusal of a second active override for the organization and competency, naming the one that runs."""
    existing = (
        Override.objects.filter(organization_id=organization_id, competency_id=competency_id, state=Override.State.ACTIVE)
        .select_related("organization", "competency")
        .first()
    )
    if existing is None:
        return OverrideError(_("An active override already exists for this organization and competency."))
    return OverrideError(
        _(
            "An active override already exists for %(organization)s in %(competency)s "
            "(%(level)s until %(end)s): extend or revoke it instead."
        )
        % {
            "organization": existing.organization.name,
            "competency": existing.competency.name,
            "level": Level(existing.level).label,
            "end": date_format(existing.expires_on),
        }
    )


def override_apply(
    *,
    organization: Organization,
    competency,
    level: str,
    reason: str,
    starts_on: datetime.date,
    expires_on: datetime.date | None = None,
    actor: Employee | None,
    day: datetime.date,
) -> Override:
    """An agent grants an organization a level in one competency, with a reason, from `starts_on` to `expires_on`.

    Effective level = the higher of the evaluated level and the level of an
    override active on D (`starts_on <= D < expires_on`, not revoked): an
    override never lowers a level (docs/design.md). `expires_on` defaults to 3
    calendar months after `starts_on`. At most one active override per
    organization × competency: the database enforces it
    (`one_active_override_per_org_competency`), and the loser of a race gets
    the same clear error as anyone else. The audit row is written in the same
    transaction; the organization is re-evaluated as of `day` once it commits
    (an override starting later takes effect on the night of its first day).
    """
    expires_on = override_validate(level=level, reason=reason, starts_on=starts_on, expires_on=expires_on, day=day)
    reason = reason.strip()
    try:
        with transaction.atomic():
            override = Override.objects.create(
                organization=organization, competency=competency, level=level, reason=reason,
                starts_on=starts_on, expires_on=expires_on, created_by=actor,
            )
            _audit(override, action=OverrideAudit.Action.APPLY, actor=actor, day=day, reason=reason, old={})
            _reevaluate(
                override, on=day, cause=StatusChange.Cause.OVERRIDE_APPLIED, kind="override_applied",
                start=starts_on, end=expires_on,
            )
    except IntegrityError as exc:
        # The partial unique index on active overrides: another one was there, or won a race.
        if Override.objects.filter(
            organization=organization, competency=competency, state=Override.State.ACTIVE
        ).exists():
            raise active_override_exists_error(
                organization_id=organization.pk, competency_id=competency.pk
            ) from exc
        raise
    return override


def _locked_active_override(override: Override) -> Override:
    locked = Override.objects.select_for_update().select_related("organization", "competency").get(pk=override.pk)
    if locked.state != Override.State.ACTIVE:
        raise OverrideError(
            _("This override is no longer active (%(state)s): apply a new one instead.")
            % {"state": Override.State(locked.state).label}
        )
    return locked


@transaction.atomic
def override_extend(
    *, override: Override, expires_on: datetime.date, reason: str, actor: Employee | None, day: datetime.date
) -> Override:
    """An agent moves the end of an active override; a reason is required and an audit row records old and new end.

    The new end must be after the start and after `day` (ending it now is a
    revocation). The organization is re-evaluated as of `day` once the
    transaction commits; a level that moves is recorded with the cause
    `override_extended` (an override starting later than the stored status
    may take effect then).
    """
    if not (reason or "").strip():
        raise OverrideError(_("A reason is required: say why the override changes."), field="change_reason")
    locked = _locked_active_override(override)
    override_validate(level=locked.level, reason=reason, starts_on=locked.starts_on, expires_on=expires_on, day=day)
    if expires_on == locked.expires_on:
        raise OverrideError(_("The override already ends on %(end)s.") % {"end": date_format(expires_on)}, field="expires_on")
    old = _override_values(locked)
    locked.expires_on = expires_on
    locked.save(update_fields=["expires_on"])
    _audit(locked, action=OverrideAudit.Action.EXTEND, actor=actor, day=day, reason=reason.strip(), old=old)
    _reevaluate(locked, on=day, cause=StatusChange.Cause.OVERRIDE_EXTENDED, kind="override_extended", end=expires_on)
    return locked


@transaction.atomic
def override_revoke(*, override: Override, reason: str, actor: Employee | None, day: datetime.date) -> Override:
    """An agent ends an active override on `day`, with a reason; the status goes back to what evaluation says.

    When an override expires the status goes back to what evaluation says
    (docs/design.md); revoking is the same, earlier and on purpose: state
    `revoked`, `revoked_on = day`, an audit row, and a re-evaluation as of
    `day` once the transaction commits (cause `override_revoked`).
    """
    if not (reason or "").strip():
        raise OverrideError(_("A reason is required: say why the override is revoked."), field="reason")
    locked = _locked_active_override(override)
    old = _override_values(locked)
    locked.state = Override.State.REVOKED
    locked.revoked_on = day
    locked.save(update_fields=["state", "revoked_on"])
    _audit(locked, action=OverrideAudit.Action.REVOKE, actor=actor, day=day, reason=reason.strip(), old=old)
    _reevaluate(locked, on=day, cause=StatusChange.Cause.OVERRIDE_REVOKED, kind="override_revoked", day=day)
    return locked


@transaction.atomic
def overrides_expire(*, day: datetime.date) -> list[int]:
    """Nightly job 1: expire overrides whose `expires_on` has come; record the reversion.

    Every active override with `expires_on <= day` becomes `expired`, with
    an audit row (no actor: the scheduler), in one transaction; the
    organizations involved are re-evaluated as of `day` once it commits.
    Their history then records the reversion with cause `override_expired`
    ("Gold override expired on …"), inferred per competency rather than
    forced on the whole organization, so another change of the same night
    (an employee who left) keeps its own cause. Idempotent: a second run
    finds nothing due. Returns the ids of the overrides expired.
    """
    due = list(
        Override.objects.select_for_update()
        .filter(state=Override.State.ACTIVE, expires_on__lte=day)
        .order_by("pk")
    )
    if not due:
        return []
    audits = []
    for override in due:
        old = _override_values(override)
        override.state = Override.State.EXPIRED
        audits.append(
            OverrideAudit(
                override=override,
                action=OverrideAudit.Action.EXPIRE,
                actor=None,
                day=day,
                reason=_("Reached its end on %(end)s.") % {"end": override.expires_on},
                old_values=old,
                new_values=_override_values(override),
            )
        )
    Override.objects.filter(pk__in=[o.pk for o in due], state=Override.State.ACTIVE).update(
        state=Override.State.EXPIRED
    )
    OverrideAudit.objects.bulk_create(audits)
    reevaluate_on_commit(organization_ids={o.organization_id for o in due}, day=day)
    return [o.pk for o in due]


@dataclass
class OverridePreview:
    """What an override would do, shown to the agent before saving."""

    day: datetime.date
    evaluated_level: str  # what evaluation says on `day`
    effective_before: str  # the effective level on `day` without this override
    effective_after: str  # with it
    expires_on: datetime.date

    @property
    def raises(self) -> bool:
        return LEVEL_RANK[self.effective_after] > LEVEL_RANK[self.effective_before]


def override_preview(
    *, organization: Organization, competency, level: str, starts_on: datetime.date, expires_on: datetime.date | None
) -> OverridePreview:
    """The effective level the organization would have in the competency on `starts_on` with this override.

    A read (the engine for one organization, a fixed number of queries): the
    higher of the evaluated level and the override's level, an override
    never lowering one.
    """
    result = evaluate(organization_ids=[organization.pk], day=starts_on)[(organization.pk, competency.pk)]
    return OverridePreview(
        day=starts_on,
        evaluated_level=result.evaluated_level,
        effective_before=result.effective_level,
        effective_after=higher_level(result.effective_level, level),
        expires_on=expires_on or override_default_expiry(starts_on),
    )
