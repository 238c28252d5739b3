"""Activity records as parsed: one small tuple per line, its fields checked, and the record types a layer
above registers.

A 600,000-line file is held in memory, so a record is a tuple sharing its strings and dates with the
other records (the same email, MPN ID and day recur on many lines). A line is refused with its reason
(`_Bad`) when it is not a JSON object of a known `type` with that type's required fields, or when a
field is not what it must be (a date, a number, a level, an email, an MPN ID).
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from competencies import jsonsafe
from competencies.dates import beyond_horizon
from competencies.identity import InvalidEmail, canonical_email
from competencies.models import ACHIEVABLE_LEVELS, Market
from competencies.overrides import override_default_expiry

MAX_METRIC_VALUE = Decimal("1e16")  # MetricValue.value: 18 digits, 2 of them decimals
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
MPN_RE = re.compile(r"[0-9]{1,20}\Z")

# The fields each record type requires, in the order the import's summary lists the types;
# `register_record_type` adds the types of the layers above.
REQUIRED = {
    "organization": ("mpn_id", "name"),
    "employee": ("email",),
    "credential": ("email", "code", "earned_on"),
    "association": ("email", "mpn_id", "on"),
    "disassociation": ("email", "on"),
    "metric": ("mpn_id", "metric", "period_end", "value"),
    "override": ("mpn_id", "competency", "level", "starts_on", "reason"),
}


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


class OverrideRecord(NamedTuple):
    mpn_id: str
    competency: str
    level: str
    starts_on: datetime.date
    expires_on: datetime.date
    reason: str
    agent: str | None


Record = (
    OrganizationRecord | EmployeeRecord | CredentialRecord | AssociationRecord | DisassociationRecord
    | MetricRecord | OverrideRecord | tuple  # tuple: a registered type's record
)


# The built-in record types by their `type` name; each stage (parse, note what it names, replay) has a
# method of that name for each (`handlers`).
BUILT_IN: dict[str, type] = {
    "organization": OrganizationRecord,
    "employee": EmployeeRecord,
    "credential": CredentialRecord,
    "association": AssociationRecord,
    "disassociation": DisassociationRecord,
    "metric": MetricRecord,
    "override": OverrideRecord,
}


def handlers(stage, *, by: str = "record") -> dict:
    """`stage`'s method for each built-in record type, keyed by the record's class (or its name: `by="name"`)."""
    return {(name if by == "name" else record): getattr(stage, name) for name, record in BUILT_IN.items()}


class RecordType(NamedTuple):
    """A record type of a layer above: its records name an organization (`mpn_id`) and are keyed.

    The import checks that the organization exists (in the database or on an earlier line) before
    `replay`, counts the record as new or unchanged from what `replay` says, and re-evaluates the
    organization of a new one. `write` runs inside the import's transaction, after the organizations.
    """

    name: str
    record: type  # the tuple class `parse` returns; it has an `mpn_id`
    required: tuple[str, ...]  # the fields a line of this type must have
    parse: Callable[[Parser, dict], tuple]  # the line's object -> a record, checked with the parser's fields
    load: Callable[[dict[int, str]], set]  # stored organizations, pk -> MPN ID (a chunk) -> their stored keys
    replay: Callable[[set, tuple], bool]  # (keys so far, record) -> new (and its key added), or already there
    write: Callable[[list, dict[str, int]], None]  # the new records and MPN ID -> organization pk: bulk inserts


_REGISTERED: dict[str, RecordType] = {}


def register_record_type(
    name: str,
    *,
    record: type,
    required: tuple[str, ...],
    parse: Callable[[Parser, dict], tuple],
    load: Callable[[dict[int, str]], set],
    replay: Callable[[set, tuple], bool],
    write: Callable[[list, dict[str, int]], None],
) -> None:
    """Add a record type, from the registering app's `ready()`; registering a name again replaces it."""
    if name in REQUIRED and name not in _REGISTERED:
        raise ValueError(f"{name!r} is one of the importer's own record types")
    REQUIRED[name] = tuple(required)
    _REGISTERED[name] = RecordType(name, record, tuple(required), parse, load, replay, write)


def registered_types() -> tuple[RecordType, ...]:
    return tuple(_REGISTERED.values())


class _Bad(Exception):
    """A line's reason for refusal."""


class Parser:
    """Parses and checks one line at a time; caches what recurs."""

    def __init__(self):
        self.dates: dict[str, datetime.date] = {}
        self.emails: dict[str, str] = {}  # as written -> lower case, checked
        self.strings: dict[str, str] = {}  # one object per distinct MPN ID, code, slug
        self.url = URLValidator()
        self.parsers: dict[str, Callable[[dict], Record]] = handlers(self, by="name")
        for kind in registered_types():
            self.parsers[kind.name] = functools.partial(kind.parse, self)

    def record(self, raw: str) -> Record:
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
        """A level a competency or a membership can be at (silver or gold)."""
        value = obj["level"]
        if value not in ACHIEVABLE_LEVELS:
            raise _Bad(f"unknown level {value!r} ({' or '.join(ACHIEVABLE_LEVELS)})")
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

    def override(self, obj: dict) -> OverrideRecord:
        reason = self.text(obj, "reason").strip()
        if not reason:
            raise _Bad("missing field 'reason'")
        starts_on = self.date(obj, "starts_on")
        expires_on = self.date(obj, "expires_on") or override_default_expiry(starts_on)  # as an agent places one
        if expires_on <= starts_on:
            raise _Bad(f"'expires_on' ({expires_on}) must be after 'starts_on' ({starts_on})")
        agent = self.email(obj["agent"], "agent") if obj.get("agent") is not None else None
        return OverrideRecord(
            self.mpn_id(obj), self.key(obj, "competency", 50), self.level(obj), starts_on, expires_on, reason, agent
        )
