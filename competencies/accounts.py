"""Accounts an organization's admin adds: one person at a time, or many from a CSV file; an employee's MCP ID.

An admin adds a person by name and email. A new address gets an account,
associated with the organization from the day it is added, with no password:
the layer above emails them a link to choose one (`hooks.account_created`).
An address that already has an account is not taken over: adding one person
sends that account an invitation instead (`invitations.invitation_send`),
which they accept or decline. A file is all or nothing: every line must be a
new account, or nothing is written and each bad line is named as
`LINE: reason` (docs/rules.md, "Adding users").
"""

import csv
import datetime
import io
import re
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from . import hooks
from .associations import association_start
from .identity import InvalidEmail, canonical_email
from .invitations import invitation_send
from .models import Association, Employee, Invitation, Organization
from .rules import covering
from .throttle import count_once

MAX_FILE_LINES = 1000  # people per file; a bigger organization sends several files
MAX_FILE_BYTES = 256 * 1024
MAX_NAME_LENGTH = 200
ADDS_PER_HOUR = 30  # submissions (one person, a file's preview or its confirmation) per admin per hour
MCP_ID = re.compile(r"^[0-9]{1,20}$")


class AccountError(ValueError):
    """A refused addition; `errors` lists the reasons (a file's as `LINE: reason`), nothing was written."""

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


class ThrottledError(AccountError):
    """Too many additions by one admin in the last hour."""


def account_email(raw: str) -> str:
    """The form an email is stored and compared in: its canonical form (competencies/identity.py); an address that
    has none is returned as typed, for `_row_error` to refuse in words."""
    try:
        return canonical_email(raw or "")
    except InvalidEmail:
        return (raw or "").strip()


@dataclass(frozen=True)
class NewAccount:
    line: int
    name: str
    email: str


def account_add_throttle(*, admin: Employee, now: datetime.datetime) -> None:
    """Count one submission of `admin` in the current hour; over ADDS_PER_HOUR, refuse it (ThrottledError)."""
    key = f"accounts:add:{admin.pk}:{now:%Y%m%d%H}"
    if count_once(key, timeout=3600) > ADDS_PER_HOUR:
        raise ThrottledError(
            _("You added people too many times in the last hour (at most %(limit)s). Try again later.")
            % {"limit": ADDS_PER_HOUR}
        )


def _row_error(name: str, email: str) -> str | None:
    if not name:
        return _("a name is required")
    if len(name) > MAX_NAME_LENGTH:
        return _("the name is longer than %(max)s characters") % {"max": MAX_NAME_LENGTH}
    try:
        canonical_email(email)
    except InvalidEmail:
        return _("“%(email)s” is not a valid email address") % {"email": email}
    return None


def accounts_parse(data: bytes) -> list[NewAccount]:
    """The people of a CSV file (UTF-8, columns `name,email`, an optional header line), or AccountError with
    every bad line as `LINE: reason`. Blank lines are skipped; the same address twice is an error."""
    if len(data) > MAX_FILE_BYTES:
        raise AccountError(_("The file is larger than %(kb)s KB.") % {"kb": MAX_FILE_BYTES // 1024})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AccountError(_("The file is not UTF-8 text: save it as “CSV UTF-8” and upload it again.")) from None
    lines = list(csv.reader(io.StringIO(text)))
    people, errors, seen = [], [], {}
    for number, cells in enumerate(lines, start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] == ["name", "email"]:
            continue
        if len(people) + len(errors) >= MAX_FILE_LINES:
            raise AccountError(
                _("The file has more than %(max)s people: split it into several files.") % {"max": MAX_FILE_LINES}
            )
        if len(cells) != 2:
            errors.append(_("%(line)s: expected 2 columns (name, email), found %(n)s") % {"line": number, "n": len(cells)})
            continue
        name, email = cells[0], account_email(cells[1])
        problem = _row_error(name, email)
        if problem is None and email in seen:
            problem = _("%(email)s is already on line %(other)s") % {"email": email, "other": seen[email]}
        if problem:
            errors.append(f"{number}: {problem}")
            continue
        seen[email] = number
        people.append(NewAccount(number, name, email))
    if errors:
        raise AccountError(errors)
    if not people:
        raise AccountError(_("The file names no one: one person per line, name then email."))
    return people


def accounts_check(people: list[NewAccount]) -> None:
    """Refuse (AccountError, `LINE: reason`) the lines whose address already has an account: a file only creates."""
    existing = set(
        Employee.objects.filter(email__in=[p.email for p in people]).values_list("email", flat=True)
    )
    errors = [
        _("%(line)s: %(email)s already has a Partner Center account: invite them from the People page instead")
        % {"line": p.line, "email": p.email}
        for p in people
        if p.email in existing
    ]
    if errors:
        raise AccountError(errors)


def _create(*, organization: Organization, name: str, email: str, by: Employee, day: datetime.date, language: str):
    employee = Employee.objects.create_user(email=email, password=None, name=name, language=language)
    association_start(employee=employee, organization=organization, on=day)
    hooks.account_created.send(employee=employee, organization=organization, by=by)
    return employee


@transaction.atomic
def accounts_add(
    *, organization: Organization, people: list[NewAccount], by: Employee, day: datetime.date, language: str
) -> list[Employee]:
    """Create every account of a checked file, each counting for the organization from `day`, all or nothing.

    The file is checked again here (an address may have signed up since
    the preview). Each new person is emailed a link to set their password.
    """
    accounts_check(people)
    return [
        _create(organization=organization, name=p.name, email=p.email, by=by, day=day, language=language)
        for p in people
    ]


@transaction.atomic
def account_add(
    *, organization: Organization, name: str, email: str, by: Employee, day: datetime.date, language: str
) -> Employee | Invitation:
    """Add one person: a new address gets an account counting for the organization from `day` (and an email to
    set a password); an address with an account gets an invitation instead; someone who already counts for the
    organization is refused (AccountError)."""
    name, email = (name or "").strip(), account_email(email)
    problem = _row_error(name, email)
    if problem:
        raise AccountError(problem[:1].upper() + problem[1:] + ".")
    if Association.objects.filter(covering(day), employee__email=email, organization=organization).exists():
        raise AccountError(_("%(email)s already counts for %(name)s.") % {"email": email, "name": organization.name})
    if Employee.objects.filter(email=email).exists():
        return invitation_send(organization=organization, email=email, invited_by=by, day=day)
    return _create(organization=organization, name=name, email=email, by=by, day=day, language=language)


def employee_mcp_id_set(*, employee: Employee, mcp_id: str) -> Employee:
    """Link (or, blank, unlink) the employee's certification profile: the MCP ID, digits only, one account's."""
    mcp_id = (mcp_id or "").strip()
    if mcp_id and not MCP_ID.match(mcp_id):
        raise AccountError(_("An MCP ID is a number of up to 20 digits, as on your certification profile."))
    if mcp_id and Employee.objects.filter(mcp_id=mcp_id).exclude(pk=employee.pk).exists():
        raise AccountError(_("This MCP ID is linked to another account. Contact support if it is yours."))
    employee.mcp_id = mcp_id
    employee.save(update_fields=["mcp_id"])
    return employee
