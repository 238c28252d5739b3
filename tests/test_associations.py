import datetime
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from competencies import hooks
from competencies.associations import AssociationError, association_end, association_start
from competencies.invitations import member_remove
from competencies.models import Association

from .common import D
from .factories import AssociationFactory, EmployeeFactory, OrganizationFactory


def test_it_severs_the_previous_association_on_the_day(db):
    a, b = OrganizationFactory(), OrganizationFactory()
    employee = EmployeeFactory()
    first = association_start(employee=employee, organization=a, on=datetime.date(2026, 1, 1))

    second = association_start(employee=employee, organization=b, on=D)

    first.refresh_from_db()
    assert first.ends_on == D
    assert second.starts_on == D and second.ends_on is None
    assert Association.objects.filter(employee=employee).count() == 2


def test_it_keeps_the_association_when_re_associating_with_the_same_organization(db):
    a = OrganizationFactory()
    employee = EmployeeFactory()
    first = association_start(employee=employee, organization=a, on=datetime.date(2026, 1, 1))
    assert association_start(employee=employee, organization=a, on=D) == first
    assert Association.objects.filter(employee=employee).count() == 1


def test_it_refuses_an_association_with_the_same_organization_before_the_current_one(db):
    a = OrganizationFactory()
    employee = EmployeeFactory()
    association_start(employee=employee, organization=a, on=D)
    with pytest.raises(AssociationError, match="before the current one"):
        association_start(employee=employee, organization=a, on=D - datetime.timedelta(days=1))


def test_it_refuses_an_association_before_the_current_one(db):
    a, b = OrganizationFactory(), OrganizationFactory()
    employee = EmployeeFactory()
    association_start(employee=employee, organization=a, on=D)
    with pytest.raises(AssociationError, match="before the current one"):
        association_start(employee=employee, organization=b, on=D - datetime.timedelta(days=1))


def test_it_refuses_an_association_before_the_previous_one_ended(db):
    """docs/design.md: an employee belongs to at most one organization at a time, after leaving too."""
    a, b = OrganizationFactory(), OrganizationFactory()
    employee = EmployeeFactory()
    association_start(employee=employee, organization=a, on=datetime.date(2026, 1, 1))
    association_end(employee=employee, on=D)
    with pytest.raises(AssociationError, match="before the previous one ended"):
        association_start(employee=employee, organization=b, on=D - datetime.timedelta(days=1))
    assert not Association.objects.filter(employee=employee, organization=b).exists()
    association_start(employee=employee, organization=b, on=D)  # the day it ended is fine
    assert Association.objects.get(employee=employee, organization=b).starts_on == D


def test_it_ends_the_association_when_the_employee_leaves(db):
    a = OrganizationFactory()
    employee = EmployeeFactory()
    association_start(employee=employee, organization=a, on=datetime.date(2026, 1, 1))
    ended = association_end(employee=employee, on=D)
    assert ended.ends_on == D
    assert not Association.objects.filter(employee=employee, ends_on__isnull=True).exists()


@pytest.fixture
def ended():
    """What `hooks.association_ended` announced, as (organization id, ends_on, how, by)."""
    heard = []

    def listen(*, association, how, by):
        heard.append((association.organization_id, association.ends_on, how, by))

    hooks.association_ended.connect(listen)
    yield heard
    hooks.association_ended.disconnect(listen)


def test_the_end_of_an_association_is_announced_with_how_it_ended(db, ended):
    a, b = OrganizationFactory(), OrganizationFactory()
    employee, admin = EmployeeFactory(), EmployeeFactory()
    association_start(employee=employee, organization=a, on=datetime.date(2026, 1, 1))
    association_start(employee=employee, organization=a, on=D)  # the same organization: nothing ends
    association_start(employee=employee, organization=b, on=D)
    association_end(employee=employee, on=D + datetime.timedelta(days=1))
    association_start(employee=employee, organization=a, on=D + datetime.timedelta(days=2))
    member_remove(organization=a, employee=employee, by=admin, day=D + datetime.timedelta(days=3))
    assert ended == [
        (a.pk, D, "moved", None),
        (b.pk, D + datetime.timedelta(days=1), "left", None),
        (a.pk, D + datetime.timedelta(days=3), "removed", admin),
    ]


def test_the_database_forbids_two_open_associations(db):
    employee = EmployeeFactory()
    AssociationFactory(employee=employee)
    with pytest.raises(IntegrityError), transaction.atomic():
        AssociationFactory(employee=employee)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL; SQLite serialises writers")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_re_associations_leave_exactly_one_open_association():
    employee = EmployeeFactory()
    start = OrganizationFactory()
    AssociationFactory(employee=employee, organization=start, starts_on=datetime.date(2026, 1, 1))
    targets = [OrganizationFactory(), OrganizationFactory()]
    barrier = threading.Barrier(2)
    errors = []

    def move(org):
        try:
            barrier.wait()
            association_start(employee=employee, organization=org, on=D)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(org,)) for org in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    open_ones = Association.objects.filter(employee=employee, ends_on__isnull=True)
    assert open_ones.count() == 1
    # Both moves happened, one after the other: history has three rows, none overlapping.
    rows = list(Association.objects.filter(employee=employee).order_by("id"))
    assert len(rows) == 3
    assert rows[0].ends_on == D and rows[1].ends_on == D
