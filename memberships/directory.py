"""The public directory: which partners it lists on a day, in the day's fair order, and their profiles."""

import datetime
import hashlib
from dataclasses import dataclass

from competencies.models import LEVEL_RANK, Level, Organization

from .displayed import displayed_levels


def fair_order_key(mpn_id: str, day: datetime.date) -> str:
    """A daily rotation: the order of a hash of the day and the MPN ID, new every day, so no partner is always first."""
    return hashlib.sha256(f"{day.isoformat()}:{mpn_id}".encode()).hexdigest()


MAX_SEARCH_WORDS = 8


@dataclass
class Listing:
    organization_id: int
    mpn_id: str
    country: str
    levels: dict[int, str]  # competency id -> displayed level
    text: str = ""  # what a search reads, in lower case: name, MPN ID, country, description


def search_words(q: str | None) -> list[str]:
    """The words of a search, in lower case, at most MAX_SEARCH_WORDS (the rest are ignored)."""
    return (q or "").lower().split()[:MAX_SEARCH_WORDS]


def directory_listings(
    *,
    day: datetime.date,
    competency_id: int | None = None,
    level: str | None = None,
    country: str | None = None,
) -> list[Listing]:
    """The partners the public directory lists on D, in the day's fair order.

    Listed: organizations with a public profile and at least one displayed
    competency (so an active membership). Filters (see `filter_listings`):
    a competency, a level, a country, words. Three queries whatever the
    number of partners.
    """
    candidates = (
        Organization.objects.filter(public_profile=True, memberships__starts_on__lte=day, memberships__ends_on__gt=day)
        .order_by()
        .values_list("pk", "mpn_id", "country", "name", "description")
        .distinct()
    )
    rows = {pk: (mpn_id, c, f"{name}\n{mpn_id}\n{c}\n{about}".lower()) for pk, mpn_id, c, name, about in candidates}
    per_org: dict[int, dict[int, str]] = {}
    for (org_id, cid), shown in displayed_levels(organization_ids=rows, day=day).items():
        per_org.setdefault(org_id, {})[cid] = shown
    listings = [Listing(org_id, *rows[org_id][:2], levels, rows[org_id][2]) for org_id, levels in per_org.items()]
    listings.sort(key=lambda item: fair_order_key(item.mpn_id, day))
    return filter_listings(listings, competency_id=competency_id, level=level, country=country)


def filter_listings(
    listings: list[Listing],
    *,
    competency_id: int | None = None,
    level: str | None = None,
    country: str | None = None,
    q: str | None = None,
    competency_names: dict[int, str] | None = None,
) -> list[Listing]:
    """Keep the order; a competency: displayed; a level: some (or the chosen) competency displayed at that
    level or above (Silver also finds Gold); a country: exactly; `q`: every word (any case) is in the
    partner's name, MPN ID, country, description or the name of a competency it displays."""
    rank = LEVEL_RANK[level] if level in (Level.SILVER, Level.GOLD) else LEVEL_RANK[Level.SILVER]
    words = search_words(q)
    names = {cid: name.lower() for cid, name in (competency_names or {}).items()}
    return [
        item
        for item in listings
        if (not country or item.country == country)
        and all(word in item.text or any(word in names.get(cid, "") for cid in item.levels) for word in words)
        and any(
            LEVEL_RANK[shown] >= rank and (competency_id is None or cid == competency_id)
            for cid, shown in item.levels.items()
        )
    ]


def listed_profile(mpn_id: str, *, day: datetime.date) -> tuple[Organization, dict[int, str]] | None:
    """A partner's public profile on D and its displayed competencies, or None when the directory would not list it.

    A profile is public exactly when the directory lists the partner: a
    public profile and at least one displayed competency.
    """
    organization = Organization.objects.filter(mpn_id=mpn_id, public_profile=True).first()
    if organization is None:
        return None
    levels = {cid: level for (_org, cid), level in displayed_levels(organization_ids=[organization.pk], day=day).items()}
    if not levels:
        return None
    return organization, levels
