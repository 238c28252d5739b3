"""The write step of an import: what the replay made of a `Batch`, in bulk, in the caller's transaction.

A few statements per table whatever the number of records: on PostgreSQL `COPY` and
`UPDATE … FROM unnest(…)` (`competencies.bulk`), elsewhere `bulk_create` and `bulk_update`. Rows the replay left as the
database has them are not written.
"""

from __future__ import annotations

from competencies.bulk import BATCH, bulk_insert, bulk_update
from competencies.models import (
    Association,
    EarnedCredential,
    Employee,
    MetricValue,
    Organization,
    Override,
    OverrideAudit,
)

from .batch import EMPLOYEE_FIELDS, ORGANIZATION_FIELDS, Batch
from .staging import chunks


def write(batch: Batch) -> set[int]:
    """Write every new and changed row; the ids of the organizations to re-evaluate."""
    employee_id = _write_employees(batch)
    organization_id = _write_organizations(batch)
    bulk_insert(
        Organization.admins.through,
        ["organization_id", "employee_id"],
        [(organization_id[mpn_id], employee_id[email]) for mpn_id, email in batch.new_admins],
    )
    bulk_insert(
        EarnedCredential,
        ["employee_id", "credential_id", "earned_on", "expires_on"],
        [(employee_id[email], c, on, expires_on) for email, c, on, expires_on in batch.new_earned],
    )
    _write_associations(batch, organization_id=organization_id, employee_id=employee_id)
    _write_metric_values(batch, organization_id=organization_id)
    for registered in batch.registered.values():
        if registered.new:
            registered.kind.write(registered.new, organization_id)
    _write_overrides(batch, organization_id=organization_id, employee_id=employee_id)
    return {organization_id[mpn_id] for mpn_id in batch.touched}


def _write_employees(batch: Batch) -> dict[str, int]:
    """New and changed employees; every employee's id by email."""
    new = [(email, e) for email, e in batch.employees.items() if e.pk is None]
    ids = bulk_insert(Employee, ["email", *EMPLOYEE_FIELDS, "password"], [(email, *e.current, "!") for email, e in new])
    employee_id = {email: e.pk for email, e in batch.employees.items() if e.pk is not None}
    employee_id.update(zip((email for email, _ in new), ids))
    bulk_update(Employee, EMPLOYEE_FIELDS, [(e.pk, *e.current) for e in batch.employees.values() if e.changed])
    return employee_id


def _write_organizations(batch: Batch) -> dict[str, int]:
    """New and changed organizations; the id of every organization the batch knows, by MPN ID."""
    new = [(mpn_id, o) for mpn_id, o in batch.organizations.items() if o.pk is None]
    ids = bulk_insert(Organization, ["mpn_id", *ORGANIZATION_FIELDS], [(mpn_id, *o.current) for mpn_id, o in new])
    organization_id = dict(batch.organization_ids)
    organization_id.update(zip((mpn_id for mpn_id, _ in new), ids))
    bulk_update(
        Organization, ORGANIZATION_FIELDS, [(o.pk, *o.current) for o in batch.organizations.values() if o.changed]
    )
    return organization_id


def _write_associations(batch: Batch, *, organization_id: dict[str, int], employee_id: dict[str, int]) -> None:
    # The ends first, since the database allows one open association per employee.
    bulk_update(
        Association,
        ["ends_on"],
        [(a.pk, a.ends_on) for history in batch.associations.values() for a in history if a.dirty],
    )
    bulk_insert(
        Association,
        ["employee_id", "organization_id", "starts_on", "ends_on"],
        [
            (employee_id[email], organization_id[a.mpn_id], a.starts_on, a.ends_on)
            for email, history in batch.associations.items()
            for a in history
            if a.pk is None
        ],
    )


def _write_metric_values(batch: Batch, *, organization_id: dict[str, int]) -> None:
    bulk_insert(
        MetricValue,
        ["organization_id", "metric_id", "period_end", "value"],
        [
            (organization_id[mpn_id], metric_id, period_end, v.current[0])
            for (mpn_id, metric_id, period_end), v in batch.metric_values.items()
            if v.pk is None
        ],
    )
    bulk_update(MetricValue, ["value"], [(v.pk, *v.current) for v in batch.metric_values.values() if v.changed])


def _write_overrides(batch: Batch, *, organization_id: dict[str, int], employee_id: dict[str, int]) -> None:
    """New overrides, each with its `apply` audit row (actor: the agent, day: `starts_on`)."""
    if not batch.new_overrides:
        return
    created = Override.objects.bulk_create(
        [
            Override(
                organization_id=organization_id[r.mpn_id],
                competency_id=competency_id,
                level=r.level,
                reason=r.reason,
                starts_on=r.starts_on,
                expires_on=r.expires_on,
                created_by_id=employee_id.get(r.agent),
            )
            for r, competency_id in batch.new_overrides
        ],
        batch_size=BATCH,
    )
    if any(row.pk is None for row in created):  # a database that cannot return ids from a bulk insert
        ids = {}
        for chunk in chunks({row.organization_id for row in created}):
            rows = Override.objects.filter(organization_id__in=chunk).values_list(
                "pk", "organization_id", "competency_id", "starts_on"
            )
            ids.update(((o, c, s), pk) for pk, o, c, s in rows)
        for row in created:
            row.pk = ids[(row.organization_id, row.competency_id, row.starts_on)]
    OverrideAudit.objects.bulk_create(
        [
            OverrideAudit(
                override_id=row.pk,
                action=OverrideAudit.Action.APPLY,
                actor_id=row.created_by_id,
                day=row.starts_on,
                reason=row.reason,
                old_values={},
                # As the services' audit rows record an override.
                new_values={
                    "level": row.level,
                    "starts_on": row.starts_on.isoformat(),
                    "expires_on": row.expires_on.isoformat(),
                    "state": row.state,
                    "revoked_on": None,
                },
            )
            for row in created
        ],
        batch_size=BATCH,
    )
