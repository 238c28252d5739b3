"""Emails stored in their canonical form (competencies/identity.py); the unique constraints hold that form.

Before: an employee's email was unique under PostgreSQL's `LOWER()`, which
lets `liam@…` and `lıam@…` be two accounts (issue 19). This migration
rewrites every employee's and invitation's email to its canonical form. If
two accounts (or two pending invitations of one organization) become one
address, or an address has no canonical form, it stops with a report naming
them and changes nothing: which account is the person's is for a human to
decide, never merged here. Resolve them, then migrate again.
"""

from collections import defaultdict

from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.models.functions import Lower

from competencies.identity import InvalidEmail, canonical_email

BATCH = 2000


class CanonicalEmailConflict(CommandError):
    """Accounts that would be one under the canonical form; the migration stopped."""


def _canonical(rows, *, what: str, group_of=lambda row: None):
    """(pk, new email) of the rows that change, and the problems: collisions within a group, addresses that are none."""
    changes, problems, seen = [], [], defaultdict(list)
    for row in rows:
        pk, email = row[0], row[1]
        try:
            canonical = canonical_email(email)
        except InvalidEmail as exc:
            problems.append(f"  not an email address ({exc}): {what} {pk} {email!r}")
            continue
        seen[(group_of(row), canonical)].append((pk, email))
        if canonical != email:
            changes.append((pk, canonical))
    for (group, canonical), holders in sorted(seen.items(), key=lambda item: str(item[0])):
        if len(holders) > 1:
            where = f" (organization {group})" if group is not None else ""
            named = ", ".join(f"{what} {pk} {email!r}" for pk, email in holders)
            problems.append(f"  {canonical}{where}: {named}")
    return changes, problems


def _write(model, changes) -> None:
    for start in range(0, len(changes), BATCH):
        batch = [model(pk=pk, email=email) for pk, email in changes[start : start + BATCH]]
        model.objects.bulk_update(batch, ["email"])


def canonicalize(apps, schema_editor):
    Employee = apps.get_model("competencies", "Employee")
    Invitation = apps.get_model("competencies", "Invitation")
    employees, problems = _canonical(Employee.objects.order_by("pk").values_list("pk", "email").iterator(), what="employee")
    every = Invitation.objects.order_by("pk").values_list("pk", "email")
    invitations, invalid = _canonical(every.iterator(), what="invitation", group_of=lambda row: row[0])
    pending = Invitation.objects.filter(state="pending").order_by("pk").values_list("pk", "email", "organization_id")
    _same, pending_problems = _canonical(pending.iterator(), what="invitation", group_of=lambda row: row[2])
    problems += invalid + [p for p in pending_problems if p not in invalid]
    if problems:
        raise CanonicalEmailConflict(
            "migration competencies.0007_canonical_email stopped, nothing changed: these addresses are not one "
            "account each under the canonical form (competencies/identity.py). Decide by hand which account is "
            "the person's (or give one another address), then migrate again.\n" + "\n".join(problems)
        )
    _write(Employee, employees)
    _write(Invitation, invitations)


class Migration(migrations.Migration):

    dependencies = [
        ("competencies", "0006_cause_params"),
    ]

    operations = [
        migrations.RunPython(canonicalize, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="employee", name="employee_email_ci_unique"),
        migrations.AddConstraint(
            model_name="employee",
            constraint=models.CheckConstraint(condition=models.Q(email=Lower("email")), name="employee_email_canonical"),
        ),
        migrations.RemoveConstraint(model_name="invitation", name="one_pending_invitation_per_email"),
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.UniqueConstraint(
                fields=("organization", "email"), condition=models.Q(state="pending"),
                name="one_pending_invitation_per_email",
            ),
        ),
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="invitation_email_canonical"
            ),
        ),
        migrations.RemoveIndex(model_name="invitation", name="invitation_email_state"),
        migrations.AddIndex(
            model_name="invitation", index=models.Index(fields=["email", "state"], name="invitation_email_state")
        ),
    ]
