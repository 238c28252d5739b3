"""Writes on partners, people, associations and the stored competency status.

Each service states the rule of DESIGN.md it implements. Time is a
parameter: callers pass the day.
"""

import datetime
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .causes import amount_words, cause_text
from .evaluation import (
    Catalog,
    CompetencyResult,
    RequirementResult,
    batched,
    catalog_snapshot,
    collector_paused,
    evaluate,
)
from .models import (
    LEVEL_RANK,
    Association,
    CompetencyStatus,
    EarnedCredential,
    Employee,
    Invitation,
    Level,
    Organization,
    Override,
    StatusChange,
)

ONE_DAY = datetime.timedelta(days=1)


class AssociationError(ValueError):
    pass


@transaction.atomic
def association_start(*, employee: Employee, organization: Organization, on: datetime.date) -> Association:
    """Associating with organization B on day D ends the association with A on day D.

    From D the employee counts for B only. An association may not start
    before the employee's current one, nor before their previous one ended
    (one organization at a time); re-associating with the same
    organization changes nothing. The employee's row is locked so two
    concurrent re-associations queue instead of racing (the partial unique
    index on open associations is the last line of defence). Both
    organizations are re-evaluated as of D once the transaction commits.
    """
    Employee.objects.select_for_update().filter(pk=employee.pk).first()
    current = Association.objects.filter(employee=employee, ends_on__isnull=True).first()
    if current is not None:
        if on < current.starts_on:
            raise AssociationError(
                _("The association cannot start on %(day)s, before the current one (since %(since)s).")
                % {"day": date_format(on), "since": date_format(current.starts_on)}
            )
        if current.organization_id == organization.pk:
            return current
        current.ends_on = on
        current.save(update_fields=["ends_on"])
        reevaluate_on_commit(
            organization_ids=[current.organization_id],
            day=on,
            cause=StatusChange.Cause.ASSOCIATION_ENDED,
            cause_detail=cause_text("moved", name=employee.display_name, day=on),
        )
    else:
        previous = Association.objects.filter(employee=employee, ends_on__gt=on).order_by("-ends_on").first()
        if previous is not None:
            raise AssociationError(
                _("The association cannot start on %(day)s, before the previous one ended (%(end)s).")
                % {"day": date_format(on), "end": date_format(previous.ends_on)}
            )
    association = Association.objects.create(employee=employee, organization=organization, starts_on=on)
    reevaluate_on_commit(
        organization_ids=[organization.pk],
        day=on,
        cause=StatusChange.Cause.ASSOCIATION_STARTED,
        cause_detail=cause_text("associated", name=employee.display_name, day=on),
    )
    return association


@transaction.atomic
def association_end(*, employee: Employee, on: datetime.date) -> Association | None:
    """The employee leaves on day D and counts for no one from D.

    The organization is re-evaluated as of D once the transaction commits.
    """
    Employee.objects.select_for_update().filter(pk=employee.pk).first()
    current = Association.objects.filter(employee=employee, ends_on__isnull=True).first()
    if current is None:
        return None
    if on < current.starts_on:
        raise AssociationError(
            _("The association cannot end on %(day)s, before it started (%(since)s).")
            % {"day": date_format(on), "since": date_format(current.starts_on)}
        )
    current.ends_on = on
    current.save(update_fields=["ends_on"])
    reevaluate_on_commit(
        organization_ids=[current.organization_id],
        day=on,
        cause=StatusChange.Cause.ASSOCIATION_ENDED,
        cause_detail=cause_text("left", name=employee.display_name, day=on),
    )
    return current


# ---------------------------------------------------------------------------
# People: invitations and removals
#
# An organization admin invites someone by email; the employee accepts (an
# association that ends the previous one that day), declines, or lets it
# expire; an admin may withdraw it. An admin may also end the association of
# someone who counts for the organization (the employee leaves). Every one of
# these records who did it.

INVITATION_DAYS = 30


class InvitationError(ValueError):
    """A refused invitation action; `str(exc)` says why, in plain words."""


def _invitation_email(invitation: Invitation) -> list[int]:
    """Queue the invitation email to the invitee if they have an account (in their language); the ids queued."""
    from memberships.emails import email_enqueue  # memberships sends the emails; it imports this app

    invitee = Employee.objects.filter(email=invitation.email, is_active=True).first()
    if invitee is None:
        return []
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    email = email_enqueue(
        key=f"invitation:{invitation.pk}:{invitation.created_on.isoformat()}",
        to_email=invitee.email,
        template="invitation",
        context={
            "invitation": invitation,
            "organization": invitation.organization,
            "invitee": invitee,
            "inviter": invitation.invited_by.display_name if invitation.invited_by else "",
            "url": f"{base}/dashboard/certifications/" if base else "",
        },
        language=invitee.language or "en",
    )
    return [email.pk]


@transaction.atomic
def invitation_send(
    *, organization: Organization, email: str, invited_by: Employee | None, day: datetime.date
) -> Invitation:
    """Invite `email` to associate their certifications with the organization, for INVITATION_DAYS days.

    Inviting an address that already has a pending invitation renews it
    (from `day`, with a new email): the database allows one pending
    invitation per organization and address. Someone who already counts for
    the organization is not invited. The invitee is emailed if they have an
    account; whether they do is never shown to the inviter.
    """
    from memberships.notifications import email_deliver_on_commit

    from .identity import InvalidEmail, canonical_email

    try:
        email = canonical_email(email or "")  # the one identity (competencies/identity.py)
    except InvalidEmail:
        raise InvitationError(_("Enter a valid email address.")) from None
    counts = Association.objects.filter(
        employee__email=email, organization=organization, starts_on__lte=day
    ).filter(Q(ends_on__isnull=True) | Q(ends_on__gt=day))
    if counts.exists():
        raise InvitationError(_("%(email)s already counts for %(name)s.") % {"email": email, "name": organization.name})
    Organization.objects.select_for_update().filter(pk=organization.pk).first()  # one invite of an address at a time
    invitation = Invitation.objects.filter(
        organization=organization, email=email, state=Invitation.State.PENDING
    ).first()
    expires_on = day + datetime.timedelta(days=INVITATION_DAYS)
    if invitation is None:
        invitation = Invitation.objects.create(
            organization=organization, email=email, invited_by=invited_by, created_on=day, expires_on=expires_on
        )
    elif invitation.created_on != day:
        invitation.created_on, invitation.expires_on, invitation.invited_by = day, expires_on, invited_by
        invitation.save(update_fields=["created_on", "expires_on", "invited_by"])
    email_deliver_on_commit(_invitation_email(invitation))
    return invitation


def _open_invitation(invitation: Invitation, *, day: datetime.date) -> Invitation:
    """The invitation's row, locked, if it can still be answered on `day`."""
    locked = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    _refuse_if_answered(locked)
    if day >= locked.expires_on:
        raise InvitationError(
            _("This invitation expired on %(day)s.") % {"day": date_format(locked.expires_on, "DATE_FORMAT")}
        )
    return locked


def _refuse_if_answered(invitation: Invitation) -> None:
    words = {
        Invitation.State.ACCEPTED: _("This invitation was already accepted."),
        Invitation.State.DECLINED: _("This invitation was already declined."),
        Invitation.State.WITHDRAWN: _("This invitation was already withdrawn."),
    }
    if invitation.state in words:
        raise InvitationError(words[invitation.state])


def _close(invitation: Invitation, *, state: str, by: Employee | None, day: datetime.date) -> None:
    invitation.state, invitation.closed_on, invitation.closed_by = state, day, by
    invitation.save(update_fields=["state", "closed_on", "closed_by"])


@transaction.atomic
def invitation_accept(*, invitation: Invitation, employee: Employee, day: datetime.date) -> Association:
    """The invitee associates their certifications with the inviting organization from `day`.

    DESIGN.md: "Associating with organization B on day D ends the
    association with A on day D: from D the employee counts for B only."
    Only the invitee (by canonical email, however spelled) may accept, while the
    invitation is pending and not expired. Both organizations are
    re-evaluated once the transaction commits.
    """
    locked = _open_invitation(invitation, day=day)
    if locked.email != employee.email:  # both canonical (competencies/identity.py)
        raise InvitationError(_("This invitation is for another email address."))
    try:
        association = association_start(employee=employee, organization=locked.organization, on=day)
    except AssociationError as exc:
        raise InvitationError(str(exc)) from exc
    _close(locked, state=Invitation.State.ACCEPTED, by=employee, day=day)
    return association


@transaction.atomic
def invitation_decline(*, invitation: Invitation, employee: Employee, day: datetime.date) -> Invitation:
    """The invitee says no; nothing else changes."""
    locked = _open_invitation(invitation, day=day)
    if locked.email != employee.email:  # both canonical (competencies/identity.py)
        raise InvitationError(_("This invitation is for another email address."))
    _close(locked, state=Invitation.State.DECLINED, by=employee, day=day)
    return locked


@transaction.atomic
def invitation_withdraw(*, invitation: Invitation, by: Employee, day: datetime.date) -> Invitation:
    """An admin of the inviting organization takes a pending invitation back (expired ones too)."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    _refuse_if_answered(locked)
    _close(locked, state=Invitation.State.WITHDRAWN, by=by, day=day)
    return locked


@transaction.atomic
def member_remove(*, organization: Organization, employee: Employee, by: Employee, day: datetime.date) -> Association:
    """An admin ends the association of someone who counts for the organization: they leave on `day`.

    From `day` they count for no one (DESIGN.md's "an employee leaving"), and
    the organization is re-evaluated once the transaction commits; the
    association keeps who ended it.
    """
    current = Association.objects.filter(employee=employee, organization=organization, ends_on__isnull=True).first()
    if current is None or current.starts_on > day:
        raise InvitationError(_("%(name)s does not count for %(org)s.") % {"name": employee.display_name, "org": organization.name})
    ended = association_end(employee=employee, on=day)
    ended.ended_by = by
    ended.save(update_fields=["ended_by"])
    return ended


# ---------------------------------------------------------------------------
# An employee's language: their pages and the emails they receive


def employee_language_set(*, employee: Employee, language: str) -> None:
    """Save the language an employee chose with the switcher; their pages and emails use it from then on."""
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"unknown language {language!r}")
    if employee.language != language:
        Employee.objects.filter(pk=employee.pk).update(language=language)
        employee.language = language


def employee_sign_in_language(*, employee: Employee, current: str) -> str:
    """The language a sign-in applies: the employee's saved preference.

    An employee who has none yet keeps the language they signed in with
    (the browser's, or the switcher's on the sign-in page), and it is saved
    as their preference, so the emails they receive (at risk, reminders,
    referrals) are in the language they read the dashboard in.
    """
    languages = dict(settings.LANGUAGES)
    if employee.language in languages:
        return employee.language
    language = current if current in languages else settings.LANGUAGE_CODE
    employee_language_set(employee=employee, language=language)
    return language


# ---------------------------------------------------------------------------
# Stored status and history
#
# The engine (`evaluation.py`) computes; these services store what it computed
# and record every change of level with its day and cause.


@dataclass
class RefreshResult:
    """What one `statuses_refresh` did, for the nightly job's log and the tests."""

    organizations: int = 0  # organizations evaluated
    created: int = 0  # statuses stored for the first time
    updated: int = 0  # statuses whose level, override or progress changed
    moved_on: int = 0  # statuses whose only change is the day they are as of
    unchanged: int = 0
    skipped: int = 0  # statuses already stored as of a later day: left as they are
    changes: int = 0  # history rows written


class _Stored(NamedTuple):
    pk: int
    as_of: datetime.date
    evaluated_level: str
    effective_level: str
    override_id: int | None
    details: dict


def statuses_refresh(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    cause: str | None = None,
    cause_detail: str = "",
) -> RefreshResult:
    """Re-evaluate organizations as of `day`, store their status, record every change of level.

    DESIGN.md: "Every change of evaluated or effective level is recorded with
    its day and cause. History is never rewritten." Per batch of
    `settings.EVALUATION_BATCH_SIZE` organizations, in one transaction:
    evaluate set-based, upsert one `CompetencyStatus` per organization ×
    competency (new and changed ones in one INSERT … ON CONFLICT UPDATE,
    those whose only change is the day in one UPDATE, unchanged ones
    untouched) and append a `StatusChange` whenever the evaluated or
    effective level differs from the stored one. The cause is `cause` when
    given, else inferred by comparing with the stored state (see
    `_infer_causes`). A first evaluation at level none writes no history.

    Idempotent: a second run for the same day writes nothing. A status
    already stored as of a LATER day is left as it is: an older evaluation
    (a re-evaluation queued for a back-dated change, `run_nightly --date`
    for a past day) never replaces a newer one.

    Cost (docs/performance.md): on PostgreSQL each kind of write is one
    statement per batch whatever its size (the columns go as arrays), and
    most of a first run is PostgreSQL inserting rows and checking their
    foreign keys; a later day, rewriting every row's `as_of`.
    """
    if cause is not None and cause not in StatusChange.Cause.values:
        raise ValueError(f"unknown cause {cause!r}")
    result = RefreshResult()
    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return result
    catalog = catalog_snapshot()  # once per run, shared by every batch
    # The run's objects hold no cycles: the garbage collector would only walk each batch's results again.
    with collector_paused():
        for batch in batched(ids, settings.EVALUATION_BATCH_SIZE):
            _refresh_batch(batch, day=day, catalog=catalog, cause=cause, cause_detail=cause_detail, result=result)
    return result


class _Row(NamedTuple):
    """A status to write: `CompetencyStatus`'s columns."""

    organization_id: int
    competency_id: int
    evaluated_level: str
    effective_level: str
    override_id: int | None
    details: dict  # the summary; rows sharing one share the object, so its JSON is made once


def _refresh_batch(
    batch: list[int],
    *,
    day: datetime.date,
    catalog: Catalog,
    cause: str | None,
    cause_detail: str,
    result: RefreshResult,
) -> None:
    with transaction.atomic():
        # Lock the batch's organizations (in id order, so batches never deadlock): a nightly batch and an
        # on-commit re-evaluation of the same organization queue instead of both inserting its statuses.
        locked = list(
            Organization.objects.select_for_update().filter(pk__in=batch).order_by("pk").values_list("pk", flat=True)
        )
        evaluations = evaluate(organization_ids=locked, day=day, catalog=catalog)
        # The stored details as text, parsed once per distinct text: most statuses share a handful.
        parsed: dict[str, dict] = {}
        stored = {}
        for pk, org_id, competency_id, as_of, evaluated, effective, override_id, text in (
            # The range says the same as the list, in words the planner reads even before the table has
            # statistics (the first nightly run fills it): an index scan, not a scan of every status.
            CompetencyStatus.objects.filter(
                organization_id__in=locked, organization_id__gte=batch[0], organization_id__lte=batch[-1]
            )
            .order_by()
            .values_list(
                "pk",
                "organization_id",
                "competency_id",
                "as_of",
                "evaluated_level",
                "effective_level",
                "override_id",
                Cast("details", TextField()),
            )
        ):
            details = parsed.get(text)
            if details is None:
                details = parsed[text] = json.loads(text)
            stored[(org_id, competency_id)] = _Stored(pk, as_of, evaluated, effective, override_id, details)
        result.organizations += len(locked)

        # Results without details share their options between organizations with the same figures
        # (`evaluation.py`): the summary, its JSON and whether it equals a stored one are worked out once.
        summaries: dict[int, dict] = {}
        same: dict[tuple[int, int], bool] = {}
        creates, updates, moved_on, changed = [], [], [], []
        for key, evaluation in evaluations.items():
            options_id = id(evaluation.options)
            summary = summaries.get(options_id)
            if summary is None:
                summary = summaries[options_id] = evaluation.summary()
            override_id = evaluation.override.id if evaluation.override else None
            levels = (evaluation.evaluated_level, evaluation.effective_level)
            old = stored.get(key)
            if old is None:
                creates.append(_Row(*key, *levels, override_id, summary))
                # 100,000 organizations × 40 competencies at none would flood the history: only levels are news.
                if levels != (Level.NONE, Level.NONE):
                    changed.append((evaluation, None))
                continue
            if old.as_of > day:
                result.skipped += 1
                continue
            if (old.evaluated_level, old.effective_level) != levels:
                changed.append((evaluation, old))
            pair = (id(old.details), options_id)
            details_same = same.get(pair)
            if details_same is None:
                details_same = same[pair] = old.details == summary
            if (old.evaluated_level, old.effective_level, old.override_id) != (*levels, override_id) or not details_same:
                updates.append(_Row(*key, *levels, override_id, summary))
            elif old.as_of != day:
                moved_on.append(old.pk)
            else:
                result.unchanged += 1

        history = _status_changes(changed, day=day, catalog=catalog, cause=cause, cause_detail=cause_detail)
        if connection.vendor == "postgresql":
            _write_postgresql([*creates, *updates], moved_on, history, day=day)
        else:
            _write_portable([*creates, *updates], moved_on, history, day=day)
        result.created += len(creates)
        result.updated += len(updates)
        result.moved_on += len(moved_on)
        result.changes += len(history)


def _write_portable(upserts: list[_Row], moved_on: list[int], history: list[tuple], *, day: datetime.date) -> None:
    # One upsert (INSERT … ON CONFLICT DO UPDATE) for new and changed statuses: Django's bulk_update
    # builds a CASE per row and costs more Python than the evaluation itself.
    CompetencyStatus.objects.bulk_create(
        [
            CompetencyStatus(
                organization_id=r.organization_id,
                competency_id=r.competency_id,
                as_of=day,
                evaluated_level=r.evaluated_level,
                effective_level=r.effective_level,
                override_id=r.override_id,
                details=r.details,
            )
            for r in upserts
        ],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["organization", "competency"],
        update_fields=["as_of", "evaluated_level", "effective_level", "override", "details"],
    )
    for chunk in batched(moved_on, 5000):  # one UPDATE per chunk: SQLite caps the parameters of a query
        CompetencyStatus.objects.filter(pk__in=chunk).update(as_of=day)
    StatusChange.objects.bulk_create([StatusChange(**dict(zip(_HISTORY_COLUMNS, row))) for row in history], batch_size=1000)


def _write_postgresql(upserts: list[_Row], moved_on: list[int], history: list[tuple], *, day: datetime.date) -> None:
    """The same writes as `_write_portable`, one statement each whatever the batch's size: each column
    goes as one array (`unnest`), so a batch of 40,000 statuses costs no Python per row beyond its text."""
    status = CompetencyStatus._meta.db_table
    with connection.cursor() as cursor:
        if upserts:
            texts: dict[int, str] = {}
            for r in upserts:
                if id(r.details) not in texts:
                    texts[id(r.details)] = json.dumps(r.details)
            columns = list(zip(*upserts))
            columns[-1] = [texts[id(details)] for details in columns[-1]]
            cursor.execute(
                f"""INSERT INTO {status}
                        (organization_id, competency_id, as_of, evaluated_level, effective_level, override_id, details)
                    SELECT o, c, %s, e, f, v, d::jsonb
                    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[])
                         AS t(o, c, e, f, v, d)
                    ON CONFLICT (organization_id, competency_id) DO UPDATE SET
                        as_of = EXCLUDED.as_of, evaluated_level = EXCLUDED.evaluated_level,
                        effective_level = EXCLUDED.effective_level, override_id = EXCLUDED.override_id,
                        details = EXCLUDED.details""",
                [day, *map(_pg_array, columns)],
            )
        if moved_on:
            cursor.execute(f"UPDATE {status} SET as_of = %s WHERE id = ANY(%s::bigint[])", [day, _pg_array(moved_on)])
        if history:
            columns = list(zip(*history))
            cursor.execute(
                f"""INSERT INTO {StatusChange._meta.db_table} ({", ".join(_HISTORY_COLUMNS)}, recorded_at)
                    SELECT *, %s FROM unnest(%s::bigint[], %s::bigint[], %s::date[], %s::text[], %s::text[],
                                             %s::text[], %s::text[], %s::text[], %s::text[])""",
                [timezone.now(), *map(_pg_array, columns)],
            )


def _pg_array(values: Iterable) -> str:
    """A PostgreSQL array literal of ints, dates, None and strings (quoted, `\\` and `"` escaped).

    Each distinct value is rendered once: a batch repeats a few levels, causes and summaries.
    """
    rendered: dict = {}
    items = []
    for value in values:
        item = rendered.get(value)
        if item is None:
            if value is None:
                item = "NULL"
            elif isinstance(value, int | datetime.date):
                item = str(value)
            else:
                item = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            rendered[value] = item
        items.append(item)
    return "{" + ",".join(items) + "}"


# A history row as `_status_changes` makes it: `StatusChange`'s columns in this order.
_HISTORY_COLUMNS = (
    "organization_id", "competency_id", "day", "old_evaluated", "new_evaluated", "old_effective", "new_effective",
    "cause", "cause_detail",
)


def _status_changes(
    changed: list[tuple[CompetencyResult, _Stored | None]],
    *,
    day: datetime.date,
    catalog: Catalog,
    cause: str | None,
    cause_detail: str,
) -> list[tuple]:
    if not changed:
        return []
    if cause is not None:
        causes = {(e.organization_id, e.competency_id): (cause, cause_detail) for e, _old in changed}
    else:
        causes = _infer_causes(changed, day=day, catalog=catalog)
    rows = []
    for evaluation, old in changed:
        key = (evaluation.organization_id, evaluation.competency_id)
        row_cause, detail = causes[key]
        rows.append((
            key[0],
            key[1],
            day,
            old.evaluated_level if old else Level.NONE,
            evaluation.evaluated_level,
            old.effective_level if old else Level.NONE,
            evaluation.effective_level,
            row_cause,
            detail[:500],
        ))
    return rows


def _valid_on(earned_on, expires_on, accepted_until, day) -> bool:
    """DESIGN.md: valid on D when earned_on <= D, D < expires_on and D < accepted_until where they exist."""
    return (
        earned_on <= day
        and (expires_on is None or day < expires_on)
        and (accepted_until is None or day < accepted_until)
    )


class _Membership(NamedTuple):
    """An association of the organization that overlaps the window of a change."""

    employee_id: int
    starts_on: datetime.date
    ends_on: datetime.date | None
    name: str
    moved_elsewhere: bool  # another association of the employee starts the day this one ends

    def covers(self, day: datetime.date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day < self.ends_on)


class _Earned(NamedTuple):
    credential_id: int
    earned_on: datetime.date
    expires_on: datetime.date | None


def _infer_causes(
    changed: list[tuple[CompetencyResult, _Stored | None]], *, day: datetime.date, catalog: Catalog
) -> dict[tuple[int, int], tuple[str, str]]:
    """Why a level changed between the stored status (as of `old.as_of`) and `day`.

    Simple and honest: look for the events dated in `[old.as_of, day]` that
    could explain the change, in this order, store what was found in the
    detail, and say so (`other`) when nothing does:

    - no stored status: `first_evaluation`;
    - the evaluated level fell: a holder of one of the competency's
      credentials whose association ended (`association_ended`: "Jane Doe
      associated with another organization on D" when they started
      elsewhere that day, else "Jane Doe left on D"), a credential no longer
      accepted after retirement (`credential_retired`), a credential that
      expired (`credential_expired`), a metric requirement now short
      (`metric_changed`);
    - the evaluated level rose: a holder's association that started
      (`association_started`), a credential earned (`credential_earned`),
      a metric requirement now met (`metric_changed`);
    - only the effective level changed: the override was applied
      (`override_applied`), revoked (`override_revoked`) or expired
      (`override_expired`).

    At most three set-based reads for the whole batch, only when something changed.
    """
    causes: dict[tuple[int, int], tuple[str, str]] = {}
    evaluated_changes, effective_changes = [], []
    for evaluation, old in changed:
        if old is None:
            causes[(evaluation.organization_id, evaluation.competency_id)] = (StatusChange.Cause.FIRST_EVALUATION, "")
        elif old.evaluated_level != evaluation.evaluated_level:
            evaluated_changes.append((evaluation, old))
        else:
            effective_changes.append((evaluation, old))
    if evaluated_changes:
        causes.update(_evaluated_causes(evaluated_changes, day=day, catalog=catalog))
    if effective_changes:
        causes.update(_override_causes(effective_changes, day=day))
    return causes


def _override_causes(
    changes: list[tuple[CompetencyResult, _Stored]], *, day: datetime.date
) -> dict[tuple[int, int], tuple[str, str]]:
    """The evaluated level stayed: the override moved the effective one (applied, revoked, expired)."""
    Cause = StatusChange.Cause
    old_ids = {old.override_id for _e, old in changes if old.override_id}
    old_overrides = {
        pk: (level, state, expires_on, revoked_on)
        for pk, level, state, expires_on, revoked_on in (
            Override.objects.filter(pk__in=old_ids)
            .order_by()
            .values_list("pk", "level", "state", "expires_on", "revoked_on")
        )
    }
    causes = {}
    for evaluation, old in changes:
        key = (evaluation.organization_id, evaluation.competency_id)
        rose = LEVEL_RANK[evaluation.effective_level] > LEVEL_RANK[old.effective_level]
        if rose and evaluation.override:
            o = evaluation.override
            causes[key] = (Cause.OVERRIDE_APPLIED, cause_text("override_until", level=o.level, end=o.expires_on))
        elif old.override_id in old_overrides:
            level, state, expires_on, revoked_on = old_overrides[old.override_id]
            if state == Override.State.REVOKED:
                causes[key] = (
                    Cause.OVERRIDE_REVOKED, cause_text("override_revoked", level=level, day=revoked_on or day)
                )
            else:
                causes[key] = (Cause.OVERRIDE_EXPIRED, cause_text("override_expired", level=level, day=expires_on))
        else:
            causes[key] = (Cause.OTHER, cause_text("override_gone"))
    return causes


def _evaluated_causes(
    changes: list[tuple[CompetencyResult, _Stored]], *, day: datetime.date, catalog: Catalog
) -> dict[tuple[int, int], tuple[str, str]]:
    """The evaluated level moved: find the association, credential or metric event that explains it."""
    Cause = StatusChange.Cause
    since = min(old.as_of for _e, old in changes)
    overlapping = (
        Association.objects.filter(organization_id__in={e.organization_id for e, _old in changes}, starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=since))
        .order_by()
    )
    memberships = _memberships(overlapping)
    earned: dict[int, list[_Earned]] = defaultdict(list)
    if memberships and catalog.credential_codes:
        for employee_id, credential_id, earned_on, expires_on in (
            EarnedCredential.objects.filter(
                employee_id__in=overlapping.values("employee_id"),
                credential_id__in=list(catalog.credential_codes),
                earned_on__lte=day,
            )
            .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=since))
            .order_by()
            .values_list("employee_id", "credential_id", "earned_on", "expires_on")
        ):
            earned[employee_id].append(_Earned(credential_id, earned_on, expires_on))

    code, accepted_until = catalog.credential_codes, catalog.accepted_until

    def valid(e: _Earned, on: datetime.date) -> bool:
        return _valid_on(e.earned_on, e.expires_on, accepted_until.get(e.credential_id), on)

    def holds_one_of(employee_id: int, credentials: set[int], on: datetime.date) -> bool:
        return any(e.credential_id in credentials and valid(e, on) for e in earned[employee_id])

    causes = {}
    for evaluation, old in changes:
        key = (evaluation.organization_id, evaluation.competency_id)
        members, lo = memberships[evaluation.organization_id], old.as_of
        credentials = catalog.credentials_of(evaluation.competency_id)
        lost = LEVEL_RANK[evaluation.evaluated_level] < LEVEL_RANK[old.evaluated_level]
        involved = _requirements_involved(evaluation, old, lost=lost)
        # People events explain a change only when a requirement on people is involved.
        people = any(r.kind != "metric" for r in involved) or not involved
        found = None
        if lost and people:
            # The latest departure of someone who held one of the competency's credentials the day before.
            left = [
                m for m in members
                if m.ends_on is not None and lo <= m.ends_on <= day
                and holds_one_of(m.employee_id, credentials, m.ends_on - ONE_DAY)
            ]
            if left:
                m = max(left, key=lambda m: (m.ends_on, m.name))
                found = (
                    Cause.ASSOCIATION_ENDED,
                    cause_text("moved" if m.moved_elsewhere else "left", name=m.name, day=m.ends_on),
                )
        if lost and people and found is None:
            for credential_id in sorted(credentials, key=code.get):
                until = accepted_until.get(credential_id)
                if until is None or not lo <= until <= day:
                    continue
                before = until - ONE_DAY
                holders = sorted(
                    m.name for m in members
                    if m.covers(before) and holds_one_of(m.employee_id, {credential_id}, before)
                )
                if holders:
                    found = (
                        Cause.CREDENTIAL_RETIRED,
                        cause_text("retired", code=code[credential_id], day=until, name=holders[0]),
                    )
                    break
        if lost and people and found is None:
            expired = [
                (e.expires_on, m.name, code[e.credential_id])
                for m in members
                for e in earned[m.employee_id]
                if e.credential_id in credentials and e.expires_on is not None and lo <= e.expires_on <= day
                and m.covers(e.expires_on - ONE_DAY) and valid(e, e.expires_on - ONE_DAY)
            ]
            if expired:
                expires_on, name, credential = max(expired)
                found = (Cause.CREDENTIAL_EXPIRED, cause_text("expired", name=name, code=credential, day=expires_on))
        if not lost and people:
            started = [
                (m.starts_on, m.name)
                for m in members
                if lo <= m.starts_on <= day and m.covers(day) and holds_one_of(m.employee_id, credentials, day)
            ]
            if started:
                starts_on, name = max(started)
                found = (Cause.ASSOCIATION_STARTED, cause_text("associated", name=name, day=starts_on))
        if not lost and people and found is None:
            gained = [
                (e.earned_on, m.name, code[e.credential_id])
                for m in members
                if m.covers(day)
                for e in earned[m.employee_id]
                if e.credential_id in credentials and lo <= e.earned_on <= day and valid(e, day)
            ]
            if gained:
                earned_on, name, credential = max(gained)
                found = (Cause.CREDENTIAL_EARNED, cause_text("earned", name=name, code=credential, day=earned_on))
        if found is None:
            words = _metric_words(involved, catalog, evaluation.competency_id, lost=lost)
            if words:
                found = (Cause.METRIC_CHANGED, words)
        causes[key] = found or (Cause.OTHER, cause_text("unexplained", day=lo))
    return causes


def _memberships(associations) -> dict[int, list[_Membership]]:
    """The associations (of the organizations, overlapping the window of their changes) by organization: one read."""
    moved_elsewhere = Association.objects.filter(
        employee_id=OuterRef("employee_id"), starts_on=OuterRef("ends_on")
    ).exclude(organization_id=OuterRef("organization_id"))
    memberships: dict[int, list[_Membership]] = defaultdict(list)
    for employee_id, org_id, starts_on, ends_on, name, email, moved in (
        associations.annotate(moved=Exists(moved_elsewhere))
        .values_list("employee_id", "organization_id", "starts_on", "ends_on", "employee__name", "employee__email", "moved")
    ):
        memberships[org_id].append(_Membership(employee_id, starts_on, ends_on, name or email, moved))
    return memberships


def _requirements_involved(evaluation: CompetencyResult, old: _Stored, *, lost: bool) -> list[RequirementResult]:
    """The requirements a change can be blamed on.

    A loss: those now short in the options of the lost level that were met
    before (all options of that level when the stored summary does not
    say). A gain: those of the option now met.
    """
    if lost:
        was_met = {o.get("id") for o in (old.details or {}).get("options", []) if o.get("met")}
        return [
            r
            for o in evaluation.options
            if o.level == old.evaluated_level and (not was_met or o.option_id in was_met)
            for r in o.requirements
            if not r.met
        ]
    return [r for o in evaluation.options if o.option_id == evaluation.met_option_id for r in o.requirements]


def _metric_words(requirements: list[RequirementResult], catalog: Catalog, competency_id: int, *, lost: bool) -> str:
    """Plain words for the first metric requirement among `requirements`, or "" when there is none."""
    spec = catalog.competency(competency_id)
    thresholds = {r.id: r.compiled for o in spec.options for r in o.requirements if r.kind == "metric"} if spec else {}
    r = next((r for r in requirements if r.requirement_id in thresholds), None)
    if r is None:
        return ""
    threshold = thresholds[r.requirement_id]
    return cause_text(
        "metric_short" if lost else "metric_reached",
        metric=threshold.metric.name if threshold.metric else threshold.slug,
        days=threshold.window_days,
        have=amount_words(r.have, r.unit),
        need=amount_words(r.need, r.unit),
    )


def reevaluate_on_commit(
    *,
    organization_ids: Iterable[int],
    day: datetime.date,
    cause: str | None = None,
    cause_detail: str = "",
) -> None:
    """Re-evaluate organizations as of `day` once the current transaction commits.

    DESIGN.md: "Changes that matter in the day re-evaluate the organizations
    involved at once, after the transaction commits; the nightly run is the
    safety net, not the only path." Queued on commit, so nothing is queued
    for a change that rolls back; robust, so a broker hiccup never fails a
    change that is already committed (the nightly run catches up).
    """
    from .tasks import reevaluate_organizations  # tasks call services: import here, not at module level

    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return
    transaction.on_commit(
        lambda: reevaluate_organizations.delay(ids, day.isoformat(), cause, cause_detail), robust=True
    )


# ---------------------------------------------------------------------------
# Overrides (DESIGN.md, "Override")
#
# An agent grants an organization a level in one competency, with a reason,
# from `starts_on` to `expires_on` (default: 3 calendar months later). Every
# apply, extend, revoke and expiry writes an `OverrideAudit` row in the same
# transaction and re-evaluates the organization once it commits.

from django.db import IntegrityError  # noqa: E402 - this section is appended; its imports stay with it

from .models import OverrideAudit  # noqa: E402

OVERRIDE_MONTHS = 3


class OverrideError(ValueError):
    """An override refused, with the reason; `field` names the form field at fault, when there is one."""

    def __init__(self, message, *, field: str | None = None):
        super().__init__(str(message))
        self.field = field


def override_default_expiry(starts_on: datetime.date) -> datetime.date:
    """Three calendar months after `starts_on` (30 November → 28 February: the month's last day when it is shorter)."""
    from dateutil.relativedelta import relativedelta

    return starts_on + relativedelta(months=OVERRIDE_MONTHS)


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
    from django.utils.translation import gettext as _

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


def _active_override_exists_error(*, organization_id: int, competency_id: int) -> OverrideError:
    from django.utils.translation import gettext as _

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

    DESIGN.md: "Effective level = the higher of the evaluated level and the
    level of an override active on D (`starts_on <= D < expires_on`, not
    revoked). An override never lowers a level." `expires_on` defaults to 3
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
                organization=organization,
                competency=competency,
                level=level,
                reason=reason,
                starts_on=starts_on,
                expires_on=expires_on,
                created_by=actor,
            )
            OverrideAudit.objects.create(
                override=override,
                action=OverrideAudit.Action.APPLY,
                actor=actor,
                day=day,
                reason=reason,
                old_values={},
                new_values=_override_values(override),
            )
            reevaluate_on_commit(
                organization_ids=[organization.pk],
                day=day,
                cause=StatusChange.Cause.OVERRIDE_APPLIED,
                cause_detail=cause_text("override_applied", level=level, start=starts_on, end=expires_on),
            )
    except IntegrityError as exc:
        # The partial unique index on active overrides: another one was there, or won a race.
        if Override.objects.filter(
            organization=organization, competency=competency, state=Override.State.ACTIVE
        ).exists():
            raise _active_override_exists_error(
                organization_id=organization.pk, competency_id=competency.pk
            ) from exc
        raise
    return override


def _locked_active_override(override: Override) -> Override:
    from django.utils.translation import gettext as _

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
    transaction commits.
    """
    from django.utils.translation import gettext as _

    if not (reason or "").strip():
        raise OverrideError(_("A reason is required: say why the override changes."), field="change_reason")
    locked = _locked_active_override(override)
    override_validate(level=locked.level, reason=reason, starts_on=locked.starts_on, expires_on=expires_on, day=day)
    if expires_on == locked.expires_on:
        raise OverrideError(_("The override already ends on %(end)s.") % {"end": date_format(expires_on)}, field="expires_on")
    old = _override_values(locked)
    locked.expires_on = expires_on
    locked.save(update_fields=["expires_on"])
    OverrideAudit.objects.create(
        override=locked,
        action=OverrideAudit.Action.EXTEND,
        actor=actor,
        day=day,
        reason=reason.strip(),
        old_values=old,
        new_values=_override_values(locked),
    )
    reevaluate_on_commit(
        organization_ids=[locked.organization_id],
        day=day,
        cause=StatusChange.Cause.OVERRIDE_APPLIED,
        cause_detail=cause_text("override_extended", level=locked.level, end=expires_on),
    )
    return locked


@transaction.atomic
def override_revoke(*, override: Override, reason: str, actor: Employee | None, day: datetime.date) -> Override:
    """An agent ends an active override on `day`, with a reason; the status goes back to what evaluation says.

    DESIGN.md: "When it expires the status goes back to what evaluation
    says." Revoking is the same, earlier and on purpose: state `revoked`,
    `revoked_on = day`, an audit row, and a re-evaluation as of `day` once
    the transaction commits (cause `override_revoked`).
    """
    from django.utils.translation import gettext as _

    if not (reason or "").strip():
        raise OverrideError(_("A reason is required: say why the override is revoked."), field="reason")
    locked = _locked_active_override(override)
    old = _override_values(locked)
    locked.state = Override.State.REVOKED
    locked.revoked_on = day
    locked.save(update_fields=["state", "revoked_on"])
    OverrideAudit.objects.create(
        override=locked,
        action=OverrideAudit.Action.REVOKE,
        actor=actor,
        day=day,
        reason=reason.strip(),
        old_values=old,
        new_values=_override_values(locked),
    )
    reevaluate_on_commit(
        organization_ids=[locked.organization_id],
        day=day,
        cause=StatusChange.Cause.OVERRIDE_REVOKED,
        cause_detail=cause_text("override_revoked", level=locked.level, day=day),
    )
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
    from django.utils.translation import gettext as _

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
    from .models import higher_level

    result = evaluate(organization_ids=[organization.pk], day=starts_on)[(organization.pk, competency.pk)]
    return OverridePreview(
        day=starts_on,
        evaluated_level=result.evaluated_level,
        effective_before=result.effective_level,
        effective_after=higher_level(result.effective_level, level),
        expires_on=expires_on or override_default_expiry(starts_on),
    )
