"""Memberships' part of the catalog file: the `memberships` (plans) and `benefits` sections.

Registered into the catalog's sections (`competencies.catalog.register_section`) when the
app is ready: `load_catalog` checks them with the rest of the file, every problem with its
path, and writes them in the same transaction, after the competencies.

- Membership plans are matched by `level`, benefits by `slug`; rows the file no
  longer mentions are left alone.
- A benefit is entitled by a membership level, or by a competency at a level:
  exactly one of the two, and only a competency the same file defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from competencies.catalog import LEVELS
from competencies.catalog_checks import Checker, Names, at, item, show
from competencies.catalog_upsert import upsert

from .models import Benefit, MembershipPlan


@dataclass(frozen=True, slots=True)
class PlanEntry:
    level: str
    price_usd: Decimal
    price_confirmed: bool


@dataclass(frozen=True, slots=True)
class BenefitEntry:
    slug: str
    name: str
    description: str
    price_usd: Decimal | None
    value_usd: Decimal | None
    membership_level: str  # "" for a competency benefit
    competency: str | None  # competency slug
    level: str  # "" for a membership benefit
    quantity: int | None
    names: dict = field(default_factory=dict)  # the name in other languages (language -> text)
    descriptions: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# memberships


def parse_plans(value: Any, check: Checker, names: Names) -> list[PlanEntry]:
    """The `memberships` section: one plan per level, with its price (`price_confirmed` defaults to true)."""
    plans, seen = [], {}
    for i, raw in enumerate(check.sequence(value, "memberships")):
        path = item("memberships", i)
        entry = check.mapping(raw, path, required=["level", "price_usd"], optional=["price_confirmed"])
        if entry is None:
            continue
        level = check.choice(entry.get("level"), at(path, "level"), LEVELS, "membership level") if "level" in entry else None
        check.unique(seen, level, at(path, "level"), "membership level")
        price = check.amount(entry, "price_usd", path, required=True)
        confirmed = entry.get("price_confirmed", True)
        if not isinstance(confirmed, bool):
            check.problem(at(path, "price_confirmed"), f"must be true or false, not {show(confirmed)}")
        plans.append(PlanEntry(level, price, confirmed is not False))
    return plans


def load_plans(plans: list[PlanEntry], competency_ids: dict[str, int]) -> dict[str, int]:
    counts, _ids = upsert(
        MembershipPlan,
        key="level",
        rows={p.level: {"price_usd": p.price_usd, "price_confirmed": p.price_confirmed} for p in plans},
    )
    return counts


# ---------------------------------------------------------------------------
# benefits


def parse_benefits(value: Any, check: Checker, names: Names) -> list[BenefitEntry]:
    """The `benefits` section: each benefit with its price, worth and quantity, and what entitles to it."""
    benefits, seen = [], {}
    for i, raw in enumerate(check.sequence(value, "benefits")):
        path = item("benefits", i)
        entry = check.mapping(
            raw,
            path,
            required=["slug", "name"],
            optional=["description", "price_usd", "value_usd", "membership_level", "competency", "level", "quantity"],
        )
        if entry is None:
            continue
        slug = check.slug(entry, "slug", path, max_length=80)
        check.unique(seen, slug, at(path, "slug"), "benefit slug")
        name, translations = check.localized_text(entry, "name", path, max_length=200)
        description, descriptions = check.localized_text(entry, "description", path, max_length=10_000, required=False)
        price = check.amount(entry, "price_usd", path)
        worth = check.amount(entry, "value_usd", path)
        quantity = check.whole(entry, "quantity", path, minimum=0)
        membership_level, competency, level = (entry.get(k) for k in ("membership_level", "competency", "level"))
        _check_entitlement(check, path, names, membership_level, competency, level)
        benefits.append(
            BenefitEntry(
                slug=slug,
                name=name,
                description=description or "",
                price_usd=price,
                value_usd=worth,
                membership_level=membership_level or "",
                competency=competency,
                level=level or "",
                quantity=quantity,
                names=translations,
                descriptions=descriptions,
            )
        )
    return benefits


def _check_entitlement(check: Checker, path: str, names: Names, membership_level: Any, competency: Any, level: Any) -> None:
    """Entitled by a membership level, or by a competency at a level: exactly one of the two."""
    if membership_level is not None and (competency is not None or level is not None):
        check.problem(path, "give either membership_level, or competency and level, not both")
    elif membership_level is not None:
        check.choice(membership_level, at(path, "membership_level"), LEVELS, "membership level")
    elif competency is None and level is None:
        check.problem(path, "give either membership_level, or competency and level")
    else:
        if competency is None:
            check.problem(at(path, "competency"), "is required with level")
        elif competency not in names.competencies:
            check.problem(at(path, "competency"), f"unknown competency {show(competency)}")
        if level is None:
            check.problem(at(path, "level"), "is required with competency")
        else:
            check.choice(level, at(path, "level"), LEVELS, "level")


def load_benefits(benefits: list[BenefitEntry], competency_ids: dict[str, int]) -> dict[str, int]:
    counts, _ids = upsert(
        Benefit,
        key="slug",
        rows={
            b.slug: {
                "name": b.name,
                "names": b.names,
                "description": b.description,
                "descriptions": b.descriptions,
                "price_usd": b.price_usd,
                "value_usd": b.value_usd,
                "membership_level": b.membership_level,
                "competency_id": competency_ids[b.competency] if b.competency else None,
                "level": b.level,
                "quantity": b.quantity,
            }
            for b in benefits
        },
    )
    return counts
