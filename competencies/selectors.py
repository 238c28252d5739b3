"""Reads: who belongs where, and what the pages show."""

import datetime

from django.utils import timezone

from .models import Association, Employee, Organization


def organization_of(employee: Employee, *, day: datetime.date | None = None) -> Organization | None:
    """The organization an employee works for on `day`.

    The one their association covers on that day; failing that, the one
    they administer (an admin need not hold credentials). None otherwise.
    """
    day = day or timezone.localdate()
    association = (
        Association.objects.select_related("organization")
        .filter(employee=employee, starts_on__lte=day)
        .exclude(ends_on__lte=day)
        .order_by("-starts_on")
        .first()
    )
    if association:
        return association.organization
    return employee.administered_organizations.order_by("pk").first()


def is_organization_admin(employee: Employee, organization: Organization) -> bool:
    return organization.admins.filter(pk=employee.pk).exists()


def current_association(employee: Employee) -> Association | None:
    return Association.objects.select_related("organization").filter(employee=employee, ends_on__isnull=True).first()
