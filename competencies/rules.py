"""The rules that several parts of the product apply, written once: who counts, which credential is valid,
when an association may start.

Every end date is the first day something no longer holds. The engine
(`evaluation`) reads with the query forms (`covering`, `credential_valid`),
the causes of a change and the importer's replay check with the Python forms
(`covers`, `credential_valid_on`, `association_start_refusal`); each pair
says the same thing and is tested at its boundaries.
"""

import datetime
from typing import NamedTuple

from django.db.models import Q


def covers(starts_on: datetime.date, ends_on: datetime.date | None, day: datetime.date) -> bool:
    """An association (or any span) covers D when `starts_on <= D < ends_on`, or it has no end."""
    return starts_on <= day and (ends_on is None or day < ends_on)


def covering(day: datetime.date, prefix: str = "") -> Q:
    """`covers` as a filter on an association (through `prefix`, e.g. "associations__")."""
    return Q(**{f"{prefix}starts_on__lte": day}) & (
        Q(**{f"{prefix}ends_on__isnull": True}) | Q(**{f"{prefix}ends_on__gt": day})
    )


def credential_valid_on(
    earned_on: datetime.date,
    expires_on: datetime.date | None,
    accepted_until: datetime.date | None,
    day: datetime.date,
) -> bool:
    """An earned credential is valid on D when `earned_on <= D`, `D < expires_on` where it has one, and
    `D < accepted_until` where its credential has one (a retired exam keeps counting until then)."""
    return (
        earned_on <= day
        and (expires_on is None or day < expires_on)
        and (accepted_until is None or day < accepted_until)
    )


def credential_valid(day: datetime.date, prefix: str = "") -> Q:
    """`credential_valid_on` as a filter on an earned credential, but for `accepted_until`: the engine leaves
    credentials no longer accepted out of its read altogether (one list per day, not a join per row)."""
    return Q(**{f"{prefix}earned_on__lte": day}) & (
        Q(**{f"{prefix}expires_on__isnull": True}) | Q(**{f"{prefix}expires_on__gt": day})
    )


class Refusal(NamedTuple):
    """Why an association may not start: a code and the date it conflicts with."""

    code: str  # "before_current" (the current one started later) or "before_previous_end"
    conflicting: datetime.date


def association_start_refusal(
    *, on: datetime.date, current_starts_on: datetime.date | None, previous_ends_on: datetime.date | None
) -> Refusal | None:
    """One organization at a time: an association may not start before the employee's current one started,
    nor, with no current one, before their previous one ended. Associating on D ends the current one on D."""
    if current_starts_on is not None:
        return Refusal("before_current", current_starts_on) if on < current_starts_on else None
    if previous_ends_on is not None and on < previous_ends_on:
        return Refusal("before_previous_end", previous_ends_on)
    return None
