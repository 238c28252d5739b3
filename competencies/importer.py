"""The bulk, all-or-nothing importer of partner activity (CONTRACT.md, "Activity records").

Three passes over a file, whatever its size:

1. **parse** every line and check its shape (a JSON object, a known `type`,
   the required fields, dates, numbers, levels, emails, MPN IDs);
2. **replay**: load what the records refer to with a few `__in` queries per
   kind (chunks of `CHUNK` keys), then apply the records in file order over
   that in-memory state, so a record may refer to what an earlier line
   created and the association rule of DESIGN.md ("associating with
   organization B on day D ends the association with A on day D") holds
   exactly as `services.association_start` / `association_end` state it;
3. **write**, only if no line was bad: everything in one transaction, in
   bulk (on PostgreSQL `COPY` and `UPDATE … FROM unnest(…)`, elsewhere
   `bulk_create` and `bulk_update`), a few statements per table.

One bad line and nothing is written; every bad line is named with its reason.

Importing the same file twice adds nothing the second time: every record is
keyed, and a record whose effect is already there is a no-op —
employee by email (its canonical form, competencies/identity.py), organization by MPN ID (same values:
nothing written), earned credential by employee × code × `earned_on`,
association by employee × organization × start (and associating with the
organization the employee is already with changes nothing), disassociation by
an association of the employee already ending that day, metric value by
organization × metric × `period_end` (a second value replaces the first),
membership by organization × level × start, override by organization ×
competency × `starts_on`.

The importer does not evaluate: `ImportResult.touched_organization_ids` names
the organizations whose evaluation may have changed, for the caller to
re-evaluate once the transaction commits.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import re
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, models, transaction
from django.utils import timezone

from . import jsonsafe
from .dates import beyond_horizon
from .identity import InvalidEmail, canonical_email
from .models import (
    Association,
    Competency,
    Credential,
    EarnedCredential,
    Employee,
    Level,
    Market,
    Metric,
    MetricValue,
    Organization,
    Override,
    OverrideAudit,
)
from .services import override_default_expiry  # the services' rule: 3 calendar months after the start

logger = logging.getLogger(__name__)

CHUNK = 5000  # keys per `__in` query
BATCH = 2000  # rows per INSERT / UPDATE statement
MAX_METRIC_VALUE = Decimal("1e16")  # MetricValue.value: 18 digits, 2 of them decimals
LEVELS = (Level.SILVER.value, Level.GOLD.value)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
MPN_RE = re.compile(r"[0-9]{1,20}\Z")

REQUIRED = {
    "organization": ("mpn_id", "name"),
    "employee": ("email",),
    "credential": ("email", "code", "earned_on"),
    "association": ("email", "mpn_id", "on"),
    "disassociation": ("email", "on"),
    "metric": ("mpn_id", "metric", "period_end", "value"),
    "membership": ("mpn_id", "level", "purchased_on"),
    "override": ("mpn_id", "competency", "level", "starts_on", "reason"),
}


class ImportFailed(Exception):
    """Bad records, nothing written: `errors` lists `(line number, reason)` in line order."""

    def __init__(self, errors: list[tuple[int, str]], source: str = "-"):
        self.errors = sorted(errors)
        self.source = source
        super().__init__(f"{len(self.errors)} bad line(s) in {source}")

    def lines(self) -> list[str]:
        """`PATH:LINE: reason`, one per bad line."""
        return [f"{self.source}:{line}: {reason}" for line, reason in self.errors]


@dataclass
class ImportResult:
    """What an import did, per record type; `touched_organization_ids` are the ones to re-evaluate."""

    records: int = 0
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unchanged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    touched_organization_ids: set[int] = field(default_factory=set)

    def summary(self) -> str:
        kinds = [kind for kind in REQUIRED if kind in self.created or kind in self.updated or kind in self.unchanged]
        parts = [
            f"{kind}: {self.created.get(kind, 0)} new, {self.updated.get(kind, 0)} updated, "
            f"{self.unchanged.get(kind, 0)} unchanged"
            for kind in kinds
        ]
        return f"{self.records} records imported ({'; '.join(parts) or 'nothing'})"


def import_activity(*, lines: Iterable[str], source: str = "-") -> ImportResult:
    """Import JSON Lines activity records in file order, all or nothing.

    Every line is checked before anything is written; if any is bad,
    `ImportFailed` names every bad line (`(line, reason)`) and the database
    is left as it was. Otherwise everything is written in one transaction.
    Blank lines are skipped (they keep their numbers for the others).
    """
    started = time.perf_counter()
    parser = _Parser()
    records: list[_Record] = []
    numbers = array("L")  # the line number of each record, without an int object per record
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw or raw.isspace():
            continue
        try:
            records.append(parser.record(raw))
            numbers.append(number)
        except _Bad as exc:
            errors.append((number, str(exc)))
    parsed = time.perf_counter()
    replay = _Replay()
    replay.load(records)
    loaded = time.perf_counter()
    for number, record in zip(numbers, records):
        try:
            replay.apply(record)
        except _Bad as exc:
            errors.append((number, str(exc)))
    replayed = time.perf_counter()
    logger.debug(
        "import_activity %s: %d records, %d bad lines; parse %.1fs, load %.1fs, replay %.1fs",
        source, len(records), len(errors), parsed - started, loaded - parsed, replayed - loaded,
    )
    if errors:
        raise ImportFailed(errors, source)
    replay.settle()
    replay.result.records = len(records)
    with transaction.atomic():
        replay.write()
    logger.debug("import_activity %s: written in %.1fs", source, time.perf_counter() - replayed)
    return replay.result


# ---------------------------------------------------------------------------
# Records, as parsed: small tuples (a 600,000-line file is held in memory), with
# shared strings and dates (the same email, MPN ID and day recur on many lines).


class OrganizationRecord(NamedTuple):
    mpn_id: str
    values: dict  # name, and the optional fields given
    admins: tuple[str, ...]


class EmployeeRecord(NamedTuple):
    email: str
    values: dict  # the optional fields given: name, mcp_id


class CredentialRecord(NamedTuple):
    email: str
    code: str
    earned_on: datetime.date
    expires_on: datetime.date | None


class AssociationRecord(NamedTuple):
    email: str
    mpn_id: str
    on: datetime.date


class DisassociationRecord(NamedTuple):
    email: str
    on: datetime.date


class MetricRecord(NamedTuple):
    mpn_id: str
    metric: str
    period_end: datetime.date
    value: Decimal


class MembershipRecord(NamedTuple):
    mpn_id: str
    level: str
    purchased_on: datetime.date


class OverrideRecord(NamedTuple):
    mpn_id: str
    competency: str
    level: str
    starts_on: datetime.date
    expires_on: datetime.date
    reason: str
    agent: str | None


_Record = (
    OrganizationRecord | EmployeeRecord | CredentialRecord | AssociationRecord | DisassociationRecord
    | MetricRecord | MembershipRecord | OverrideRecord
)


class _Bad(Exception):
    """A line's reason for refusal."""


class _Parser:
    """Parses and checks one line at a time; caches what recurs."""

    def __init__(self):
        self.dates: dict[str, datetime.date] = {}
        self.emails: dict[str, str] = {}  # as written -> canonical
        self.strings: dict[str, str] = {}  # one object per distinct MPN ID, code, slug
        self.url = URLValidator()
        self.parsers: dict[str, Callable[[dict], _Record]] = {
            "organization": self.organization,
            "employee": self.employee,
            "credential": self.credential,
            "association": self.association,
            "disassociation": self.disassociation,
            "metric": self.metric,
            "membership": self.membership,
            "override": self.override,
        }

    def record(self, raw: str) -> _Record:
        try:
            obj = jsonsafe.loads(raw.rstrip("\r\n"))  # without its line end, the column is the line's
        except jsonsafe.BadDocument as exc:
            where = f"'{exc.path}' " if exc.path else ""
            raise _Bad(where + exc.reason + (f" (column {exc.column})" if exc.column else "")) from None
        if type(obj) is not dict:
            raise _Bad("a record must be a JSON object")
        kind = obj.get("type")
        parse = self.parsers.get(kind) if isinstance(kind, str) else None
        if parse is None:
            raise _Bad("missing field 'type'" if kind is None else f"unknown type {kind!r}")
        missing = None
        for name in REQUIRED[kind]:
            value = obj.get(name)
            if value is None or value == "":
                missing = [*(missing or ()), name]
        if missing:
            names = ", ".join(f"'{name}'" for name in missing)
            raise _Bad(f"missing field{'s' if len(missing) > 1 else ''} {names}")
        return parse(obj)

    # Fields

    def date(self, obj: dict, name: str) -> datetime.date | None:
        value = obj.get(name)
        if value is None:
            return None
        day = self.dates.get(value) if isinstance(value, str) else None
        if day is None:
            if not isinstance(value, str) or not DATE_RE.match(value):
                raise _Bad(f"'{name}' is not a date (YYYY-MM-DD): {value!r}")
            try:
                day = datetime.date.fromisoformat(value)
            except ValueError:
                raise _Bad(f"'{name}' is not a date (YYYY-MM-DD): {value!r}") from None
            if why := beyond_horizon(day):  # a typo such as 2099 or 9999-12-31 (competencies/dates.py)
                raise _Bad(f"'{name}' {why}: {value!r}")
            self.dates[value] = day
        return day

    def email(self, value, name: str = "email") -> str:
        email = self.emails.get(value) if isinstance(value, str) else None
        if email is None:
            if not isinstance(value, str):
                raise _Bad(f"'{name}' is not an email address: {value!r}")
            try:
                email = canonical_email(value)  # the one identity (competencies/identity.py)
            except InvalidEmail as exc:
                raise _Bad(f"'{name}' is not an email address: {value!r} ({exc})") from None
            self.emails.setdefault(email, email)
            self.emails[value] = email = self.emails[email]
        return email

    def mpn_id(self, obj: dict) -> str:
        value = obj["mpn_id"]
        if type(value) is int and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not MPN_RE.match(value):
            raise _Bad(f"'mpn_id' must be digits: {value!r}")
        return self.strings.setdefault(value, value)

    def text(self, obj: dict, name: str, limit: int | None = None) -> str:
        value = obj[name]
        if not isinstance(value, str):
            raise _Bad(f"'{name}' must be text: {value!r}")
        if limit and len(value) > limit:
            raise _Bad(f"'{name}' is longer than {limit} characters")
        return value

    def key(self, obj: dict, name: str, limit: int) -> str:
        """A code or slug: text, shared."""
        value = self.text(obj, name, limit).strip()
        return self.strings.setdefault(value, value)

    def level(self, obj: dict) -> str:
        value = obj["level"]
        if value not in LEVELS:
            raise _Bad(f"unknown level {value!r} (silver or gold)")
        return value

    # Records

    def organization(self, obj: dict) -> OrganizationRecord:
        values = {"name": self.text(obj, "name", 200)}
        for name, limit in (("country", 80), ("description", None)):
            if obj.get(name) is not None:
                values[name] = self.text(obj, name, limit)
        if obj.get("website") is not None:
            website = self.text(obj, "website", 200)
            if website:
                try:
                    self.url(website)
                except ValidationError:
                    raise _Bad(f"'website' is not a URL: {website!r}") from None
            values["website"] = website
        if obj.get("market") is not None:
            if obj["market"] not in Market.values:
                raise _Bad(f"unknown market {obj['market']!r} (developed or developing)")
            values["market"] = obj["market"]
        if obj.get("public_profile") is not None:
            if not isinstance(obj["public_profile"], bool):
                raise _Bad(f"'public_profile' must be true or false: {obj['public_profile']!r}")
            values["public_profile"] = obj["public_profile"]
        admins = obj.get("admins")
        if admins is None:
            admins = []
        if not isinstance(admins, list):
            raise _Bad("'admins' must be a list of emails")
        return OrganizationRecord(self.mpn_id(obj), values, tuple(self.email(a, "admins") for a in admins))

    def employee(self, obj: dict) -> EmployeeRecord:
        values = {}
        if obj.get("name") is not None:
            values["name"] = self.text(obj, "name", 200)
        if obj.get("mcp_id") is not None:
            if type(obj["mcp_id"]) is int:
                obj["mcp_id"] = str(obj["mcp_id"])
            values["mcp_id"] = self.text(obj, "mcp_id", 40)
        return EmployeeRecord(self.email(obj["email"]), values)

    def credential(self, obj: dict) -> CredentialRecord:
        earned_on, expires_on = self.date(obj, "earned_on"), self.date(obj, "expires_on")
        if expires_on is not None and expires_on <= earned_on:
            raise _Bad(f"'expires_on' ({expires_on}) must be after 'earned_on' ({earned_on})")
        return CredentialRecord(self.email(obj["email"]), self.key(obj, "code", 40), earned_on, expires_on)

    def association(self, obj: dict) -> AssociationRecord:
        return AssociationRecord(self.email(obj["email"]), self.mpn_id(obj), self.date(obj, "on"))

    def disassociation(self, obj: dict) -> DisassociationRecord:
        return DisassociationRecord(self.email(obj["email"]), self.date(obj, "on"))

    def metric(self, obj: dict) -> MetricRecord:
        value = obj["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _Bad(f"'value' is not a number: {value!r}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise _Bad(f"'value' is not a number: {value!r}") from None
        if not number.is_finite():
            raise _Bad(f"'value' is not a number: {value!r}")
        if number < 0:
            raise _Bad(f"'value' must be a number >= 0: {value!r}")
        if number >= MAX_METRIC_VALUE:
            raise _Bad(f"'value' is too large: {value!r}")
        # Stored with two decimals, as the column holds them.
        value = number.quantize(Decimal("0.01"))
        return MetricRecord(self.mpn_id(obj), self.key(obj, "metric", 80), self.date(obj, "period_end"), value)

    def membership(self, obj: dict) -> MembershipRecord:
        return MembershipRecord(self.mpn_id(obj), self.level(obj), self.date(obj, "purchased_on"))

    def override(self, obj: dict) -> OverrideRecord:
        reason = self.text(obj, "reason").strip()
        if not reason:
            raise _Bad("missing field 'reason'")
        starts_on = self.date(obj, "starts_on")
        expires_on = self.date(obj, "expires_on") or override_default_expiry(starts_on)
        if expires_on <= starts_on:
            raise _Bad(f"'expires_on' ({expires_on}) must be after 'starts_on' ({starts_on})")
        agent = self.email(obj["agent"], "agent") if obj.get("agent") is not None else None
        return OverrideRecord(
            self.mpn_id(obj), self.key(obj, "competency", 50), self.level(obj), starts_on, expires_on, reason, agent
        )


# ---------------------------------------------------------------------------
# The replay: the database's rows the file refers to, and the records applied
# over them in file order. Each object below is one row, existing (`pk`) or to
# be created (`pk is None`).


class _Upserted:
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


EMPLOYEE_FIELDS = ("name", "mcp_id")
EMPLOYEE_DEFAULTS = ("", "")
ORGANIZATION_FIELDS = ("name", "country", "market", "website", "description", "public_profile")
ORGANIZATION_DEFAULTS = ("", "", Market.DEVELOPED.value, "", "", True)
MARKET = ORGANIZATION_FIELDS.index("market")


class _Association:
    """An association of the employee's history; `dirty`: an existing one the file ends."""

    __slots__ = ("mpn_id", "starts_on", "ends_on", "pk", "dirty")

    def __init__(self, mpn_id, starts_on, ends_on=None, pk=None):
        self.mpn_id, self.starts_on, self.ends_on, self.pk, self.dirty = mpn_id, starts_on, ends_on, pk, False


def _chunks(values: Iterable, size: int = CHUNK) -> Iterator[list]:
    for chunk in itertools.batched(values, size):
        yield list(chunk)


class _Replay:
    def __init__(self):
        self.result = ImportResult()
        self.employees: dict[str, _Upserted] = {}  # by canonical email
        self.staff: set[str] = set()  # emails of the agents among them
        self.organizations: dict[str, _Upserted] = {}  # by MPN ID
        self.admins: set[tuple[str, str]] = set()  # (MPN ID, email), existing and to add
        self.new_admins: list[tuple[str, str]] = []
        self.credentials: dict[str, tuple[int, int | None, datetime.date | None]] = {}  # code -> (pk, valid_days, retired_on)
        self.metrics: dict[str, int] = {}  # slug -> pk
        self.competencies: dict[str, int] = {}  # slug -> pk
        self.associations: dict[str, list[_Association]] = defaultdict(list)  # by email, in start order
        self.earned: set[tuple[str, int, datetime.date]] = set()  # (email, credential pk, earned_on)
        self.new_earned: list[tuple[str, int, datetime.date, datetime.date | None]] = []
        self.metric_values: dict[tuple[str, int, datetime.date], _Upserted] = {}  # (MPN ID, metric pk, period_end)
        self.memberships: set[tuple[str, str, datetime.date]] = set()
        self.new_memberships: list[MembershipRecord] = []
        self.overrides: set[tuple[str, int, datetime.date]] = set()  # (MPN ID, competency pk, starts_on)
        # (MPN ID, competency pk) -> (level, starts_on, expires_on) of the one in state active
        self.active_overrides: dict[tuple[str, int], tuple[str, datetime.date, datetime.date]] = {}
        self.new_overrides: list[tuple[OverrideRecord, int]] = []  # with the competency's pk
        self.touched: set[str] = set()  # MPN IDs
        self.organization_ids: dict[str, int] = {}  # MPN ID -> pk, of every organization loaded
        self.apply_by_type = {
            OrganizationRecord: self.organization,
            EmployeeRecord: self.employee,
            CredentialRecord: self.credential,
            AssociationRecord: self.association,
            DisassociationRecord: self.disassociation,
            MetricRecord: self.metric,
            MembershipRecord: self.membership,
            OverrideRecord: self.override,
        }

    # Loading: a few `__in` queries per kind of row, whatever the number of records.

    def load(self, records: Sequence[_Record]) -> None:
        emails, mpn_ids, codes, slugs, competency_slugs = set(), set(), set(), set(), set()
        history_of, earned_of = set(), set()  # employees whose associations / earned credentials matter
        values_of, memberships_of, overrides_of, admins_of = set(), set(), set(), set()
        for r in records:
            kind = type(r)
            if kind is CredentialRecord:
                emails.add(r.email)
                codes.add(r.code)
                earned_of.add(r.email)
                history_of.add(r.email)  # to know the organizations it counts for
            elif kind is AssociationRecord or kind is DisassociationRecord:
                emails.add(r.email)
                history_of.add(r.email)
                if kind is AssociationRecord:
                    mpn_ids.add(r.mpn_id)
            elif kind is MetricRecord:
                mpn_ids.add(r.mpn_id)
                slugs.add(r.metric)
                values_of.add(r.mpn_id)
            elif kind is EmployeeRecord:
                emails.add(r.email)
            elif kind is OrganizationRecord:
                mpn_ids.add(r.mpn_id)
                if r.admins:
                    emails.update(r.admins)
                    admins_of.add(r.mpn_id)
            elif kind is MembershipRecord:
                mpn_ids.add(r.mpn_id)
                memberships_of.add(r.mpn_id)
            elif kind is OverrideRecord:
                mpn_ids.add(r.mpn_id)
                competency_slugs.add(r.competency)
                overrides_of.add(r.mpn_id)
                if r.agent:
                    emails.add(r.agent)

        email_of: dict[int, str] = {}
        for chunk in _chunks(emails):
            rows = (
                Employee.objects.filter(email__in=chunk)  # stored canonical, as the records' emails are
                .values_list("pk", "email", "is_staff", *EMPLOYEE_FIELDS)
            )
            for pk, email, is_staff, *values in rows:
                self.employees[email] = _Upserted(pk, tuple(values))
                email_of[pk] = email
                if is_staff:
                    self.staff.add(email)
        mpn_of: dict[int, str] = {}
        for chunk in _chunks(mpn_ids):
            for pk, mpn_id, *values in Organization.objects.filter(mpn_id__in=chunk).values_list(
                "pk", "mpn_id", *ORGANIZATION_FIELDS
            ):
                self.organizations[mpn_id] = _Upserted(pk, tuple(values))
                self.organization_ids[mpn_id] = pk
                mpn_of[pk] = mpn_id
        for chunk in _chunks(codes):
            rows = Credential.objects.filter(code__in=chunk).values_list("pk", "code", "valid_days", "retired_on")
            self.credentials.update((code, (pk, valid_days, retired_on)) for pk, code, valid_days, retired_on in rows)
        for chunk in _chunks(slugs):
            self.metrics.update(Metric.objects.filter(slug__in=chunk).values_list("slug", "pk"))
        for chunk in _chunks(competency_slugs):
            self.competencies.update(Competency.objects.filter(slug__in=chunk).values_list("slug", "pk"))

        def pks(keys, by_key):
            return [by_key[k].pk for k in keys if k in by_key]

        for chunk in _chunks(pks(admins_of, self.organizations)):
            rows = Organization.admins.through.objects.filter(organization_id__in=chunk).values_list(
                "organization_id", "employee_id"
            )
            self.admins.update((mpn_of[o], email_of[e]) for o, e in rows if e in email_of)
        for chunk in _chunks(pks(history_of, self.employees)):
            rows = (
                Association.objects.filter(employee_id__in=chunk)
                .order_by("employee_id", "starts_on", "pk")
                .values_list("pk", "employee_id", "organization_id", "organization__mpn_id", "starts_on", "ends_on")
            )
            for pk, employee_id, organization_id, mpn_id, starts_on, ends_on in rows:
                self.organization_ids[mpn_id] = organization_id
                self.associations[email_of[employee_id]].append(_Association(mpn_id, starts_on, ends_on, pk))
        credential_ids = [pk for pk, *_rest in self.credentials.values()]
        for chunk in _chunks(pks(earned_of, self.employees)):
            rows = EarnedCredential.objects.filter(employee_id__in=chunk, credential_id__in=credential_ids).values_list(
                "employee_id", "credential_id", "earned_on"
            )
            self.earned.update((email_of[e], c, on) for e, c, on in rows)
        metric_ids = list(self.metrics.values())
        for chunk in _chunks(pks(values_of, self.organizations)):
            rows = MetricValue.objects.filter(organization_id__in=chunk, metric_id__in=metric_ids).values_list(
                "pk", "organization_id", "metric_id", "period_end", "value"
            )
            for pk, o, metric_id, period_end, value in rows:
                self.metric_values[(mpn_of[o], metric_id, period_end)] = _Upserted(pk, (value,))
        from memberships.models import Membership  # memberships depends on competencies, not the reverse

        for chunk in _chunks(pks(memberships_of, self.organizations)):
            rows = Membership.objects.filter(organization_id__in=chunk).values_list(
                "organization_id", "level", "starts_on"
            )
            self.memberships.update((mpn_of[o], level, starts_on) for o, level, starts_on in rows)
        for chunk in _chunks(pks(overrides_of, self.organizations)):
            rows = Override.objects.filter(organization_id__in=chunk).values_list(
                "organization_id", "competency_id", "level", "starts_on", "expires_on", "state"
            )
            for o, competency_id, level, starts_on, expires_on, state in rows:
                self.overrides.add((mpn_of[o], competency_id, starts_on))
                if state == Override.State.ACTIVE:
                    self.active_overrides[(mpn_of[o], competency_id)] = (level, starts_on, expires_on)

    # Applying one record (DESIGN.md's rules), or raising `_Bad` with the reason.

    def apply(self, record: _Record) -> None:
        self.apply_by_type[type(record)](record)

    def employee_of(self, email: str) -> _Upserted:
        employee = self.employees.get(email)
        if employee is None:
            raise _Bad(f"unknown employee {email!r}")
        return employee

    def organization_of(self, mpn_id: str) -> _Upserted:
        organization = self.organizations.get(mpn_id)
        if organization is None:
            raise _Bad(f"unknown organization (mpn_id {mpn_id!r})")
        return organization

    def upsert(self, kind: str, rows: dict, key, values: dict, fields: tuple, defaults: tuple) -> None:
        """Create the row keyed `key` (the defaults for the fields not given), or update the fields given."""
        row = rows.get(key)
        if row is None:
            rows[key] = _Upserted(None, tuple(values.get(f, d) for f, d in zip(fields, defaults)))
            self.result.created[kind] += 1
            return
        current = tuple(values.get(f, old) for f, old in zip(fields, row.current))
        if current == row.current:
            self.result.unchanged[kind] += 1
        else:
            row.current = current
            row.updates += 1
            self.result.updated[kind] += 1

    def settle(self) -> None:
        """After the replay: a row left as the database has it was not updated, whatever the records did on the way.

        Then the organizations to re-evaluate: those whose metric values or
        market changed (metric thresholds may differ by market), and the new ones.
        """
        upserted = (("employee", self.employees), ("organization", self.organizations), ("metric", self.metric_values))
        for kind, rows in upserted:
            for row in rows.values():
                if row.updates and row.pk is not None and not row.changed:
                    self.result.updated[kind] -= row.updates
                    self.result.unchanged[kind] += row.updates
        self.touched.update(key[0] for key, row in self.metric_values.items() if row.pk is None or row.changed)
        self.touched.update(
            mpn_id for mpn_id, row in self.organizations.items()
            if row.pk is None or row.current[MARKET] != row.stored[MARKET]
        )

    def employee(self, r: EmployeeRecord) -> None:
        """Employees are keyed by canonical email, however spelled; the optional fields given update the row."""
        self.upsert("employee", self.employees, r.email, r.values, EMPLOYEE_FIELDS, EMPLOYEE_DEFAULTS)

    def organization(self, r: OrganizationRecord) -> None:
        """Organizations are keyed by MPN ID; `market` defaults to developed, `public_profile` to true.

        `admins` (employees known to the database or created by an earlier
        line) are added to the organization's admins; none is removed. The
        organization is registered before its admins are checked, so a bad
        admin does not make every later line about the organization bad too.
        """
        self.upsert("organization", self.organizations, r.mpn_id, r.values, ORGANIZATION_FIELDS, ORGANIZATION_DEFAULTS)
        for email in r.admins:
            self.employee_of(email)
        for email in r.admins:
            if (r.mpn_id, email) not in self.admins:
                self.admins.add((r.mpn_id, email))
                self.new_admins.append((r.mpn_id, email))

    def credential(self, r: CredentialRecord) -> None:
        """An earned credential, keyed by employee × code × `earned_on`.

        `expires_on` defaults to `earned_on + valid_days` of the credential
        when it has a validity, else none. A retired credential is no longer
        earnable (DESIGN.md): from its `retired_on`, a new one is refused.
        """
        self.employee_of(r.email)
        known = self.credentials.get(r.code)
        if known is None:
            raise _Bad(f"unknown credential code {r.code!r}")
        credential_id, valid_days, retired_on = known
        key = (r.email, credential_id, r.earned_on)
        if key in self.earned:
            self.result.unchanged["credential"] += 1
            return
        if retired_on is not None and r.earned_on >= retired_on:
            raise _Bad(f"credential {r.code!r} was retired on {retired_on}: it cannot be earned on {r.earned_on}")
        expires_on = r.expires_on
        if expires_on is None and valid_days:
            expires_on = r.earned_on + datetime.timedelta(days=valid_days)
        self.earned.add(key)
        self.new_earned.append((r.email, credential_id, r.earned_on, expires_on))
        self.result.created["credential"] += 1
        # It counts for every organization the employee is with from the day it was earned.
        self.touched.update(
            a.mpn_id for a in self.associations.get(r.email, ()) if a.ends_on is None or a.ends_on > r.earned_on
        )

    def association(self, r: AssociationRecord) -> None:
        """Associating with organization B on day D ends the association with A on day D.

        As `services.association_start`: re-associating with the organization
        the employee is with changes nothing; an association may not start
        before the employee's current one, nor before their previous one
        ended (one organization at a time). An association of this employee
        with this organization from this day already in the history (a file
        imported again) is a no-op.
        """
        self.employee_of(r.email)
        self.organization_of(r.mpn_id)
        history = self.associations[r.email]
        if any(a.mpn_id == r.mpn_id and a.starts_on == r.on for a in history):
            self.result.unchanged["association"] += 1
            return
        current = next((a for a in reversed(history) if a.ends_on is None), None)
        if current is not None:
            if r.on < current.starts_on:
                raise _Bad(
                    f"the association starts on {r.on}, before the employee's current one "
                    f"(with {current.mpn_id} since {current.starts_on})"
                )
            if current.mpn_id == r.mpn_id:
                self.result.unchanged["association"] += 1
                return
            self.end(current, r.on)
        else:
            previous = max((a for a in history if a.ends_on is not None), key=lambda a: a.ends_on, default=None)
            if previous is not None and r.on < previous.ends_on:
                raise _Bad(
                    f"the association starts on {r.on}, before the employee's previous one ended "
                    f"(with {previous.mpn_id} until {previous.ends_on})"
                )
        history.append(_Association(r.mpn_id, r.on))
        self.touched.add(r.mpn_id)
        self.result.created["association"] += 1

    def disassociation(self, r: DisassociationRecord) -> None:
        """The employee leaves on day D and counts for no one from D (as `services.association_end`).

        An employee with no association to end is an error, unless an
        association of theirs already ends on D (a file imported again).
        """
        self.employee_of(r.email)
        history = self.associations.get(r.email, [])
        current = next((a for a in reversed(history) if a.ends_on is None), None)
        if current is not None and r.on >= current.starts_on:
            self.end(current, r.on)
            self.result.updated["disassociation"] += 1
            return
        if any(a.ends_on == r.on for a in history):
            self.result.unchanged["disassociation"] += 1
            return
        if current is not None:
            raise _Bad(f"the association cannot end on {r.on}, before it started ({current.starts_on})")
        raise _Bad(f"{r.email} has no association to end")

    def end(self, association: _Association, on: datetime.date) -> None:
        association.ends_on = on
        association.dirty = association.pk is not None
        self.touched.add(association.mpn_id)

    def metric(self, r: MetricRecord) -> None:
        """A metric value per organization × metric × `period_end`; a second record for the period replaces it."""
        self.organization_of(r.mpn_id)
        metric_id = self.metrics.get(r.metric)
        if metric_id is None:
            raise _Bad(f"unknown metric {r.metric!r}")
        key = (r.mpn_id, metric_id, r.period_end)
        self.upsert("metric", self.metric_values, key, {"value": r.value}, ("value",), (None,))

    def membership(self, r: MembershipRecord) -> None:
        """A membership carried over: a one-year term from `purchased_on`, keyed by organization × level × start."""
        self.organization_of(r.mpn_id)
        key = (r.mpn_id, r.level, r.purchased_on)
        if key in self.memberships:
            self.result.unchanged["membership"] += 1
            return
        self.memberships.add(key)
        self.new_memberships.append(r)
        self.touched.add(r.mpn_id)
        self.result.created["membership"] += 1

    def override(self, r: OverrideRecord) -> None:
        """An override carried over, keyed by organization × competency × `starts_on`, with its audit row.

        `expires_on` defaults to 3 calendar months after `starts_on`; `agent`,
        when given, is a staff account. One active override per organization
        × competency, as `services.override_apply` has it: while one is active
        (from the database or an earlier line), another is refused. The
        importer has no today to tell whether it is over: the nightly run
        expires it, an agent revokes it.
        """
        self.organization_of(r.mpn_id)
        competency_id = self.competencies.get(r.competency)
        if competency_id is None:
            raise _Bad(f"unknown competency {r.competency!r}")
        if r.agent is not None:
            if r.agent not in self.employees:
                raise _Bad(f"unknown agent {r.agent!r}")
            if r.agent not in self.staff:
                raise _Bad(f"{r.agent!r} is not an agent (a staff account)")
        key = (r.mpn_id, competency_id, r.starts_on)
        if key in self.overrides:
            self.result.unchanged["override"] += 1
            return
        active = self.active_overrides.get((r.mpn_id, competency_id))
        if active is not None:
            raise _Bad(
                f"an active {active[0]} override of {r.competency} for {r.mpn_id} already runs from {active[1]} "
                f"until {active[2]}: it must expire (the nightly run) or be revoked first"
            )
        self.overrides.add(key)
        self.active_overrides[(r.mpn_id, competency_id)] = (r.level, r.starts_on, r.expires_on)
        self.new_overrides.append((r, competency_id))
        self.touched.add(r.mpn_id)
        self.result.created["override"] += 1

    # Writing: bulk statements in one transaction (the caller's `atomic`).

    def write(self) -> None:
        from memberships.models import Membership  # memberships depends on competencies, not the reverse
        from memberships.selectors import one_year_after  # the term's rule: 29 February gives 28 February

        # Employees
        new = [(email, e) for email, e in self.employees.items() if e.pk is None]
        _insert(Employee, ["email", *EMPLOYEE_FIELDS, "password"], [(email, *e.current, "!") for email, e in new])
        employee_id = {email: e.pk for email, e in self.employees.items() if e.pk is not None}
        for chunk in _chunks([email for email, _ in new]):
            employee_id.update(Employee.objects.filter(email__in=chunk).values_list("email", "pk"))
        _update(Employee, EMPLOYEE_FIELDS, [(e.pk, *e.current) for e in self.employees.values() if e.changed])
        # Organizations and their admins
        new = [(mpn_id, o) for mpn_id, o in self.organizations.items() if o.pk is None]
        _insert(
            Organization,
            ["mpn_id", *ORGANIZATION_FIELDS],
            [(mpn_id, *o.current) for mpn_id, o in new],
        )
        organization_id = dict(self.organization_ids)
        for chunk in _chunks([mpn_id for mpn_id, _ in new]):
            organization_id.update(Organization.objects.filter(mpn_id__in=chunk).values_list("mpn_id", "pk"))
        _update(
            Organization, ORGANIZATION_FIELDS, [(o.pk, *o.current) for o in self.organizations.values() if o.changed]
        )
        _insert(
            Organization.admins.through,
            ["organization_id", "employee_id"],
            [(organization_id[mpn_id], employee_id[email]) for mpn_id, email in self.new_admins],
        )
        # Earned credentials
        _insert(
            EarnedCredential,
            ["employee_id", "credential_id", "earned_on", "expires_on"],
            [(employee_id[email], c, on, expires_on) for email, c, on, expires_on in self.new_earned],
        )
        # Associations: the ends first, since the database allows one open association per employee.
        _update(
            Association,
            ["ends_on"],
            [(a.pk, a.ends_on) for history in self.associations.values() for a in history if a.dirty],
        )
        _insert(
            Association,
            ["employee_id", "organization_id", "starts_on", "ends_on"],
            [
                (employee_id[email], organization_id[a.mpn_id], a.starts_on, a.ends_on)
                for email, history in self.associations.items()
                for a in history
                if a.pk is None
            ],
        )
        # Metric values
        _insert(
            MetricValue,
            ["organization_id", "metric_id", "period_end", "value"],
            [
                (organization_id[mpn_id], metric_id, period_end, v.current[0])
                for (mpn_id, metric_id, period_end), v in self.metric_values.items()
                if v.pk is None
            ],
        )
        _update(MetricValue, ["value"], [(v.pk, *v.current) for v in self.metric_values.values() if v.changed])
        # Memberships carried over: a one-year term from the purchase day.
        _insert(
            Membership,
            ["organization_id", "level", "purchased_on", "starts_on", "ends_on", "source"],
            [
                (organization_id[m.mpn_id], m.level, m.purchased_on, m.purchased_on, one_year_after(m.purchased_on),
                 Membership.Source.IMPORT.value)
                for m in self.new_memberships
            ],
        )
        self.write_overrides(organization_id=organization_id, employee_id=employee_id)
        self.result.touched_organization_ids = {organization_id[mpn_id] for mpn_id in self.touched}

    def write_overrides(self, *, organization_id: dict[str, int], employee_id: dict[str, int]) -> None:
        """New overrides, each with its `apply` audit row (actor: the agent, day: `starts_on`)."""
        if not self.new_overrides:
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
                for r, competency_id in self.new_overrides
            ],
            batch_size=BATCH,
        )
        if any(row.pk is None for row in created):  # a database that cannot return ids from a bulk insert
            ids = {}
            for chunk in _chunks({row.organization_id for row in created}):
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


def _insert(model: type[models.Model], columns: list[str], rows: list[tuple]) -> None:
    """Insert `rows` (tuples of `columns`' values, by attribute name) in bulk.

    On PostgreSQL with COPY: the benchmark's 600,000 rows are written in 18 s
    instead of 43 s with `bulk_create`, whose cost per row is the model
    instance and the SQL it compiles. The other columns get their model
    default (`auto_now`/`auto_now_add` ones: now), as `bulk_create` would
    give them. Elsewhere `bulk_create` in batches of `BATCH`.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(columns, row))) for row in rows], batch_size=BATCH)
        return
    now = timezone.now()
    fields = [model._meta.get_field(name) for name in columns]
    given = {f.column for f in fields}
    rest = [f for f in model._meta.concrete_fields if not f.primary_key and f.column not in given]
    stamped = [getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in rest]
    defaults = tuple(f.get_db_prep_save(now if s else f.get_default(), connection) for f, s in zip(rest, stamped))
    quote = connection.ops.quote_name
    sql = "COPY {} ({}) FROM STDIN".format(
        quote(model._meta.db_table), ", ".join(quote(f.column) for f in [*fields, *rest])
    )
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row + defaults)
    if connection.queries_logged:  # so CaptureQueriesContext and DEBUG see the write
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.perf_counter() - started:.3f}"}
        )


def _update(model: type[models.Model], columns: Sequence[str], rows: list[tuple]) -> None:
    """Update `columns` of the rows given as tuples `(pk, *values)`, in bulk.

    On PostgreSQL one `UPDATE … FROM unnest(arrays)` per `BATCH` rows: 100,000
    metric values take seconds, where `bulk_update`'s `CASE WHEN` per row
    took 45 s. Elsewhere `bulk_update` in batches of `BATCH`.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(
            [model(pk=row[0], **dict(zip(columns, row[1:]))) for row in rows], list(columns), batch_size=BATCH
        )
        return
    quote = connection.ops.quote_name
    pk = model._meta.pk
    fields = [model._meta.get_field(name) for name in columns]
    sql = "UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({names}) WHERE t.{pk} = v.{pk}".format(
        table=quote(model._meta.db_table),
        sets=", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields),
        arrays=", ".join(f"%s::{f.db_type(connection)}[]" for f in [pk, *fields]),
        names=", ".join(quote(f.column) for f in [pk, *fields]),
        pk=quote(pk.column),
    )
    with connection.cursor() as cursor:
        for batch in itertools.batched(rows, BATCH):
            cursor.execute(sql, [list(column) for column in zip(*batch)])
