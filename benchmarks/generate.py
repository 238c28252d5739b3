"""Synthetic partner data at any size, in the documented formats (docs/interfaces.md).

- `catalog_document()`: a competency catalog ("Catalog file"): 6 Centers of
  Excellence, 40 competencies, 150 credentials (exams, certifications that
  expire, assessments, a few retired ones still accepted or no longer
  accepted on the benchmark day), 4 metrics; silver and gold options mixing
  `certified_people` (`any_of`, `all_of`, `groups`) and metric thresholds
  (a plain number or a map by market, windows of 90 to 365 days).
- `organizations()`: the activity of each organization as plain records,
  in the order an import applies them: the organization, its employees,
  their associations (some moved from another organization, some left,
  some start after the benchmark day), their earned credentials (some
  expired, some earned after the day), the organization's metric values
  (quarterly; some outside every window) and a few overrides.
- `activity_records()`: the same as `import_activity` JSON Lines objects.

Defaults for `orgs=10_000`: about 100,000 employees, 300,000 earned
credentials, 160,000 metric values; everything scales with `orgs`.
Deterministic: the same `orgs` and `seed` give the same data, byte for byte.
Organization 0 is a large one (2,000 employees) and organization 1 has 10,
for the page benchmarks.
"""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Bump when the generator's output changes: databases and files holding an older data set are remade.
FORMAT_VERSION = 2
DEFAULT_ORGS = 10_000
DEFAULT_SEED = 2017
# The benchmark evaluates every organization as of this day; the data is dated around it.
DAY = datetime.date(2026, 6, 30)
MPN_BASE = 4_000_000
LARGE_ORG_EMPLOYEES = 2_000

CENTERS = [
    ("application-development", "Application development", "AD"),
    ("cloud-platform", "Cloud platform", "CP"),
    ("data-management", "Data management", "DM"),
    ("business-applications", "Business applications", "BA"),
    ("mobility", "Mobility", "MO"),
    ("productivity", "Productivity", "PR"),
]
COMPETENCIES_PER_CENTER = [7, 7, 7, 7, 6, 6]  # 40
CREDENTIALS_PER_CENTER = 25  # 150: 2 assessments, 3 certifications, 20 exams each
ASSESSMENTS, CERTIFICATIONS = 2, 3

# slug, name, unit, chance an organization reports it, typical quarterly figure of an average organization
METRICS = [
    ("azure_consumption_usd", "Azure consumption", "USD", 0.8, 4_000.0),
    ("office365_active_users", "Office 365 active users", "", 0.55, 450.0),
    ("new_office365_customers", "new Office 365 customers", "", 0.5, 1.5),
    ("crm_net_new_revenue_usd", "net-new CRM Online revenue", "USD", 0.35, 25_000.0),
]
# silver and gold thresholds over 365 days (developed, developing): about what a typical organization reaches
THRESHOLDS = {
    "azure_consumption_usd": ((15_000, 10_000), (100_000, None)),
    "office365_active_users": ((2_000, 1_000), (4_000, 2_500)),
    "new_office365_customers": ((4, None), (25, None)),
    "crm_net_new_revenue_usd": ((100_000, 50_000), (300_000, 150_000)),
}
COUNTRIES = [
    ("United States", "developed"), ("Germany", "developed"), ("France", "developed"), ("Japan", "developed"),
    ("United Kingdom", "developed"), ("Australia", "developed"), ("Canada", "developed"), ("Taiwan", "developed"),
    ("China", "developing"), ("India", "developing"), ("Brazil", "developing"), ("Mexico", "developing"),
    ("Viet Nam", "developing"), ("Kenya", "developing"),
]
# earned credentials per employee: 0..8, mean about 3
CREDENTIAL_COUNT_WEIGHTS = [14, 14, 14, 13, 12, 11, 9, 7, 6]


# ---------------------------------------------------------------------------
# The catalog


def _credential_codes() -> list[list[dict]]:
    """Per center, its 25 credentials as catalog entries (assessments, certifications, exams)."""
    per_center = []
    for _slug, name, prefix in CENTERS:
        entries = []
        for n in range(CREDENTIALS_PER_CENTER):
            code = f"{prefix}-{100 + n}"
            if n < ASSESSMENTS:
                entry = {"code": f"{prefix}-ASSESS-{n + 1}", "kind": "assessment",
                         "title": f"{name} technical assessment {n + 1}", "valid_days": 730}
            elif n < ASSESSMENTS + CERTIFICATIONS:
                entry = {"code": f"{prefix}-CERT-{n - ASSESSMENTS + 1}", "kind": "certification",
                         "title": f"{name} certification {n - ASSESSMENTS + 1}", "valid_days": 1095}
            else:
                entry = {"code": code, "kind": "exam", "title": f"{name} exam {code}"}
            if n == CREDENTIALS_PER_CENTER - 2:  # retired, no longer accepted on DAY
                entry.update(retired_on=DAY - datetime.timedelta(days=565), accepted_until=DAY - datetime.timedelta(days=200))
            if n == CREDENTIALS_PER_CENTER - 1:  # retired, still accepted on DAY
                entry.update(retired_on=DAY - datetime.timedelta(days=265), accepted_until=DAY + datetime.timedelta(days=100))
            entries.append(entry)
        per_center.append(entries)
    return per_center


def catalog_document(*, seed: int = DEFAULT_SEED) -> dict:
    """The benchmark catalog, in docs/interfaces.md's catalog format (a dict ready for `load_catalog` or YAML)."""
    rng = random.Random(seed)
    credentials = _credential_codes()
    metrics = [{"slug": s, "name": n, "unit": u} for s, n, u, _p, _q in METRICS]
    centers = []
    for c, ((slug, name, _prefix), count) in enumerate(zip(CENTERS, COMPETENCIES_PER_CENTER, strict=True)):
        pool = credentials[c]
        assessments = [e["code"] for e in pool if e["kind"] == "assessment"]
        certifications = [e["code"] for e in pool if e["kind"] == "certification"]
        exams = [e["code"] for e in pool if e["kind"] == "exam"]
        competencies = []
        for k in range(count):
            metric = rng.choice(METRICS)[0] if rng.random() < 0.5 else None
            levels = {}
            for level, _scale in (("silver", 1), ("gold", 2)):
                options = []
                for o in range(rng.choice([1, 2, 2, 3]) if level == "silver" else rng.choice([1, 1, 2])):
                    requirements = [_people_requirement(rng, level, exams, assessments, certifications)]
                    if metric and (o == 0 or rng.random() < 0.5):
                        requirements.append(_metric_requirement(rng, metric, level))
                    elif rng.random() < 0.25:
                        requirements.append(_people_requirement(rng, level, exams, assessments, certifications))
                    options.append({"name": f"{level.title()} option {o + 1}", "requirements": requirements})
                levels[level] = {"options": options}
            competencies.append({
                "slug": f"{slug}-{k + 1}",
                "name": f"{name} {k + 1}",
                "description": f"Synthetic competency {k + 1} of {name}.",
                "levels": levels,
            })
        centers.append({"slug": slug, "name": name, "competencies": competencies})
    return {
        "credentials": [e for pool in credentials for e in pool],
        "metrics": metrics,
        "centers": centers,
        "memberships": [{"level": "silver", "price_usd": 1670}, {"level": "gold", "price_usd": 4730}],
    }


def _people_requirement(rng, level, exams, assessments, certifications) -> dict:
    gold = level == "gold"
    shape = rng.choices(["any_of", "all_of", "groups", "certification"], weights=[5, 2, 2, 1])[0]
    if shape == "any_of":
        return {"kind": "certified_people", "count": rng.choice([3, 4]) if gold else rng.choice([1, 2]),
                "any_of": rng.sample(exams, rng.randint(3, 6))}
    if shape == "all_of":
        return {"kind": "certified_people", "count": 2 if gold else 1, "all_of": rng.sample(exams, 2)}
    if shape == "groups":  # "the same people pass the assessment and one of these exams"
        return {"kind": "certified_people", "count": 4 if gold else 2,
                "groups": [[rng.choice(assessments)], rng.sample(exams, rng.randint(2, 4))]}
    return {"kind": "certified_people", "count": 2 if gold else 1, "any_of": rng.sample(certifications, 2)}


def _metric_requirement(rng, metric: str, level: str) -> dict:
    window = rng.choices([365, 180, 90], weights=[6, 2, 1])[0]
    developed, developing = THRESHOLDS[metric][0 if level == "silver" else 1]
    factor = window / 365
    developed = round(developed * factor)
    if developing is None:
        at_least: int | dict = max(1, developed)
    else:
        at_least = {"developed": max(1, developed), "developing": max(1, round(developing * factor))}
    return {"kind": "metric", "metric": metric, "window_days": window, "at_least": at_least}


# ---------------------------------------------------------------------------
# Activity


@dataclass(slots=True)
class Employee:
    index: int  # 0-based, over the whole data set
    email: str
    name: str
    mcp_id: str
    # (organization index or None for a disassociation, day) in the order they apply
    moves: list[tuple[int | None, datetime.date]] = field(default_factory=list)
    # (code, earned_on, expires_on or None for the credential's default)
    credentials: list[tuple[str, datetime.date, datetime.date | None]] = field(default_factory=list)


@dataclass(slots=True)
class Organization:
    index: int
    mpn_id: str
    name: str
    country: str
    market: str
    employees: list[Employee]
    metrics: list[tuple[str, datetime.date, float]]  # (slug, period_end, value)
    overrides: list[tuple[str, str, datetime.date, datetime.date]]  # (competency slug, level, starts, expires)


def mpn_id(index: int) -> str:
    return str(MPN_BASE + index)


def _quarter_ends(day: datetime.date, back: int, ahead: int) -> list[datetime.date]:
    """Quarter ends from `back` quarters before the one ending at or before `day` to `ahead` after it."""
    year, quarter = day.year, (day.month - 1) // 3 + 1
    ends = []
    for q in range(-back, ahead + 1):
        y, qq = divmod(year * 4 + quarter - 1 + q, 4)
        month = qq * 3 + 3
        nxt = datetime.date(y + (month == 12), month % 12 + 1, 1)
        ends.append(nxt - datetime.timedelta(days=1))
    return ends


def organizations(*, orgs: int = DEFAULT_ORGS, seed: int = DEFAULT_SEED, catalog: dict | None = None) -> Iterator[Organization]:
    """Every organization's activity, one at a time (memory stays flat whatever `orgs`)."""
    catalog = catalog or catalog_document(seed=seed)
    rng = random.Random(seed * 7919 + orgs)
    by_center = _credential_codes()
    codes_by_center = [[e["code"] for e in pool] for pool in by_center]
    retired_on = {e["code"]: e["retired_on"] for pool in by_center for e in pool if e.get("retired_on")}
    # Popular credentials are earned far more often than rare ones.
    popularity = [1.0 / (1 + n % 9) for n in range(CREDENTIALS_PER_CENTER)]
    all_codes = [code for pool in codes_by_center for code in pool]
    competencies = [c["slug"] for center in catalog["centers"] for c in center["competencies"]]
    quarters = _quarter_ends(DAY, back=7, ahead=1)  # 7 quarters before DAY's, DAY's, and the next (after DAY)
    employee_index = 0
    for i in range(orgs):
        country, market = rng.choice(COUNTRIES)
        if i == 0:
            size = LARGE_ORG_EMPLOYEES
        elif i == 1:
            size = 10
        else:
            size = min(400, 1 + int(rng.expovariate(1 / 9.3)))
        scale = rng.lognormvariate(0, 0.9) * (0.4 + size / 16)  # bigger partners sell more
        employees = []
        for _ in range(size):
            e = Employee(employee_index, f"e{employee_index}@o{i}.bench.example", f"Employee {employee_index}",
                         f"MCP{employee_index}")
            employee_index += 1
            # Associations: most since some day in the last 4 years; some came from another organization,
            # some left, a few start after DAY (they count for no one yet).
            starts = DAY - datetime.timedelta(days=rng.randint(1, 1460))
            r = rng.random()
            if r < 0.08 and i > 1:
                earlier = rng.randrange(1, i)
                moved = starts - datetime.timedelta(days=rng.randint(30, 700))
                e.moves.append((earlier, moved))
            e.moves.append((i, starts))
            if 0.08 <= r < 0.11:
                e.moves.append((None, starts + datetime.timedelta(days=rng.randint(1, 400))))
            elif 0.11 <= r < 0.12:
                e.moves[-1] = (i, DAY + datetime.timedelta(days=rng.randint(1, 30)))
            center = rng.randrange(len(CENTERS))
            count = rng.choices(range(len(CREDENTIAL_COUNT_WEIGHTS)), weights=CREDENTIAL_COUNT_WEIGHTS)[0]
            held = set()
            for _ in range(count):
                if rng.random() < 0.8:
                    code = rng.choices(codes_by_center[center], weights=popularity)[0]
                else:
                    code = rng.choice(all_codes)
                if code in held:
                    continue
                held.add(code)
                earned = DAY - datetime.timedelta(days=rng.randint(-20, 1600))
                if code in retired_on and earned >= retired_on[code]:
                    # No longer earnable from its retirement (docs/design.md): earned as long before it instead.
                    earned = retired_on[code] - (earned - retired_on[code]) - datetime.timedelta(days=1)
                expires = earned + datetime.timedelta(days=rng.randint(200, 900)) if rng.random() < 0.05 else None
                e.credentials.append((code, earned, expires))
            employees.append(e)
        metrics = []
        for slug, _name, _unit, chance, quarterly in METRICS:
            if rng.random() >= chance:
                continue
            first = rng.randrange(0, 3)
            last = len(quarters) - (1 if rng.random() < 0.85 else 0)  # some report the quarter after DAY already
            for period_end in quarters[first:last]:
                value = quarterly * scale * rng.lognormvariate(0, 0.4)
                metrics.append((slug, period_end, round(value) if quarterly < 10 else round(value, 2)))
        overrides = []
        if rng.random() < 0.005:
            starts = DAY - datetime.timedelta(days=rng.choice([30, 200]))
            overrides.append((rng.choice(competencies), rng.choice(["silver", "gold"]), starts,
                              starts + datetime.timedelta(days=90)))
        yield Organization(i, mpn_id(i), f"Benchmark Partner {i}", country, market, employees, metrics, overrides)


def activity_records(org: Organization) -> Iterator[dict]:
    """One organization's activity as `import_activity` records, in the order they must apply."""
    yield {"type": "organization", "mpn_id": org.mpn_id, "name": org.name, "country": org.country,
           "market": org.market}
    for e in org.employees:
        yield {"type": "employee", "email": e.email, "name": e.name, "mcp_id": e.mcp_id}
    for e in org.employees:
        for target, on in e.moves:
            if target is None:
                yield {"type": "disassociation", "email": e.email, "on": on.isoformat()}
            else:
                yield {"type": "association", "email": e.email, "mpn_id": mpn_id(target), "on": on.isoformat()}
        for code, earned_on, expires_on in e.credentials:
            record = {"type": "credential", "email": e.email, "code": code, "earned_on": earned_on.isoformat()}
            if expires_on is not None:
                record["expires_on"] = expires_on.isoformat()
            yield record
    for slug, period_end, value in org.metrics:
        yield {"type": "metric", "mpn_id": org.mpn_id, "metric": slug, "period_end": period_end.isoformat(),
               "value": value}
    for competency, level, starts_on, expires_on in org.overrides:
        yield {"type": "override", "mpn_id": org.mpn_id, "competency": competency, "level": level,
               "starts_on": starts_on.isoformat(), "expires_on": expires_on.isoformat(),
               "reason": "Benchmark: granted while the partner re-certifies"}


def write_files(*, out: Path, orgs: int = DEFAULT_ORGS, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Write `catalog.yaml` and `activity.jsonl` under `out`; returns the number of records by type."""
    out.mkdir(parents=True, exist_ok=True)
    catalog = catalog_document(seed=seed)
    with open(out / "catalog.yaml", "w") as f:
        f.write(f"# Synthetic benchmark catalog (python -m benchmarks generate, seed {seed}).\n")
        yaml.safe_dump(catalog, f, sort_keys=False, allow_unicode=True, width=120)
    counts: dict[str, int] = {}
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with open(out / "activity.jsonl", "w") as f:
        for org in organizations(orgs=orgs, seed=seed, catalog=catalog):
            lines = []
            for record in activity_records(org):
                counts[record["type"]] = counts.get(record["type"], 0) + 1
                lines.append(dumps(record))
            lines.append("")
            f.write("\n".join(lines))
    return counts
