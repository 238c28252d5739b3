"""What one import works on: the database's rows its records refer to, and what the replay makes of them.

The rows are loaded with one query per kind joined to the file's keys (`staging`), whatever the
number of records. Each object below is one row, existing (`pk`) or to be created (`pk is None`); the
replay changes them in memory, the write step stores the difference.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from django.db import transaction

from competencies.models import (
    Association,
    Competency,
    Credential,
    EarnedCredential,
    Employee,
    Market,
    Metric,
    MetricValue,
    Organization,
    Override,
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
    RecordType,
    handlers,
    registered_types,
)
from .staging import chunks, rows_among

EMPLOYEE_FIELDS = ("name", "mcp_id")
EMPLOYEE_DEFAULTS = ("", "")
ORGANIZATION_FIELDS = ("name", "country", "market", "website", "description", "public_profile")
ORGANIZATION_DEFAULTS = ("", "", Market.DEVELOPED.value, "", "", True)
MARKET = ORGANIZATION_FIELDS.index("market")


class Upserted:
    """A row the file keys and may update (employee, organization, metric value): as stored, and as replayed.

    It is written only when the replay leaves it different from the database,
    whatever the records did on the way (a file imported again writes nothing).
    """

    __slots__ = ("pk", "stored", "current", "updates")

    def __init__(self, pk: int | None, values: tuple):
        self.pk, self.stored, self.current, self.updates = pk, values, values, 0

    @property
    def changed(self) -> bool:
        return self.pk is not None and self.current != self.stored


class Associated:
    """An association of the employee's history; `dirty`: an existing one the file ends."""

    __slots__ = ("mpn_id", "starts_on", "ends_on", "pk", "dirty")

    def __init__(self, mpn_id, starts_on, ends_on=None, pk=None):
        self.mpn_id, self.starts_on, self.ends_on, self.pk, self.dirty = mpn_id, starts_on, ends_on, pk, False


class Registered(NamedTuple):
    """The rows of a registered record type: the keys stored (and replayed so far), the records to write."""

    kind: RecordType
    stored: set
    new: list


class Batch:
    """The rows an import's records refer to, keyed as the records name them (email, MPN ID, code, slug)."""

    def __init__(self):
        self.employees: dict[str, Upserted] = {}  # by lower-case email
        self.staff: set[str] = set()  # emails of the agents among them
        self.organizations: dict[str, Upserted] = {}  # by MPN ID
        self.organization_ids: dict[str, int] = {}  # MPN ID -> pk, of every organization loaded
        self.admins: set[tuple[str, str]] = set()  # (MPN ID, email), existing and to add
        self.new_admins: list[tuple[str, str]] = []
        self.credentials: dict[str, tuple[int, int | None, datetime.date | None]] = {}  # code -> (pk, valid_days, retired_on)
        self.metrics: dict[str, int] = {}  # slug -> pk
        self.competencies: dict[str, int] = {}  # slug -> pk
        self.associations: dict[str, list[Associated]] = defaultdict(list)  # by email, in start order
        self.earned: set[tuple[str, int, datetime.date]] = set()  # (email, credential pk, earned_on)
        self.new_earned: list[tuple[str, int, datetime.date, datetime.date | None]] = []
        self.metric_values: dict[tuple[str, int, datetime.date], Upserted] = {}  # (MPN ID, metric pk, period_end)
        self.overrides: set[tuple[str, int, datetime.date]] = set()  # (MPN ID, competency pk, starts_on)
        # (MPN ID, competency pk) -> (level, starts_on, expires_on) of the one in state active
        self.active_overrides: dict[tuple[str, int], tuple[str, datetime.date, datetime.date]] = {}
        self.new_overrides: list[tuple[OverrideRecord, int]] = []  # with the competency's pk
        self.registered = {kind.name: Registered(kind, set(), []) for kind in registered_types()}
        self.touched: set[str] = set()  # MPN IDs of the organizations to re-evaluate
        self.email_of: dict[int, str] = {}  # employee pk -> email, of the employees loaded
        self.mpn_of: dict[int, str] = {}  # organization pk -> MPN ID, of the organizations loaded

    def load(self, records: Sequence[Record]) -> None:
        """Load every row the records refer to: a query per kind of row, joined to the keys staged."""
        wanted = _Wanted(records, self.registered)
        with transaction.atomic():  # the staged keys live until it ends
            self.load_wanted(wanted)

    def load_wanted(self, wanted: _Wanted) -> None:
        self.load_employees(wanted.emails)
        self.load_organizations(wanted.mpn_ids)
        self.load_catalog(wanted)
        self.load_admins(self.pks(wanted.admins_of, self.organizations))
        self.load_associations(self.pks(wanted.history_of, self.employees))
        self.load_earned(self.pks(wanted.earned_of, self.employees))
        self.load_metric_values(self.pks(wanted.values_of, self.organizations))
        for name, mpn_ids in wanted.registered_of.items():
            self.load_registered(self.registered[name], self.pks(mpn_ids, self.organizations))
        self.load_overrides(self.pks(wanted.overrides_of, self.organizations))

    @staticmethod
    def pks(keys: Iterable, by_key: dict[str, Upserted]) -> list[int]:
        """The pks of the rows among `keys` (only stored rows are loaded)."""
        return [by_key[k].pk for k in keys if k in by_key]

    def load_employees(self, emails: set[str]) -> None:
        rows = rows_among(
            emails,  # stored canonical, as the records' emails are
            lambda keys: Employee.objects.filter(email__in=keys).values_list("pk", "email", "is_staff", *EMPLOYEE_FIELDS),
        )
        for pk, email, is_staff, *values in rows:
            self.employees[email] = Upserted(pk, tuple(values))
            self.email_of[pk] = email
            if is_staff:
                self.staff.add(email)

    def load_organizations(self, mpn_ids: set[str]) -> None:
        rows = rows_among(
            mpn_ids,
            lambda keys: Organization.objects.filter(mpn_id__in=keys).values_list("pk", "mpn_id", *ORGANIZATION_FIELDS),
        )
        for pk, mpn_id, *values in rows:
            self.organizations[mpn_id] = Upserted(pk, tuple(values))
            self.organization_ids[mpn_id] = pk
            self.mpn_of[pk] = mpn_id

    def load_catalog(self, wanted: _Wanted) -> None:
        """The credentials, metrics and competencies the records name."""
        rows = rows_among(
            wanted.codes,
            lambda keys: Credential.objects.filter(code__in=keys).values_list("pk", "code", "valid_days", "retired_on"),
        )
        self.credentials.update((code, (pk, valid_days, retired_on)) for pk, code, valid_days, retired_on in rows)
        self.metrics.update(rows_among(wanted.slugs, lambda keys: Metric.objects.filter(slug__in=keys).values_list("slug", "pk")))
        self.competencies.update(
            rows_among(wanted.competency_slugs, lambda keys: Competency.objects.filter(slug__in=keys).values_list("slug", "pk"))
        )

    def load_admins(self, organization_ids: list[int]) -> None:
        rows = rows_among(
            organization_ids,
            lambda keys: Organization.admins.through.objects.filter(organization_id__in=keys).values_list(
                "organization_id", "employee_id"
            ),
        )
        self.admins.update((self.mpn_of[o], self.email_of[e]) for o, e in rows if e in self.email_of)

    def load_associations(self, employee_ids: list[int]) -> None:
        """The employees' whole histories, in start order (with the organizations they name)."""
        rows = rows_among(
            employee_ids,
            lambda keys: Association.objects.filter(employee_id__in=keys)
            .order_by("employee_id", "starts_on", "pk")
            .values_list("pk", "employee_id", "organization_id", "organization__mpn_id", "starts_on", "ends_on"),
        )
        for pk, employee_id, organization_id, mpn_id, starts_on, ends_on in rows:
            self.organization_ids[mpn_id] = organization_id
            self.associations[self.email_of[employee_id]].append(Associated(mpn_id, starts_on, ends_on, pk))

    def load_earned(self, employee_ids: list[int]) -> None:
        credential_ids = [pk for pk, *_rest in self.credentials.values()]
        rows = rows_among(
            employee_ids,
            lambda keys: EarnedCredential.objects.filter(employee_id__in=keys, credential_id__in=credential_ids)
            .values_list("employee_id", "credential_id", "earned_on"),
        )
        self.earned.update((self.email_of[e], c, on) for e, c, on in rows)

    def load_metric_values(self, organization_ids: list[int]) -> None:
        metric_ids = list(self.metrics.values())
        rows = rows_among(
            organization_ids,
            lambda keys: MetricValue.objects.filter(organization_id__in=keys, metric_id__in=metric_ids)
            .values_list("pk", "organization_id", "metric_id", "period_end", "value"),
        )
        for pk, o, metric_id, period_end, value in rows:
            self.metric_values[(self.mpn_of[o], metric_id, period_end)] = Upserted(pk, (value,))

    def load_registered(self, registered: Registered, organization_ids: list[int]) -> None:
        """A registered type's stored keys, asked for a chunk of organizations at a time."""
        for chunk in chunks(organization_ids):
            registered.stored.update(registered.kind.load({o: self.mpn_of[o] for o in chunk}))

    def load_overrides(self, organization_ids: list[int]) -> None:
        rows = rows_among(
            organization_ids,
            lambda keys: Override.objects.filter(organization_id__in=keys).values_list(
                "organization_id", "competency_id", "level", "starts_on", "expires_on", "state"
            ),
        )
        for o, competency_id, level, starts_on, expires_on, state in rows:
            mpn_id = self.mpn_of[o]
            self.overrides.add((mpn_id, competency_id, starts_on))
            if state == Override.State.ACTIVE:
                self.active_overrides[(mpn_id, competency_id)] = (level, starts_on, expires_on)


class _Wanted:
    """The keys a file's records name, and for which of them the related rows matter."""

    def __init__(self, records: Sequence[Record], registered: dict[str, Registered]):
        self.emails, self.mpn_ids, self.codes, self.slugs, self.competency_slugs = set(), set(), set(), set(), set()
        self.history_of, self.earned_of = set(), set()  # employees whose associations / earned credentials matter
        self.values_of, self.overrides_of, self.admins_of = set(), set(), set()  # organizations, likewise
        self.registered_of: dict[str, set[str]] = {name: set() for name in registered}
        note = handlers(self)
        of_registered = {r.kind.record: self.registered_of[name] for name, r in registered.items()}
        for r in records:
            add = note.get(type(r))
            if add is not None:
                add(r)
            else:  # a registered type's record names its organization
                self.mpn_ids.add(r.mpn_id)
                of_registered[type(r)].add(r.mpn_id)

    def organization(self, r: OrganizationRecord) -> None:
        self.mpn_ids.add(r.mpn_id)
        if r.admins:
            self.emails.update(r.admins)
            self.admins_of.add(r.mpn_id)

    def employee(self, r: EmployeeRecord) -> None:
        self.emails.add(r.email)

    def credential(self, r: CredentialRecord) -> None:
        self.emails.add(r.email)
        self.codes.add(r.code)
        self.earned_of.add(r.email)
        self.history_of.add(r.email)  # to know the organizations it counts for

    def association(self, r: AssociationRecord) -> None:
        self.emails.add(r.email)
        self.history_of.add(r.email)
        self.mpn_ids.add(r.mpn_id)

    def disassociation(self, r: DisassociationRecord) -> None:
        self.emails.add(r.email)
        self.history_of.add(r.email)

    def metric(self, r: MetricRecord) -> None:
        self.mpn_ids.add(r.mpn_id)
        self.slugs.add(r.metric)
        self.values_of.add(r.mpn_id)

    def override(self, r: OverrideRecord) -> None:
        self.mpn_ids.add(r.mpn_id)
        self.competency_slugs.add(r.competency)
        self.overrides_of.add(r.mpn_id)
        if r.agent:
            self.emails.add(r.agent)
