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
from competencies.catalog_upsert import columns, upsert

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
    per_period: str  # "" (no limit but the quantity), "month" or "term"
    period_limit: int | None

    names: dict = field(default_factory=dict)  # the name in other languages (language -> text)
    descriptions: dict = field(default_factory=dict)


PERIODS = ("month", "term")


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
        MembershipPlan, key="level", rows={p.level: columns(p, "price_usd", "price_confirmed") for p in plans}
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
            optional=[
                "description", "price_usd", "value_usd", "membership_level", "competency", "level", "quantity",
                "per_period", "limit",
            ],
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
        per_period, period_limit = _period_limit(check, path, entry, quantity)
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
                per_period=per_period,
                period_limit=period_limit,
                names=translations,
                descriptions=descriptions,
            )
        )
    _check_distinct_names(check, benefits)
    return benefits


def _period_limit(check: Checker, path: str, entry: dict, quantity: int | None) -> tuple[str, int | None]:
    """`per_period: month|term` with `limit: N` (both or neither): at most N units a period, within the quantity."""
    per_period = entry.get("per_period")
    limit = check.whole(entry, "limit", path, minimum=1)
    if per_period is None and "limit" not in entry:
        return "", None
    if per_period is None:
        check.problem(at(path, "per_period"), "is required with limit (month or term)")
        return "", None
    if check.choice(per_period, at(path, "per_period"), PERIODS, "period") is None:
        return "", None
    if "limit" not in entry:
        check.problem(at(path, "limit"), "is required with per_period")
    if quantity is None:
        check.problem(at(path, "quantity"), "is required with per_period: the units a term")
    elif limit is not None and limit > quantity:
        check.problem(at(path, "limit"), f"must not exceed the quantity ({quantity}), not {show(limit)}")
    return per_period, limit


def _check_distinct_names(check: Checker, benefits: list[BenefitEntry]) -> None:
    """Two offers with the same name look like one offer twice: each name says its level or competency."""
    seen: dict[str, int] = {}
    for i, benefit in enumerate(benefits):
        if benefit.name is None:
            continue
        if benefit.name in seen:
            check.problem(
                at(item("benefits", i), "name"),
                f"{show(benefit.name)} is already the name of benefits[{seen[benefit.name]}]: name offers distinctly",
            )
        else:
            seen[benefit.name] = i


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
    counts, _ids = upsert(Benefit, key="slug", rows={
        b.slug: columns(
            b, "name", "names", "description", "descriptions", "price_usd", "value_usd", "membership_level", "level",
            "quantity", "per_period", "period_limit", competency_id=competency_ids[b.competency] if b.competency else None,
        )
        for b in benefits
    })
    return counts
