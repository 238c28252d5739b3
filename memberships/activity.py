"""The `membership` record of the activity importer: a membership carried over from another system.

`{"type": "membership", "mpn_id": …, "level": "silver" | "gold", "purchased_on": "YYYY-MM-DD"}` is a
one-year term from the purchase day (29 February: 28 February), keyed by organization × level ×
start: importing it again changes nothing. Registered with the importer at start-up (`register`).
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

from competencies.activity.records import Parser, register_record_type
from competencies.bulk import bulk_insert
from competencies.dates import years_after

from .models import Membership


class MembershipRecord(NamedTuple):
    mpn_id: str
    level: str
    purchased_on: datetime.date


def membership_record(fields: Parser, obj: dict) -> MembershipRecord:
    """A membership line: an MPN ID, a level a membership can be at (silver or gold), a purchase day."""
    return MembershipRecord(fields.mpn_id(obj), fields.level(obj), fields.date(obj, "purchased_on"))


def memberships_stored(organizations: dict[int, str]) -> set[tuple[str, str, datetime.date]]:
    """The keys (MPN ID, level, start) of the organizations' memberships: one query."""
    rows = Membership.objects.filter(organization_id__in=list(organizations)).values_list(
        "organization_id", "level", "starts_on"
    )
    return {(organizations[o], level, starts_on) for o, level, starts_on in rows}


def membership_replay(stored: set[tuple[str, str, datetime.date]], r: MembershipRecord) -> bool:
    """A membership is new unless the organization has one at this level from this day (stored or on an earlier line)."""
    key = (r.mpn_id, r.level, r.purchased_on)
    if key in stored:
        return False
    stored.add(key)
    return True


def memberships_write(new: list[MembershipRecord], organization_id: dict[str, int]) -> None:
    """The new memberships, in bulk: a one-year term from the purchase day."""
    bulk_insert(
        Membership,
        ["organization_id", "level", "purchased_on", "starts_on", "ends_on", "source"],
        [
            (organization_id[m.mpn_id], m.level, m.purchased_on, m.purchased_on, years_after(m.purchased_on),
             Membership.Source.IMPORT.value)
            for m in new
        ],
    )


def register() -> None:
    """Teach the activity importer the `membership` record (from `MembershipsConfig.ready`)."""
    register_record_type(
        "membership",
        record=MembershipRecord,
        required=("mpn_id", "level", "purchased_on"),
        parse=membership_record,
        load=memberships_stored,
        replay=membership_replay,
        write=memberships_write,
    )
