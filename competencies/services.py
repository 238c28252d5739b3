"""Writes on partners, people and associations.

Each service states the rule of DESIGN.md it implements. Time is a
parameter: callers pass the day.
"""

import datetime

from django.db import transaction

from .models import Association, Employee, Organization


class AssociationError(ValueError):
    pass


@transaction.atomic
def association_start(*, employee: Employee, organization: Organization, on: datetime.date) -> Association:
    """Associating with organization B on day D ends the association with A on day D.

    From D the employee counts for B only. An association may not start
    before the employee's current one; re-associating with the same
    organization changes nothing. The employee's row is locked so two
    concurrent re-associations queue instead of racing (the partial unique
    index on open associations is the last line of defence).
    """
    Employee.objects.select_for_update().filter(pk=employee.pk).first()
    current = Association.objects.filter(employee=employee, ends_on__isnull=True).first()
    if current is not None:
        if current.organization_id == organization.pk:
            return current
        if on < current.starts_on:
            raise AssociationError(
                f"the association cannot start on {on}, before the current one (since {current.starts_on})"
            )
        current.ends_on = on
        current.save(update_fields=["ends_on"])
    return Association.objects.create(employee=employee, organization=organization, starts_on=on)


@transaction.atomic
def association_end(*, employee: Employee, on: datetime.date) -> Association | None:
    """The employee leaves on day D and counts for no one from D."""
    Employee.objects.select_for_update().filter(pk=employee.pk).first()
    current = Association.objects.filter(employee=employee, ends_on__isnull=True).first()
    if current is None:
        return None
    if on < current.starts_on:
        raise AssociationError(f"the association cannot end on {on}, before it started ({current.starts_on})")
    current.ends_on = on
    current.save(update_fields=["ends_on"])
    return current
