"""The bulk, all-or-nothing importer of partner activity (CONTRACT.md, "Activity records").

Three passes over a file, whatever its size:

1. parse every line and check its shape (JSON object, known `type`, required
   fields, dates, numbers);
2. load what the records refer to with a few `__in` queries per kind, then
   replay the records in file order over that in-memory state, so a record
   may refer to what an earlier line created and the association rule
   (associating with B on D ends the association with A on D) holds exactly
   as `services.association_start` states it;
3. if no line was bad, write everything in one transaction with bulk
   statements. One bad line and nothing is written; every bad line is named.

Importing the same file twice adds nothing the second time: every record is
keyed (employee by email, organization by MPN ID, credential by employee ×
code × day, association by employee × organization × start, metric by
organization × metric × period, membership by organization × level × start,
override by organization × competency × start).
"""

from __future__ import annotations

import datetime
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction

from .models import (
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
    OverrideAudit,
)

BATCH = 2000
CHUNK = 5000
LEVELS = ("silver", "gold")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

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
DATE_FIELDS = {
    "credential": ("earned_on", "expires_on"),
    "association": ("on",),
    "disassociation": ("on",),
    "metric": ("period_end",),
    "membership": ("purchased_on",),
    "override": ("starts_on", "expires_on"),
}


class ImportFailed(Exception):
    """Bad records: `errors` lists `(line, reason)`; nothing was written."""

    def __init__(self, errors: list[tuple[int, str]], source: str = "-"):
        self.errors = sorted(errors)
        self.source = source
        super().__init__(f"{len(self.errors)} bad line(s)")

    def lines(self) -> list[str]:
        return [f"{self.source}:{line}: {reason}" for line, reason in self.errors]


@dataclass
class ImportResult:
    records: int = 0
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unchanged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    touched_organization_ids: set[int] = field(default_factory=set)

    def summary(self) -> str:
        kinds = sorted(set(self.created) | set(self.updated) | set(self.unchanged))
        parts = [
            f"{kind}: {self.created.get(kind, 0)} new, {self.updated.get(kind, 0)} updated, "
            f"{self.unchanged.get(kind, 0)} unchanged"
            for kind in kinds
        ]
        return f"{self.records} records imported ({'; '.join(parts) or 'nothing'})"


def one_year_after(day: datetime.date) -> datetime.date:
    """Same month and day next year; 29 February gives 28 February."""
    return day + relativedelta(years=1)


def three_months_after(day: datetime.date) -> datetime.date:
    """Three calendar months later; the 31st gives the month's last day when it has fewer."""
    return day + relativedelta(months=3)


def _chunks(values, size=CHUNK):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


class _Bad(Exception):
    pass


def _date(record, name, required=True):
    value = record.get(name)
    if value is None:
        if required:
            raise _Bad(f"missing field '{name}'")
        return None
    if not isinstance(value, str) or not DATE_RE.match(value):
        raise _Bad(f"'{name}' is not a date (YYYY-MM-DD): {value!r}")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"'{name}' is not a date (YYYY-MM-DD): {value!r}") from None


def _mpn(record):
    value = record["mpn_id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not re.fullmatch(r"[0-9]{1,20}", str(value)):
        raise _Bad(f"'mpn_id' must be digits: {value!r}")
    return str(value)


def _email(record, name="email"):
    value = record[name]
    if not isinstance(value, str):
        raise _Bad(f"'{name}' is not an email address: {value!r}")
    try:
        validate_email(value)
    except ValidationError:
        raise _Bad(f"'{name}' is not an email address: {value!r}") from None
    return value.strip().lower()


def _text(record, name, max_length=None, required=False):
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _Bad(f"'{name}' must be {'non-empty ' if required else ''}text")
    if max_length and len(value) > max_length:
        raise _Bad(f"'{name}' is longer than {max_length} characters")
    return value


def _level(record):
    value = record["level"]
    if value not in LEVELS:
        raise _Bad(f"unknown level {value!r} (silver or gold)")
    return value


def parse_line(raw: str) -> dict:
    """One JSON Lines record, its shape checked; raises `_Bad` with the reason."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _Bad(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(record, dict):
        raise _Bad("a record must be a JSON object")
    kind = record.get("type")
    if kind not in REQUIRED:
        raise _Bad(f"unknown type {kind!r}" if kind is not None else "missing field 'type'")
    missing = [name for name in REQUIRED[kind] if record.get(name) in (None, "")]
    if missing:
        raise _Bad(", ".join(f"missing field '{name}'" for name in missing))
    out = {"type": kind}
    for name in DATE_FIELDS.get(kind, ()):
        out[name] = _date(record, name, required=name in REQUIRED[kind])
    if "email" in REQUIRED[kind]:
        out["email"] = _email(record)
    if "mpn_id" in REQUIRED[kind]:
        out["mpn_id"] = _mpn(record)
    if kind == "organization":
        out["name"] = _text(record, "name", 200, required=True)
        for name, limit in (("country", 80), ("description", None)):
            if name in record:
                out[name] = _text(record, name, limit) or ""
        if "website" in record:
            website = _text(record, "website", 200) or ""
            if website:
                try:
                    URLValidator()(website)
                except ValidationError:
                    raise _Bad(f"'website' is not a URL: {website!r}") from None
            out["website"] = website
        if "market" in record:
            if record["market"] not in Market.values:
                raise _Bad(f"unknown market {record['market']!r} (developed or developing)")
            out["market"] = record["market"]
        if "public_profile" in record:
            if not isinstance(record["public_profile"], bool):
                raise _Bad("'public_profile' must be true or false")
            out["public_profile"] = record["public_profile"]
        admins = record.get("admins", [])
        if not isinstance(admins, list):
            raise _Bad("'admins' must be a list of emails")
        out["admins"] = [_email({"admin": a}, "admin") for a in admins]
    elif kind == "employee":
        for name, limit in (("name", 200), ("mcp_id", 40)):
            if name in record:
                out[name] = _text(record, name, limit) or ""
    elif kind == "credential":
        out["code"] = _text(record, "code", 40, required=True)
        if out["expires_on"] and out["expires_on"] <= out["earned_on"]:
            raise _Bad("'expires_on' must be after 'earned_on'")
    elif kind == "metric":
        out["metric"] = _text(record, "metric", 80, required=True)
        value = record["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _Bad(f"'value' is not a number: {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise _Bad(f"'value' is not a number: {value!r}") from None
        if not number.is_finite() or number < 0:
            raise _Bad(f"'value' must be a number >= 0: {value!r}")
        out["value"] = number.quantize(Decimal("0.01"))
    elif kind == "membership":
        out["level"] = _level(record)
    elif kind == "override":
        out["competency"] = _text(record, "competency", 80, required=True)
        out["level"] = _level(record)
        out["reason"] = _text(record, "reason", required=True)
        if out["expires_on"] is None:
            out["expires_on"] = three_months_after(out["starts_on"])
        if out["expires_on"] <= out["starts_on"]:
            raise _Bad("'expires_on' must be after 'starts_on'")
        out["agent"] = _email(record, "agent") if record.get("agent") else None
    return out


class _Plan:
    """The replayed state and the writes it calls for."""

    def __init__(self):
        self.employees: dict[str, dict] = {}  # email -> {"pk", "name", "mcp_id", "changed"}
        self.organizations: dict[str, dict] = {}  # mpn_id -> fields + "pk" + "changed"
        self.admins: set[tuple[str, str]] = set()  # (mpn_id, email) to add
        self.existing_admins: set[tuple[str, str]] = set()
        self.credentials: dict[str, tuple[int, int | None]] = {}  # code -> (pk, valid_days)
        self.metrics: dict[str, int] = {}
        self.competencies: dict[str, int] = {}
        self.staff: dict[str, int] = {}
        # associations: email -> list of [mpn_id, starts_on, ends_on, pk or None, dirty]
        self.associations: dict[str, list[list]] = defaultdict(list)
        self.earned_keys: set[tuple[str, int, datetime.date]] = set()
        self.new_earned: list[tuple[str, int, datetime.date, datetime.date | None]] = []
        self.metric_values: dict[tuple[str, int, datetime.date], list] = {}  # -> [pk, value, dirty]
        self.membership_keys: set[tuple[str, str, datetime.date]] = set()
        self.new_memberships: list[dict] = []
        self.override_keys: set[tuple[str, int, datetime.date]] = set()
        self.active_overrides: set[tuple[str, int]] = set()
        self.new_overrides: list[dict] = []
        self.touched: set[str] = set()
        self.result = ImportResult()


def _load(plan: _Plan, records: list[tuple[int, dict]]) -> None:
    """Everything the records refer to, with a few queries per kind."""
    emails = {r.get("email") for _, r in records} | {r["agent"] for _, r in records if r.get("agent")}
    emails |= {a for _, r in records for a in r.get("admins", ())}
    emails.discard(None)
    mpn_ids = {r["mpn_id"] for _, r in records if "mpn_id" in r}
    for chunk in _chunks(emails):
        for pk, email, name, mcp_id, is_staff in Employee.objects.filter(email__in=chunk).values_list(
            "pk", "email", "name", "mcp_id", "is_staff"
        ):
            plan.employees[email.lower()] = {"pk": pk, "name": name, "mcp_id": mcp_id, "changed": False}
            if is_staff:
                plan.staff[email.lower()] = pk
    fields = ["pk", "mpn_id", "name", "country", "market", "website", "description", "public_profile"]
    for chunk in _chunks(mpn_ids):
        for row in Organization.objects.filter(mpn_id__in=chunk).values(*fields):
            plan.organizations[row["mpn_id"]] = {**row, "changed": False}
    org_pks = {o["pk"]: mpn for mpn, o in plan.organizations.items()}
    emp_pks = {e["pk"]: email for email, e in plan.employees.items()}
    for chunk in _chunks(org_pks):
        for org_pk, emp_pk in Organization.admins.through.objects.filter(organization_id__in=chunk).values_list(
            "organization_id", "employee_id"
        ):
            if emp_pk in emp_pks:
                plan.existing_admins.add((org_pks[org_pk], emp_pks[emp_pk]))
    codes = {r["code"] for _, r in records if r["type"] == "credential"}
    plan.credentials = {c: (pk, days) for pk, c, days in Credential.objects.filter(code__in=codes).values_list("pk", "code", "valid_days")}
    slugs = {r["metric"] for _, r in records if r["type"] == "metric"}
    plan.metrics = dict(Metric.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    comps = {r["competency"] for _, r in records if r["type"] == "override"}
    plan.competencies = dict(Competency.objects.filter(slug__in=comps).values_list("slug", "pk"))
    all_orgs: dict[int, str] = {}
    for chunk in _chunks(emp_pks):
        rows = Association.objects.filter(employee_id__in=chunk).values_list(
            "pk", "employee_id", "organization_id", "organization__mpn_id", "starts_on", "ends_on"
        )
        for pk, emp_pk, org_pk, mpn, starts, ends in rows.order_by("starts_on", "pk"):
            plan.associations[emp_pks[emp_pk]].append([mpn, starts, ends, pk, False])
            all_orgs[org_pk] = mpn
        for emp_pk, cred_pk, earned_on in EarnedCredential.objects.filter(employee_id__in=chunk).values_list(
            "employee_id", "credential_id", "earned_on"
        ):
            plan.earned_keys.add((emp_pks[emp_pk], cred_pk, earned_on))
    for chunk in _chunks(org_pks):
        for pk, org_pk, metric_pk, period_end, value in MetricValue.objects.filter(organization_id__in=chunk).values_list(
            "pk", "organization_id", "metric_id", "period_end", "value"
        ):
            plan.metric_values[(org_pks[org_pk], metric_pk, period_end)] = [pk, value, False]
        from memberships.models import Membership

        for org_pk, level, starts in Membership.objects.filter(organization_id__in=chunk).values_list(
            "organization_id", "level", "starts_on"
        ):
            plan.membership_keys.add((org_pks[org_pk], level, starts))
        for org_pk, comp_pk, starts, state in Override.objects.filter(organization_id__in=chunk).values_list(
            "organization_id", "competency_id", "starts_on", "state"
        ):
            plan.override_keys.add((org_pks[org_pk], comp_pk, starts))
            if state == Override.State.ACTIVE:
                plan.active_overrides.add((org_pks[org_pk], comp_pk))


def _employee(plan, email):
    if email not in plan.employees:
        raise _Bad(f"unknown employee {email!r}")
    return plan.employees[email]


def _organization(plan, mpn_id):
    if mpn_id not in plan.organizations:
        raise _Bad(f"unknown organization (mpn_id {mpn_id!r})")
    return plan.organizations[mpn_id]


def _open_association(plan, email):
    rows = plan.associations.get(email, [])
    return next((row for row in rows if row[2] is None), None)


def _apply(plan: _Plan, r: dict) -> None:
    """Replay one record over the in-memory state (DESIGN.md's rules), or raise `_Bad`."""
    kind = r["type"]
    res = plan.result
    if kind == "employee":
        e = plan.employees.get(r["email"])
        if e is None:
            plan.employees[r["email"]] = {"pk": None, "name": r.get("name", ""), "mcp_id": r.get("mcp_id", ""), "changed": True}
            res.created[kind] += 1
            return
        changed = any(name in r and r[name] != e[name] for name in ("name", "mcp_id"))
        for name in ("name", "mcp_id"):
            if name in r:
                e[name] = r[name]
        e["changed"] |= changed
        (res.updated if changed else res.unchanged)[kind] += 1
    elif kind == "organization":
        for admin in r["admins"]:
            _employee(plan, admin)
        o = plan.organizations.get(r["mpn_id"])
        given = {k: r[k] for k in ("name", "country", "market", "website", "description", "public_profile") if k in r}
        if o is None:
            o = {"pk": None, "mpn_id": r["mpn_id"], "country": "", "market": Market.DEVELOPED, "website": "",
                 "description": "", "public_profile": True, **given, "changed": True}
            plan.organizations[r["mpn_id"]] = o
            res.created[kind] += 1
        else:
            changed = any(o.get(k) != v for k, v in given.items())
            o.update(given)
            o["changed"] |= changed
            (res.updated if changed else res.unchanged)[kind] += 1
        plan.admins.update((r["mpn_id"], admin) for admin in r["admins"] if (r["mpn_id"], admin) not in plan.existing_admins)
        plan.touched.add(r["mpn_id"])
    elif kind == "credential":
        _employee(plan, r["email"])
        if r["code"] not in plan.credentials:
            raise _Bad(f"unknown credential code {r['code']!r}")
        cred_pk, valid_days = plan.credentials[r["code"]]
        key = (r["email"], cred_pk, r["earned_on"])
        if key in plan.earned_keys:
            res.unchanged[kind] += 1
            return
        expires = r["expires_on"] or (r["earned_on"] + datetime.timedelta(days=valid_days) if valid_days else None)
        plan.earned_keys.add(key)
        plan.new_earned.append((r["email"], cred_pk, r["earned_on"], expires))
        res.created[kind] += 1
        plan.touched.update(row[0] for row in plan.associations.get(r["email"], ()))
    elif kind == "association":
        _employee(plan, r["email"])
        _organization(plan, r["mpn_id"])
        rows = plan.associations[r["email"]]
        if any(row[0] == r["mpn_id"] and row[1] == r["on"] for row in rows):
            res.unchanged[kind] += 1
            return
        current = _open_association(plan, r["email"])
        if current is not None and current[0] == r["mpn_id"]:
            res.unchanged[kind] += 1
            return
        if current is not None:
            if r["on"] < current[1]:
                raise _Bad(f"the association starts on {r['on']}, before the employee's current one (since {current[1]})")
            current[2], current[4] = r["on"], True
            plan.touched.add(current[0])
        rows.append([r["mpn_id"], r["on"], None, None, True])
        plan.touched.add(r["mpn_id"])
        res.created[kind] += 1
    elif kind == "disassociation":
        _employee(plan, r["email"])
        current = _open_association(plan, r["email"])
        if current is None:
            rows = plan.associations.get(r["email"], [])
            if rows and rows[-1][2] == r["on"]:
                res.unchanged[kind] += 1
                return
            raise _Bad(f"{r['email']} has no association to end")
        if r["on"] < current[1]:
            raise _Bad(f"the association cannot end on {r['on']}, before it started ({current[1]})")
        current[2], current[4] = r["on"], True
        plan.touched.add(current[0])
        res.updated[kind] += 1
    elif kind == "metric":
        _organization(plan, r["mpn_id"])
        if r["metric"] not in plan.metrics:
            raise _Bad(f"unknown metric {r['metric']!r}")
        key = (r["mpn_id"], plan.metrics[r["metric"]], r["period_end"])
        row = plan.metric_values.get(key)
        if row is None:
            plan.metric_values[key] = [None, r["value"], True]
            res.created[kind] += 1
        elif row[1] != r["value"]:
            row[1], row[2] = r["value"], True
            res.updated[kind] += 1
        else:
            res.unchanged[kind] += 1
            return
        plan.touched.add(r["mpn_id"])
    elif kind == "membership":
        _organization(plan, r["mpn_id"])
        key = (r["mpn_id"], r["level"], r["purchased_on"])
        if key in plan.membership_keys:
            res.unchanged[kind] += 1
            return
        plan.membership_keys.add(key)
        plan.new_memberships.append({"mpn_id": r["mpn_id"], "level": r["level"], "purchased_on": r["purchased_on"]})
        plan.touched.add(r["mpn_id"])
        res.created[kind] += 1
    elif kind == "override":
        _organization(plan, r["mpn_id"])
        if r["competency"] not in plan.competencies:
            raise _Bad(f"unknown competency {r['competency']!r}")
        comp_pk = plan.competencies[r["competency"]]
        if r["agent"] and r["agent"] not in plan.staff:
            raise _Bad(f"{r['agent']!r} is not a known agent (staff account)")
        key = (r["mpn_id"], comp_pk, r["starts_on"])
        if key in plan.override_keys:
            res.unchanged[kind] += 1
            return
        if (r["mpn_id"], comp_pk) in plan.active_overrides:
            raise _Bad(f"an active override of {r['competency']} already exists for {r['mpn_id']}")
        plan.override_keys.add(key)
        plan.active_overrides.add((r["mpn_id"], comp_pk))
        plan.new_overrides.append({**r, "competency_pk": comp_pk})
        plan.touched.add(r["mpn_id"])
        res.created[kind] += 1


def import_activity(*, lines: Iterable[str], source: str = "-") -> ImportResult:
    """Import JSON Lines activity records, all or nothing; raises `ImportFailed` naming every bad line."""
    errors: list[tuple[int, str]] = []
    records: list[tuple[int, dict]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            records.append((number, parse_line(raw)))
        except _Bad as exc:
            errors.append((number, str(exc)))
    plan = _Plan()
    _load(plan, records)
    for number, record in records:
        try:
            _apply(plan, record)
        except _Bad as exc:
            errors.append((number, str(exc)))
    if errors:
        raise ImportFailed(errors, source)
    plan.result.records = len(records)
    with transaction.atomic():
        _write(plan)
    return plan.result


def _write(plan: _Plan) -> None:
    from memberships.models import Membership

    new_emps = [Employee(email=email, name=e["name"] or "", mcp_id=e["mcp_id"] or "", password="!")
                for email, e in plan.employees.items() if e["pk"] is None]
    Employee.objects.bulk_create(new_emps, batch_size=BATCH)
    changed_emps = [Employee(pk=e["pk"], name=e["name"], mcp_id=e["mcp_id"])
                    for e in plan.employees.values() if e["pk"] is not None and e["changed"]]
    Employee.objects.bulk_update(changed_emps, ["name", "mcp_id"], batch_size=BATCH)
    emp_pk = {}
    new_emails = [e.email for e in new_emps]
    for chunk in _chunks(new_emails):
        emp_pk.update(Employee.objects.filter(email__in=chunk).values_list("email", "pk"))
    emp_pk.update({email: e["pk"] for email, e in plan.employees.items() if e["pk"] is not None})

    fields = ["name", "country", "market", "website", "description", "public_profile"]
    new_orgs = [Organization(mpn_id=mpn, **{f: o[f] for f in fields}) for mpn, o in plan.organizations.items() if o["pk"] is None]
    Organization.objects.bulk_create(new_orgs, batch_size=BATCH)
    Organization.objects.bulk_update(
        [Organization(pk=o["pk"], **{f: o[f] for f in fields}) for o in plan.organizations.values() if o["pk"] and o["changed"]],
        fields, batch_size=BATCH,
    )
    org_pk = {mpn: o["pk"] for mpn, o in plan.organizations.items() if o["pk"] is not None}
    for chunk in _chunks([o.mpn_id for o in new_orgs]):
        org_pk.update(Organization.objects.filter(mpn_id__in=chunk).values_list("mpn_id", "pk"))
    Through = Organization.admins.through
    Through.objects.bulk_create(
        [Through(organization_id=org_pk[mpn], employee_id=emp_pk[email]) for mpn, email in plan.admins],
        batch_size=BATCH, ignore_conflicts=True,
    )
    EarnedCredential.objects.bulk_create(
        [EarnedCredential(employee_id=emp_pk[email], credential_id=cred, earned_on=on, expires_on=exp)
         for email, cred, on, exp in plan.new_earned],
        batch_size=BATCH,
    )
    # End associations first: the database allows one open association per employee.
    ended = [Association(pk=row[3], ends_on=row[2]) for rows in plan.associations.values() for row in rows if row[3] and row[4]]
    Association.objects.bulk_update(ended, ["ends_on"], batch_size=BATCH)
    Association.objects.bulk_create(
        [Association(employee_id=emp_pk[email], organization_id=org_pk[row[0]], starts_on=row[1], ends_on=row[2])
         for email, rows in plan.associations.items() for row in rows if row[3] is None],
        batch_size=BATCH,
    )
    MetricValue.objects.bulk_create(
        [MetricValue(organization_id=org_pk[mpn], metric_id=metric, period_end=period, value=row[1])
         for (mpn, metric, period), row in plan.metric_values.items() if row[0] is None],
        batch_size=BATCH,
    )
    MetricValue.objects.bulk_update(
        [MetricValue(pk=row[0], value=row[1]) for row in plan.metric_values.values() if row[0] and row[2]],
        ["value"], batch_size=BATCH,
    )
    Membership.objects.bulk_create(
        [Membership(organization_id=org_pk[m["mpn_id"]], level=m["level"], purchased_on=m["purchased_on"],
                    starts_on=m["purchased_on"], ends_on=one_year_after(m["purchased_on"]), source=Membership.Source.IMPORT)
         for m in plan.new_memberships],
        batch_size=BATCH,
    )
    for o in plan.new_overrides:
        override = Override.objects.create(
            organization_id=org_pk[o["mpn_id"]], competency_id=o["competency_pk"], level=o["level"], reason=o["reason"],
            starts_on=o["starts_on"], expires_on=o["expires_on"], created_by_id=plan.staff.get(o["agent"]),
        )
        OverrideAudit.objects.create(
            override=override, action=OverrideAudit.Action.APPLY, actor_id=plan.staff.get(o["agent"]), day=o["starts_on"],
            reason=o["reason"], new_values={"level": o["level"], "starts_on": str(o["starts_on"]), "expires_on": str(o["expires_on"])},
        )
    plan.result.touched_organization_ids = {org_pk[mpn] for mpn in plan.touched if mpn in org_pk}
