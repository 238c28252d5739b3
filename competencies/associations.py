"""Associations: an employee starts counting for an organization, moves to another one, or leaves.

Every association change re-evaluates the organizations involved once its
transaction commits (`statuses.reevaluate_on_commit`) and announces the end
of an association (`hooks.association_ended`) to the layers above.
"""

import datetime

from django.db import transaction
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from . import hooks
from .causes import cause_params_of
from .models import Association, Employee, Organization, StatusChange
from .rules import Refusal, association_start_refusal
from .statuses import reevaluate_on_commit


class AssociationError(ValueError):
    """An association change refused; `str(exc)` says why, in the reader's language."""


def _refusal_words(refusal: Refusal, on: datetime.date) -> str:
    if refusal.code == "before_current":
        return _("The association cannot start on %(day)s, before the current one (since %(since)s).") % {
            "day": date_format(on), "since": date_format(refusal.conflicting)
        }
    return _("The association cannot start on %(day)s, before the previous one ended (%(end)s).") % {
        "day": date_format(on), "end": date_format(refusal.conflicting)
    }


def _lock(employee: Employee) -> Association | None:
    """Lock the employee's row, so two concurrent changes queue instead of racing; their open association."""
    Employee.objects.select_for_update().filter(pk=employee.pk).first()
    return Association.objects.filter(employee=employee, ends_on__isnull=True).first()


def _end(association: Association, employee: Employee, *, on: datetime.date, how: str, by: Employee | None) -> None:
    association.ends_on = on
    fields = ["ends_on"]
    if by is not None:
        association.ended_by = by
        fields.append("ended_by")
    association.save(update_fields=fields)
    reevaluate_on_commit(
        organization_ids=[association.organization_id],
        day=on,
        cause=StatusChange.Cause.ASSOCIATION_ENDED,
        cause_params=cause_params_of(
            "moved" if how == "moved" else "left", employee_id=employee.pk, name=employee.display_name, day=on
        ),
    )
    hooks.association_ended.send(association=association, how=how, by=by)


@transaction.atomic
def association_start(*, employee: Employee, organization: Organization, on: datetime.date) -> Association:
    """Associating with organization B on day D ends the association with A on day D.

    From D the employee counts for B only. An association may not start
    before the employee's current one, nor before their previous one ended
    (one organization at a time: `rules.association_start_refusal`);
    re-associating with the same organization changes nothing. The
    employee's row is locked so two concurrent re-associations queue instead
    of racing (the partial unique index on open associations is the last
    line of defence). Both organizations are re-evaluated as of D once the
    transaction commits.
    """
    current = _lock(employee)
    previous_ends_on = None
    if current is None:
        previous_ends_on = (
            Association.objects.filter(employee=employee, ends_on__gt=on)
            .order_by("-ends_on")
            .values_list("ends_on", flat=True)
            .first()
        )
    refusal = association_start_refusal(
        on=on, current_starts_on=current.starts_on if current else None, previous_ends_on=previous_ends_on
    )
    if refusal is not None:
        raise AssociationError(_refusal_words(refusal, on))
    if current is not None:
        if current.organization_id == organization.pk:
            return current
        _end(current, employee, on=on, how="moved", by=None)
    association = Association.objects.create(employee=employee, organization=organization, starts_on=on)
    reevaluate_on_commit(
        organization_ids=[organization.pk],
        day=on,
        cause=StatusChange.Cause.ASSOCIATION_STARTED,
        cause_params=cause_params_of("associated", employee_id=employee.pk, name=employee.display_name, day=on),
    )
    return association


@transaction.atomic
def association_end(*, employee: Employee, on: datetime.date, by: Employee | None = None) -> Association | None:
    """The employee leaves on day D and counts for no one from D.

    `by` is the admin who ended it (`invitations.member_remove`), None when
    the employee left. The organization is re-evaluated as of D once the
    transaction commits.
    """
    current = _lock(employee)
    if current is None:
        return None
    if on < current.starts_on:
        raise AssociationError(
            _("The association cannot end on %(day)s, before it started (%(since)s).")
            % {"day": date_format(on), "since": date_format(current.starts_on)}
        )
    _end(current, employee, on=on, how="removed" if by is not None else "left", by=by)
    return current
