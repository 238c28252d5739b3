"""The replay: an import's records applied in file order over the rows they refer to (`Batch`), so a
record may refer to what an earlier line created, and each refused with its reason (`_Bad`).

The rules are docs/design.md's, as the services apply them one at a time; a record whose effect is
already there (a file imported again) changes nothing.
"""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict

from competencies.rules import Refusal, association_start_refusal

from .batch import (
    EMPLOYEE_DEFAULTS,
    EMPLOYEE_FIELDS,
    MARKET,
    ORGANIZATION_DEFAULTS,
    ORGANIZATION_FIELDS,
    Associated,
    Batch,
    Registered,
    Upserted,
)
from .records import (
    AssociationRecord,
    CredentialRecord,
    DisassociationRecord,
    EmployeeRecord,
    MetricRecord,
    OrganizationRecord,
    OverrideRecord,
    Record,
    _Bad,
    handlers,
)


class Replay:
    """Applies records to a loaded `Batch`, counting what each record type created, updated or left unchanged."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.created: dict[str, int] = defaultdict(int)
        self.updated: dict[str, int] = defaultdict(int)
        self.unchanged: dict[str, int] = defaultdict(int)
        self.apply_by_type = handlers(self)
        for registered in batch.registered.values():
            self.apply_by_type[registered.kind.record] = functools.partial(self.registered, registered)

    def apply(self, record: Record) -> None:
        """Apply one record, or raise `_Bad` with the reason."""
        self.apply_by_type[type(record)](record)

    def employee_of(self, email: str) -> Upserted:
        employee = self.batch.employees.get(email)
        if employee is None:
            raise _Bad(f"unknown employee {email!r}")
        return employee

    def organization_of(self, mpn_id: str) -> Upserted:
        organization = self.batch.organizations.get(mpn_id)
        if organization is None:
            raise _Bad(f"unknown organization (mpn_id {mpn_id!r})")
        return organization

    def upsert(self, kind: str, rows: dict, key, values: dict, fields: tuple, defaults: tuple) -> None:
        """Create the row keyed `key` (the defaults for the fields not given), or update the fields given."""
        row = rows.get(key)
        if row is None:
            rows[key] = Upserted(None, tuple(map(values.get, fields, defaults)))  # map: no Python frame per field
            self.created[kind] += 1
            return
        current = tuple(map(values.get, fields, row.current))
        if current == row.current:
            self.unchanged[kind] += 1
        else:
            row.current = current
            row.updates += 1
            self.updated[kind] += 1

    def settle(self) -> None:
        """After the replay: a row left as the database has it was not updated, whatever the records did on the way.

        Then the organizations to re-evaluate: those whose metric values or
        market changed (metric thresholds may differ by market), and the new ones.
        """
        batch = self.batch
        upserted = (("employee", batch.employees), ("organization", batch.organizations), ("metric", batch.metric_values))
        for kind, rows in upserted:
            for row in rows.values():
                if row.updates and row.pk is not None and not row.changed:
                    self.updated[kind] -= row.updates
                    self.unchanged[kind] += row.updates
        batch.touched.update(key[0] for key, row in batch.metric_values.items() if row.pk is None or row.changed)
        batch.touched.update(
            mpn_id for mpn_id, row in batch.organizations.items()
            if row.pk is None or row.current[MARKET] != row.stored[MARKET]
        )

    # One method per record type.

    def employee(self, r: EmployeeRecord) -> None:
        """Employees are keyed by email, whatever its case; the optional fields given update the row."""
        self.upsert("employee", self.batch.employees, r.email, r.values, EMPLOYEE_FIELDS, EMPLOYEE_DEFAULTS)

    def organization(self, r: OrganizationRecord) -> None:
        """Organizations are keyed by MPN ID; `market` defaults to developed, `public_profile` to true.

        `admins` (employees known to the database or created by an earlier
        line) are added to the organization's admins; none is removed. The
        organization is registered before its admins are checked, so a bad
        admin does not make every later line about the organization bad too.
        """
        batch = self.batch
        self.upsert("organization", batch.organizations, r.mpn_id, r.values, ORGANIZATION_FIELDS, ORGANIZATION_DEFAULTS)
        for email in r.admins:
            self.employee_of(email)
        for email in r.admins:
            if (r.mpn_id, email) not in batch.admins:
                batch.admins.add((r.mpn_id, email))
                batch.new_admins.append((r.mpn_id, email))

    def credential(self, r: CredentialRecord) -> None:
        """An earned credential, keyed by employee × code × `earned_on`.

        `expires_on` defaults to `earned_on + valid_days` of the credential
        when it has a validity, else none. A retired credential is no longer
        earnable (docs/design.md): from its `retired_on`, a new one is refused.
        """
        batch = self.batch
        self.employee_of(r.email)
        known = batch.credentials.get(r.code)
        if known is None:
            raise _Bad(f"unknown credential code {r.code!r}")
        credential_id, valid_days, retired_on = known
        key = (r.email, credential_id, r.earned_on)
        if key in batch.earned:
            self.unchanged["credential"] += 1
            return
        if retired_on is not None and r.earned_on >= retired_on:
            raise _Bad(f"credential {r.code!r} was retired on {retired_on}: it cannot be earned on {r.earned_on}")
        expires_on = r.expires_on
        if expires_on is None and valid_days:
            expires_on = r.earned_on + datetime.timedelta(days=valid_days)
        batch.earned.add(key)
        batch.new_earned.append((r.email, credential_id, r.earned_on, expires_on))
        self.created["credential"] += 1
        # It counts for every organization the employee is with from the day it was earned.
        batch.touched.update(
            a.mpn_id for a in batch.associations.get(r.email, ()) if a.ends_on is None or a.ends_on > r.earned_on
        )

    def association(self, r: AssociationRecord) -> None:
        """Associating with organization B on day D ends the association with A on day D.

        As `association_start` has it: re-associating with the organization
        the employee is with changes nothing; the refusals are
        `rules.association_start_refusal`'s (one organization at a time). An
        association of this employee with this organization from this day
        already in the history (a file imported again) is a no-op.
        """
        self.employee_of(r.email)
        self.organization_of(r.mpn_id)
        history = self.batch.associations[r.email]
        if any(a.mpn_id == r.mpn_id and a.starts_on == r.on for a in history):
            self.unchanged["association"] += 1
            return
        current = next((a for a in reversed(history) if a.ends_on is None), None)
        previous = None
        if current is None:
            previous = max((a for a in history if a.ends_on is not None), key=lambda a: a.ends_on, default=None)
        refusal = association_start_refusal(
            on=r.on,
            current_starts_on=current.starts_on if current is not None else None,
            previous_ends_on=previous.ends_on if previous is not None else None,
        )
        if refusal is not None:
            raise _Bad(_start_refused(r.on, refusal, current or previous))
        if current is not None:
            if current.mpn_id == r.mpn_id:
                self.unchanged["association"] += 1
                return
            self.end(current, r.on)
        history.append(Associated(r.mpn_id, r.on))
        self.batch.touched.add(r.mpn_id)
        self.created["association"] += 1

    def disassociation(self, r: DisassociationRecord) -> None:
        """The employee leaves on day D and counts for no one from D (as `association_end` has it).

        An employee with no association to end is an error, unless an
        association of theirs already ends on D (a file imported again).
        """
        self.employee_of(r.email)
        history = self.batch.associations.get(r.email, [])
        current = next((a for a in reversed(history) if a.ends_on is None), None)
        if current is not None and r.on >= current.starts_on:
            self.end(current, r.on)
            self.updated["disassociation"] += 1
            return
        if any(a.ends_on == r.on for a in history):
            self.unchanged["disassociation"] += 1
            return
        if current is not None:
            raise _Bad(f"the association cannot end on {r.on}, before it started ({current.starts_on})")
        raise _Bad(f"{r.email} has no association to end")

    def end(self, association: Associated, on: datetime.date) -> None:
        association.ends_on = on
        association.dirty = association.pk is not None
        self.batch.touched.add(association.mpn_id)

    def metric(self, r: MetricRecord) -> None:
        """A metric value per organization × metric × `period_end`; a second record for the period replaces it."""
        self.organization_of(r.mpn_id)
        metric_id = self.batch.metrics.get(r.metric)
        if metric_id is None:
            raise _Bad(f"unknown metric {r.metric!r}")
        key = (r.mpn_id, metric_id, r.period_end)
        self.upsert("metric", self.batch.metric_values, key, {"value": r.value}, ("value",), (None,))

    def override(self, r: OverrideRecord) -> None:
        """An override carried over, keyed by organization × competency × `starts_on`, with its audit row.

        `expires_on` defaults to 3 calendar months after `starts_on`; `agent`,
        when given, is a staff account. One active override per organization
        × competency, as `override_apply` has it: while one is active
        (from the database or an earlier line), another is refused. The
        importer has no today to tell whether it is over: the nightly run
        expires it, an agent revokes it.
        """
        batch = self.batch
        self.organization_of(r.mpn_id)
        competency_id = batch.competencies.get(r.competency)
        if competency_id is None:
            raise _Bad(f"unknown competency {r.competency!r}")
        if r.agent is not None:
            if r.agent not in batch.employees:
                raise _Bad(f"unknown agent {r.agent!r}")
            if r.agent not in batch.staff:
                raise _Bad(f"{r.agent!r} is not an agent (a staff account)")
        key = (r.mpn_id, competency_id, r.starts_on)
        if key in batch.overrides:
            self.unchanged["override"] += 1
            return
        active = batch.active_overrides.get((r.mpn_id, competency_id))
        if active is not None:
            raise _Bad(
                f"an active {active[0]} override of {r.competency} for {r.mpn_id} already runs from {active[1]} "
                f"until {active[2]}: it must expire (the nightly run) or be revoked first"
            )
        batch.overrides.add(key)
        batch.active_overrides[(r.mpn_id, competency_id)] = (r.level, r.starts_on, r.expires_on)
        batch.new_overrides.append((r, competency_id))
        batch.touched.add(r.mpn_id)
        self.created["override"] += 1

    def registered(self, registered: Registered, r: tuple) -> None:
        """A record of a registered type: of a known organization; one whose key is stored already is a no-op."""
        self.organization_of(r.mpn_id)
        if not registered.kind.replay(registered.stored, r):
            self.unchanged[registered.kind.name] += 1
            return
        registered.new.append(r)
        self.batch.touched.add(r.mpn_id)
        self.created[registered.kind.name] += 1


def _start_refused(on: datetime.date, refusal: Refusal, other: Associated) -> str:
    """The reason an association may not start on `on`, naming the association in the way."""
    if refusal.code == "before_current":
        return (
            f"the association starts on {on}, before the employee's current one "
            f"(with {other.mpn_id} since {refusal.conflicting})"
        )
    return (
        f"the association starts on {on}, before the employee's previous one ended "
        f"(with {other.mpn_id} until {refusal.conflicting})"
    )
