"""Bad input, generated (hypothesis): malformed catalog files, activity records and form posts.

Every generated input is wrong by construction, in one of the ways the
rules name (a missing or unknown field, a wrong type, an unknown
reference, a number out of range, a bad date, a duplicate, broken syntax,
another organization's id, …). Each time: a clear error (the command
exits non-zero naming the bad entry or line; a page answers 4xx with the
reason) and a database left exactly as it was. How many inputs were tried
is counted into test-artifacts/security-figures.json (docs/security.md).
"""

import copy
import datetime
import io
import json
import re
import string
from pathlib import Path

import pytest
import time_machine
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.validators import URLValidator
from django.test import Client
from django.urls import reverse
from hypothesis import assume, given
from hypothesis import strategies as st

from competencies.dates import EARLIEST_DAY, LATEST_DAY
from competencies.identity import InvalidEmail, canonical_email
from competencies.jsonsafe import MAX_DEPTH
from competencies.models import Organization

from . import figures
from .common import NOW, PASSWORD
from .factories import (
    AssociationFactory,
    CredentialFactory,
    EmployeeFactory,
    MembershipFactory,
    OrganizationFactory,
    certified_employee,
)
from .snapshot import changes, database_snapshot

DATA = Path(__file__).parent / "data"
SMALL_CATALOG = DATA / "catalog" / "small.yaml"
SAMPLE_ACTIVITY = DATA / "activity" / "sample.jsonl"

# Text as people (and attackers) type it: any character but lone surrogates, which no file can hold.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
WORD = st.text(string.ascii_letters + string.digits + "-_ .:/@", min_size=1, max_size=20)
NUMBER = st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JUNK = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=6)


@pytest.fixture
def populated(db, tmp_path):
    """A database with a catalog, activity, an organization with members, and a partner in the directory."""
    call_command("load_catalog", str(SMALL_CATALOG), stdout=io.StringIO())
    CredentialFactory(code="AZ-900", valid_days=365)
    EmployeeFactory(email="agent@microsoft.example", is_staff=True)
    call_command("import_activity", str(SAMPLE_ACTIVITY), stdout=io.StringIO())
    return tmp_path


def refused_and_unchanged(before):
    after = database_snapshot()
    assert changes(before, after) == {}


# ---------------------------------------------------------------------------
# Catalog files

CATALOG = yaml.safe_load(SMALL_CATALOG.read_text())


def path_text(path) -> str:
    """The loader's way of naming an entry: `centers[0].competencies[1].levels.silver`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def walk(node, path=()):
    """(path, value) of every node of the document."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


def get(doc, path):
    for part in path:
        doc = doc[part]
    return doc


def context(path) -> str:
    """What kind of entry a path names: 'credential', 'requirement', 'levels', …"""
    names = [p for p in path if isinstance(p, str)]
    if not path:
        return "top"
    last = path[-1]
    if isinstance(last, int):
        kinds = {"credentials": "credential", "metrics": "metric", "centers": "center", "competencies": "competency",
                 "options": "option", "requirements": "requirement", "memberships": "plan", "benefits": "benefit",
                 "any_of": "code item", "all_of": "code item"}
        return kinds.get(names[-1], "code item" if "groups" in names else "item")
    if last in ("silver", "gold") and len(names) >= 2 and names[-2] == "levels":
        return "level"
    return last


REQUIRED = {
    "credential": ["code", "title"], "metric": ["slug", "name"], "center": ["slug", "name"],
    "competency": ["slug", "name", "levels"], "level": ["options"], "option": ["name", "requirements"],
    "plan": ["level", "price_usd"], "benefit": ["slug", "name"],
}
KNOWN_FIELDS = {
    "credentials", "metrics", "centers", "memberships", "benefits", "code", "kind", "title", "valid_days",
    "retired_on", "accepted_until", "slug", "name", "unit", "competencies", "levels", "description", "silver", "gold",
    "options", "requirements", "count", "any_of", "all_of", "groups", "metric", "window_days", "at_least",
    "developed", "developing", "level", "price_usd", "price_confirmed", "value_usd", "membership_level", "competency",
    "quantity",
}
NON_EMPTY_LISTS = {"options", "requirements", "any_of", "all_of", "groups"}


def entries(doc, kinds):
    """The mappings of these kinds (a requirement, a credential, …)."""
    return [(p, v) for p, v in walk(doc) if isinstance(v, dict) and context(p) in kinds]


def unknown_field(draw, doc):
    path, node = draw(st.sampled_from([(p, v) for p, v in walk(doc) if isinstance(v, dict)]))
    key = draw(TEXT.filter(lambda k: k.strip() and k not in KNOWN_FIELDS and k not in node))
    node[key] = draw(JUNK)
    return path_text(path)


def missing_field(draw, doc):
    path, node = draw(st.sampled_from(entries(doc, set(REQUIRED))))
    key = draw(st.sampled_from(REQUIRED[context(path)]))
    if draw(st.booleans()):
        del node[key]
    else:
        node[key] = draw(st.sampled_from([None, "", "   "])) if key not in ("levels",) else None
    return path_text(path)


def one_of_removed(draw, doc):
    """A certified_people requirement without its any_of/all_of/groups, or with two of them."""
    path, node = draw(st.sampled_from([(p, v) for p, v in entries(doc, {"requirement"})
                                       if v.get("kind") == "certified_people"]))
    given = [k for k in ("any_of", "all_of", "groups") if k in node]
    if draw(st.booleans()):
        for key in given:
            del node[key]
    else:
        extra = draw(st.sampled_from([k for k in ("any_of", "all_of", "groups") if k not in given]))
        node[extra] = [["70-533"]] if extra == "groups" else ["70-533"]
    return path_text(path)


def unknown_reference(draw, doc):
    codes = {c["code"] for c in doc["credentials"]}
    metrics = {m["slug"] for m in doc["metrics"]}
    competencies = {c["slug"] for center in doc["centers"] for c in center.get("competencies", [])}
    targets = [(p, "code") for p, v in walk(doc) if isinstance(v, str) and p and isinstance(p[-1], int)
               and {"any_of", "all_of", "groups"} & set(p)]
    targets += [(p, "metric") for p, v in entries(doc, {"requirement"}) if v.get("kind") == "metric"]
    targets += [(p, "competency") for p, v in entries(doc, {"benefit"}) if "competency" in v]
    path, what = draw(st.sampled_from(targets))
    taken = {"code": codes, "metric": metrics, "competency": competencies}[what]
    value = draw(WORD.filter(lambda w: w not in taken and w.strip() not in taken))
    if what == "code":
        get(doc, path[:-1])[path[-1]] = value
    else:
        get(doc, path)[what] = value
    return path_text(path)


NUMBER_LIMITS = {"count": 1, "window_days": 1, "valid_days": 1, "quantity": 0}


def bad_number(draw, doc):
    targets = [(p, k) for p, v in walk(doc) if isinstance(v, dict) for k in v if k in NUMBER_LIMITS]
    targets += [(p, k) for p, v in walk(doc) if isinstance(v, dict) for k in ("price_usd", "value_usd") if k in v]
    targets += [(p, "at_least") for p, v in entries(doc, {"requirement"}) if "at_least" in v]
    path, key = draw(st.sampled_from(targets))
    not_a_number = st.booleans() | TEXT | st.lists(st.integers(), max_size=2)
    if key in NUMBER_LIMITS:
        value = draw(st.integers(max_value=NUMBER_LIMITS[key] - 1) | st.floats(allow_nan=False).filter(
            lambda f: f != int(f) if abs(f) < 1e300 else True) | not_a_number)
    elif key == "at_least":
        market = WORD.filter(lambda w: w not in ("developed", "developing"))
        value = draw(st.floats(max_value=-0.01, allow_nan=False, allow_infinity=False) | st.integers(max_value=-1)
                     | TEXT | st.booleans() | st.just({})
                     | st.builds(lambda n: {"developing": n}, st.integers(0, 10**6))  # no figure for developed
                     | st.builds(lambda m, n: {"developed": 1, m: n}, market, st.integers(0, 9)))
    else:
        value = draw(st.floats(max_value=-0.01, allow_nan=False, allow_infinity=False) | st.integers(max_value=-1)
                     | st.integers(min_value=10**8) | st.sampled_from([0.001, 12.345, 1e9]) | not_a_number)
    get(doc, path)[key] = value
    return path_text((*path, key))


def bad_choice(draw, doc):
    targets = [(p, "kind") for p, _v in entries(doc, {"requirement"})]
    targets += [(p, "kind") for p, _v in entries(doc, {"credential"})]
    targets += [(p, "level") for p, _v in entries(doc, {"plan"})]
    targets += [(p, "membership_level") for p, v in entries(doc, {"benefit"}) if "membership_level" in v]
    targets += [(p, "level") for p, v in entries(doc, {"benefit"}) if "level" in v]
    targets += [(p, "levels") for p, _v in entries(doc, {"competency"})]
    path, key = draw(st.sampled_from(targets))
    node = get(doc, path)
    allowed = {"kind": {"certified_people", "metric", "exam", "assessment", "certification"},
               "levels": {"silver", "gold"}}.get(key, {"silver", "gold"})
    value = draw(TEXT.filter(lambda v: v not in allowed) | st.integers() | st.lists(TEXT, max_size=2))
    if key == "levels":
        level = draw(st.sampled_from(sorted(node["levels"])))
        renamed = value if isinstance(value, str) else str(value)
        if renamed in node["levels"] or renamed in allowed:
            renamed = "platinum"
        node["levels"][renamed] = node["levels"].pop(level)
    else:
        node[key] = value
    return path_text(path)


def bad_date(draw, doc):
    path, node = draw(st.sampled_from(entries(doc, {"credential"})))
    key = draw(st.sampled_from(["retired_on", "accepted_until"]))
    impossible = (st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(1, 9999), st.integers(13, 99),
                            st.integers(1, 28))
                  | st.sampled_from(["2017-02-30", "2018-04-31", "2019-00-10", "2017-12-32"]))
    node[key] = draw(impossible | TEXT.filter(lambda t: not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) and t != "")
                     | st.integers() | st.lists(TEXT, min_size=1, max_size=2))
    if key == "accepted_until" and "retired_on" not in node:
        pass  # a bad accepted_until is refused on its own
    return path_text(path)


def wrong_shape(draw, doc):
    """A list where a mapping belongs, a scalar where a list belongs, an empty list where one is needed."""
    lists = [(p, v) for p, v in walk(doc) if isinstance(v, list) and p]
    path, node = draw(st.sampled_from(lists))
    parent = get(doc, path[:-1])
    choice = draw(st.sampled_from(["scalar", "entry", "empty"]))
    if choice == "empty" and path[-1] in NON_EMPTY_LISTS:
        parent[path[-1]] = []
    elif choice == "entry" and node and isinstance(node[0], dict):
        not_a_mapping = SCALAR.filter(lambda v: v is not None) | st.lists(SCALAR, max_size=2)
        node[draw(st.integers(0, len(node) - 1))] = draw(not_a_mapping)
    else:
        not_a_list = (st.booleans() | st.integers() | TEXT.filter(bool)
                      | st.dictionaries(TEXT, SCALAR, min_size=1, max_size=2))
        parent[path[-1]] = draw(not_a_list)
    return path_text(path)


def duplicate(draw, doc):
    section = draw(st.sampled_from(["credentials", "metrics", "centers", "memberships", "benefits"]))
    doc[section].append(copy.deepcopy(draw(st.sampled_from(doc[section]))))
    return section


def refused_text(draw, doc):
    """A NUL (which PostgreSQL refuses in text) inside a name or title."""
    path, node = draw(st.sampled_from(entries(doc, {"credential", "metric", "center", "competency", "benefit"})))
    key = "title" if "title" in node else "name"
    text = draw(TEXT)
    at = draw(st.integers(0, len(text)))
    node[key] = text[:at] + "\x00" + text[at:]
    return path_text((*path, key))


def beyond_horizon(draw, doc):
    """A date the product refuses as a typo (competencies/dates.py): before 1990 or after 2069."""
    path, node = draw(st.sampled_from(entries(doc, {"credential"})))
    key = draw(st.sampled_from(["retired_on", "accepted_until"]))
    node[key] = draw(st.dates(max_value=EARLIEST_DAY - datetime.timedelta(days=1))
                     | st.dates(min_value=LATEST_DAY + datetime.timedelta(days=1))
                     | st.sampled_from([datetime.date(2099, 12, 31), datetime.date(9999, 12, 31)]))
    if key == "accepted_until":
        node.pop("retired_on", None)
    return path_text((*path, key))


FAMILIES = {
    "unknown field": unknown_field, "missing field": missing_field, "any_of/all_of/groups": one_of_removed,
    "unknown reference": unknown_reference, "number out of range": bad_number, "unknown choice": bad_choice,
    "bad date": bad_date, "wrong shape": wrong_shape, "duplicate": duplicate, "refused text": refused_text,
    "beyond the horizon": beyond_horizon,
}


def hostile_file(draw):
    """A catalog file that once crashed the loader (issue 19): (file name, bytes, where, family)."""
    doc = copy.deepcopy(CATALOG)
    kind = draw(st.sampled_from(["impossible yaml date", "deep", "duplicate json key", "not utf-8 with a line",
                                 "huge number"]))
    if kind == "impossible yaml date":
        day = draw(st.sampled_from(["2017-02-30", "2018-04-31", "2019-02-29", "2017-12-32"]))
        index = draw(st.integers(0, len(doc["credentials"]) - 1))
        key = draw(st.sampled_from(["retired_on", "accepted_until"]))
        doc["credentials"][index][key] = "DAY"
        text = yaml.safe_dump(doc, sort_keys=False).replace("DAY", day)  # a plain scalar: YAML reads a timestamp
        return "catalog.yaml", text.encode(), f"credentials[{index}].{key}", kind
    if kind == "deep":
        depth = draw(st.integers(MAX_DEPTH + 1, 5000) | st.just(100_000))
        doc["centers"][0]["description"] = "DEEP"
        deep = "[" * depth + '"x"' + "]" * depth  # written out: json and yaml would recurse to write it
        if draw(st.booleans()):
            return "catalog.json", as_json(doc).replace('"DEEP"', deep).encode(), f"deeper than {MAX_DEPTH}", kind
        return "catalog.yaml", yaml.safe_dump(doc).replace("DEEP", deep).encode(), f"deeper than {MAX_DEPTH}", kind
    if kind == "duplicate json key":
        section = draw(st.sampled_from(["credentials", "centers", "metrics"]))
        text = as_json(doc)
        return "catalog.json", ("{" + json.dumps(section) + ": [], " + text[1:]).encode(), "given twice", kind
    if kind == "huge number":
        doc["memberships"][0]["price_usd"] = "NUMBER"
        text = yaml.safe_dump(doc).replace("NUMBER", "9" * draw(st.integers(4301, 20000)))
        return "catalog.yaml", text.encode(), "", kind
    data = yaml.safe_dump(doc, allow_unicode=True).encode()
    lines = data.split(b"\n")
    line = draw(st.integers(0, len(lines) - 2))
    lines[line] += draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]))
    return "catalog.yaml", b"\n".join(lines), f"line {line + 1}, column ", kind


def as_json(doc) -> str:
    return json.dumps(doc, default=str, ensure_ascii=False)


@st.composite
def malformed_catalogs(draw):
    """(file name, bytes, where the error must point, family)."""
    family = draw(st.sampled_from([*FAMILIES, "syntax", "not a mapping", "hostile file"]))
    doc = copy.deepcopy(CATALOG)
    if family == "hostile file":
        return hostile_file(draw)
    if family == "syntax":
        kind = draw(st.sampled_from(["truncated json", "not utf-8", "duplicate key", "suffix"]))
        if kind == "truncated json":
            text = as_json(doc)
            return "catalog.json", text[: draw(st.integers(0, len(text) - 1))].encode(), "", family
        if kind == "not utf-8":
            data = yaml.safe_dump(doc, allow_unicode=True).encode()
            at = draw(st.integers(0, len(data)))
            invalid = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]))
            return "catalog.yaml", data[:at] + invalid + data[at:], "", family
        if kind == "duplicate key":
            section = draw(st.sampled_from(["credentials", "centers", "metrics"]))
            return "catalog.yaml", (yaml.safe_dump(doc) + f"{section}: []\n").encode(), "duplicate key", family
        suffix = draw(st.sampled_from(["txt", "xml", "yamll", "csv"]))
        return f"catalog.{suffix}", b"credentials: []\n", "unsupported file type", family
    if family == "not a mapping":
        value = draw(st.none() | st.lists(SCALAR, max_size=3) | SCALAR.filter(lambda v: v is not None))
        return "catalog.json", json.dumps(value).encode(), "", family
    where = FAMILIES[family](draw, doc)
    if draw(st.booleans()):
        return "catalog.yaml", yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode(), where, family
    return "catalog.json", as_json(doc).encode(), where, family


@given(case=malformed_catalogs())
def test_a_malformed_catalog_is_refused_whole_naming_the_bad_entry(populated, case):
    name, data, where, family = case
    path = populated / name
    path.write_bytes(data)
    before = database_snapshot()
    stderr = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("load_catalog", str(path), stdout=io.StringIO(), stderr=stderr)
    assert str(refused.value).startswith("catalog refused: ")
    lines = stderr.getvalue().splitlines()
    assert lines and all(line.startswith(f"{path}: ") and len(line) > len(f"{path}: ") for line in lines)
    assert any(where in line for line in lines), (where, lines)
    refused_and_unchanged(before)
    figures.count("bad_input.catalog_files")


# ---------------------------------------------------------------------------
# Activity records (JSON Lines)

REQUIRED_FIELDS = {
    "organization": ("mpn_id", "name"), "employee": ("email",), "credential": ("email", "code", "earned_on"),
    "association": ("email", "mpn_id", "on"), "disassociation": ("email", "on"),
    "metric": ("mpn_id", "metric", "period_end", "value"), "membership": ("mpn_id", "level", "purchased_on"),
    "override": ("mpn_id", "competency", "level", "starts_on", "reason"),
}
KNOWN_CODES = ("70-533", "70-534", "70-535", "AZ-FOUNDATIONS", "70-480", "AZ-900")
DATE_FIELDS = {"credential": ["earned_on"], "association": ["on"], "disassociation": ["on"], "metric": ["period_end"],
               "membership": ["purchased_on"], "override": ["starts_on"]}


def good_records(n: int) -> list[dict]:
    """Records that, alone, would write: a new organization, its people, their credentials and metrics."""
    mpn = f"5{n:06d}"
    email = f"person{n}@new.example"
    return [
        {"type": "organization", "mpn_id": mpn, "name": f"New Partner {n}", "country": "Chile"},
        {"type": "employee", "email": email, "name": f"Person {n}"},
        {"type": "association", "email": email, "mpn_id": mpn, "on": "2026-03-01"},
        {"type": "credential", "email": email, "code": "70-533", "earned_on": "2026-04-01"},
        {"type": "metric", "mpn_id": mpn, "metric": "azure_consumption_usd", "period_end": "2026-06-30", "value": 1200},
        {"type": "membership", "mpn_id": mpn, "level": "silver", "purchased_on": "2026-05-01"},
    ]


def valid_record(kind: str) -> dict:
    """One valid record of each type, on what the sample file created."""
    return {
        "organization": {"type": "organization", "mpn_id": "5999999", "name": "Another Partner"},
        "employee": {"type": "employee", "email": "someone@new.example"},
        "credential": {"type": "credential", "email": "ana.silva@contoso.example", "code": "70-533",
                       "earned_on": "2026-05-01"},
        "association": {"type": "association", "email": "ana.silva@contoso.example", "mpn_id": "7654321",
                        "on": "2026-10-01"},
        "disassociation": {"type": "disassociation", "email": "ana.silva@contoso.example", "on": "2026-10-01"},
        "metric": {"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-07-31",
                   "value": 10},
        "membership": {"type": "membership", "mpn_id": "7654321", "level": "gold", "purchased_on": "2026-06-01"},
        "override": {"type": "override", "mpn_id": "1234567", "competency": "cloud-platform", "level": "gold",
                     "starts_on": "2026-12-01", "reason": "Pending exam results"},
    }[kind]


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def not_an_email(value) -> bool:
    """The product's one rule (competencies/identity.py): fullwidth letters and a dotless ı still make an email."""
    try:
        canonical_email(value)
    except InvalidEmail:
        return True
    return False


def hostile_line(draw) -> str | bytes:
    """A line that once crashed the importer or passed unnoticed (issue 19)."""
    kind = draw(st.sampled_from(["refused text", "deep", "duplicate key", "beyond the horizon", "huge number",
                                 "not a number", "not utf-8"]))
    record = valid_record(draw(st.sampled_from(["organization", "employee", "override"])))
    field = {"organization": "name", "employee": "name", "override": "reason"}[record["type"]]
    if kind == "refused text":  # PostgreSQL refuses a NUL in text; psycopg cannot encode a lone surrogate
        text, bad = draw(TEXT), draw(st.sampled_from(["\x00", "\ud800", "\udfff"]))
        at = draw(st.integers(0, len(text)))
        record[field] = text[:at] + bad + text[at:]
        return json.dumps(record)  # escaped: \u0000, \ud800
    if kind == "deep":
        depth = draw(st.integers(MAX_DEPTH + 1, 5000) | st.just(100_000))
        return json.dumps(record)[:-1] + ', "extra": ' + "[" * depth + "1" + "]" * depth + "}"
    if kind == "duplicate key":  # a key the record already has, given again (Python's json keeps the last)
        key = draw(st.sampled_from(sorted(record)))
        return json.dumps(record)[:-1] + f", {json.dumps(key)}: {json.dumps(draw(TEXT))}}}"
    if kind == "beyond the horizon":
        record = valid_record(draw(st.sampled_from(sorted(DATE_FIELDS))))
        day = draw(st.dates(max_value=EARLIEST_DAY - datetime.timedelta(days=1))
                   | st.dates(min_value=LATEST_DAY + datetime.timedelta(days=1))
                   | st.sampled_from([datetime.date(2099, 1, 1), datetime.date(9999, 12, 31)]))
        record[DATE_FIELDS[record["type"]][0]] = day.isoformat()
        return json.dumps(record)
    if kind in ("huge number", "not a number"):
        record = valid_record("metric")
        value = "9" * draw(st.integers(4301, 20000)) if kind == "huge number" else draw(
            st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        return json.dumps(record).replace('"value": 10', f'"value": {value}')
    data = json.dumps(record, ensure_ascii=False).encode()
    at = draw(st.integers(1, len(data) - 1))
    return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])) + data[at:]


@st.composite
def bad_record(draw):
    """(line text, family): one line the importer must refuse."""
    family = draw(st.sampled_from(["not an object", "invalid json", "unknown type", "missing field", "bad date",
                                   "bad email", "bad mpn_id", "unknown reference", "bad value", "bad level",
                                   "association before the current one", "ends before it starts", "too long",
                                   "wrong type", "hostile"]))
    if family == "hostile":
        return hostile_line(draw), family
    kind = draw(st.sampled_from(sorted(REQUIRED_FIELDS)))
    record = valid_record(kind)
    if family == "not an object":
        return json.dumps(draw(st.lists(SCALAR, max_size=3) | SCALAR)), family
    if family == "invalid json":
        text = json.dumps(record)
        broken = text[: draw(st.integers(1, len(text) - 1))] + draw(st.sampled_from(["", "}", ",}", "]", "'"]))
        assume(not parses(broken))  # cut just before its last "}" and given one back: whole again
        return broken, family
    if family == "unknown type":
        choice = draw(st.sampled_from(["missing", "unknown", "not text"]))
        if choice == "missing":
            del record["type"]
        elif choice == "unknown":
            record["type"] = draw(TEXT.filter(lambda t: t not in REQUIRED_FIELDS))
        else:
            record["type"] = draw(st.integers() | st.lists(TEXT, max_size=2) | st.booleans())
    elif family == "missing field":
        name = draw(st.sampled_from(REQUIRED_FIELDS[kind]))
        if draw(st.booleans()):
            del record[name]
        else:
            record[name] = draw(st.sampled_from([None, ""]))
    elif family == "bad date":
        kind = draw(st.sampled_from(sorted(DATE_FIELDS)))
        record = valid_record(kind)
        name = draw(st.sampled_from(DATE_FIELDS[kind]))
        record[name] = draw(st.sampled_from(["2026-02-30", "2026-13-01", "26-01-01", "2026/01/01", "tomorrow"])
                            | TEXT.filter(lambda t: t and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t))
                            | st.integers() | st.lists(st.integers(), min_size=1, max_size=2))
    elif family == "bad email":
        kind = draw(st.sampled_from(["employee", "credential", "association", "disassociation"]))
        record = valid_record(kind)
        record["email"] = draw((TEXT | st.integers() | st.lists(TEXT, min_size=1, max_size=2)).filter(
            lambda v: v not in (None, "") and not_an_email(v)))
    elif family == "bad mpn_id":
        kind = draw(st.sampled_from(["organization", "association", "metric", "membership", "override"]))
        record = valid_record(kind)
        record["mpn_id"] = draw(TEXT.filter(lambda t: t and not re.fullmatch(r"[0-9]{1,20}", t))
                                | st.integers(max_value=-1) | st.floats(allow_nan=False, allow_infinity=False)
                                | st.lists(st.integers(), min_size=1, max_size=2))
    elif family == "unknown reference":
        kind = draw(st.sampled_from(["credential", "association", "disassociation", "metric", "membership",
                                     "override"]))
        record = valid_record(kind)
        field = draw(st.sampled_from([f for f in ("email", "mpn_id", "code", "metric", "competency") if f in record]))
        record[field] = {
            "email": draw(st.from_regex(r"[a-z]{1,12}@unknown\.example", fullmatch=True)),
            "mpn_id": draw(st.from_regex(r"9[0-9]{11}", fullmatch=True)),
            "code": draw(WORD.filter(lambda w: w.strip() not in KNOWN_CODES)),
            "metric": draw(WORD.filter(lambda w: w.strip() != "azure_consumption_usd")),
            "competency": draw(WORD.filter(lambda w: w.strip() not in ("cloud-platform", "application-development"))),
        }[field]
    elif family == "bad value":
        record = valid_record("metric")
        record["value"] = draw(st.integers(max_value=-1)
                               | st.floats(max_value=-0.001, allow_nan=False, allow_infinity=False)
                               | st.integers(min_value=10**16) | st.booleans()
                               | st.sampled_from(["NaN", "Infinity", "-1", "ten", "1e400", "1,000"])
                               | st.lists(st.integers(), min_size=1, max_size=2)
                               | st.dictionaries(TEXT, SCALAR, min_size=1, max_size=1))
    elif family == "bad level":
        record = valid_record(draw(st.sampled_from(["membership", "override"])))
        record["level"] = draw(TEXT.filter(lambda t: t not in ("", "silver", "gold")) | st.integers()
                               | st.lists(TEXT, min_size=1, max_size=1))
    elif family == "association before the current one":
        record = valid_record("association")
        record["on"] = draw(st.dates(datetime.date(2000, 1, 1), datetime.date(2026, 1, 4))).isoformat()
    elif family == "ends before it starts":
        if draw(st.booleans()):
            record = valid_record("credential")
            record["expires_on"] = draw(st.dates(datetime.date(2000, 1, 1), datetime.date(2026, 5, 1))).isoformat()
        else:
            record = valid_record("override")
            record["expires_on"] = draw(st.dates(datetime.date(2000, 1, 1), datetime.date(2026, 12, 1))).isoformat()
    elif family == "too long":
        kind = draw(st.sampled_from(["organization", "employee"]))
        record = valid_record(kind)
        record["name"] = "x" * draw(st.integers(201, 5000))
    elif family == "wrong type":
        kind = draw(st.sampled_from(["organization", "employee", "override"]))
        record = valid_record(kind)
        name = {"organization": draw(st.sampled_from(["name", "public_profile", "admins", "market"])),
                "employee": "name", "override": "reason"}[kind]
        record[name] = draw(st.integers() | st.lists(st.integers(), min_size=1, max_size=2)
                            | st.dictionaries(TEXT, st.integers(), min_size=1, max_size=1))
        if kind == "employee":
            record.setdefault("name", None)
    return json.dumps(record, ensure_ascii=draw(st.booleans())), family


@given(good=st.integers(0, 6), bad=st.lists(bad_record(), min_size=1, max_size=3), data=st.data())
def test_activity_with_a_bad_record_writes_nothing_and_names_every_bad_line(populated, good, bad, data):
    lines = [json.dumps(r) for n in range(good) for r in good_records(n)]
    bad_numbers = []
    for text, _family in bad:
        at = data.draw(st.integers(0, len(lines)))
        lines.insert(at, text)
        bad_numbers = [n + 1 if n >= at + 1 else n for n in bad_numbers] + [at + 1]
    path = populated / "activity.jsonl"
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    before = database_snapshot()
    stderr = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_activity", str(path), stdout=io.StringIO(), stderr=stderr)
    assert re.fullmatch(r"import refused: \d+ bad line\(s\) in .*, nothing written", str(refused.value))
    reported = {}
    for line in stderr.getvalue().splitlines():
        match = re.fullmatch(re.escape(str(path)) + r":(\d+): (.+)", line)
        assert match, line
        reported[int(match.group(1))] = match.group(2)
    assert set(bad_numbers) <= set(reported), (bad, reported)
    refused_and_unchanged(before)
    figures.count("bad_input.activity_files")
    figures.count("bad_input.activity_bad_records", len(bad))


# ---------------------------------------------------------------------------
# The files of issue 19, one by one: each once gave a traceback or passed unnoticed

EMPLOYEE = '{"type": "employee", "email": "ana.silva@contoso.example", "name": %s}'
ISSUE_LINES = [
    (EMPLOYEE % '"Ana\\u0000Silva"', "'name' holds a NUL character"),
    (EMPLOYEE % '"Ana\\ud800"', "'name' holds a lone surrogate"),
    (EMPLOYEE % ("[" * 100_000 + "]" * 100_000), f"nested deeper than {MAX_DEPTH} levels"),
    ('{"type": "employee", "email": "ana.silva@contoso.example", "email": "ben@contoso.example"}',
     "the key 'email' is given twice"),
    ('{"type": "employee", "email": "ana.silva@contoso.example", "email" : "ben@contoso.example"}',
     "the key 'email' is given twice"),
    ('{"type": "employee", "name": "Ana: Silva", "email": "ana.silva@contoso.example", "email": "ben@contoso.example"}',
     "the key 'email' is given twice"),
    ('{"type": "disassociation", "email": "ana.silva@contoso.example", "on": "2099-01-01"}', "is outside 1990-01-01"),
    ('{"type": "disassociation", "email": "ana.silva@contoso.example", "on": "9999-12-31"}', "is outside 1990-01-01"),
    ('{"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-07-31", '
     '"value": NaN}', "NaN is not a number"),
    ('{"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-07-31", '
     '"value": ' + "9" * 5000 + "}", "unreadable"),
    (b'{"type": "employee", "email": "ana.silva@contoso.example", "name": "Ana \xff"}',
     "not UTF-8 text (byte 0xff) (column 73)"),
]


@pytest.mark.parametrize("line, reason", ISSUE_LINES, ids=[reason for _line, reason in ISSUE_LINES])
def test_an_activity_line_of_the_issue_is_named_with_its_line_and_reason_and_nothing_is_written(populated, line,
                                                                                                  reason):
    good = json.dumps(good_records(1)[0]).encode()
    path = populated / "activity.jsonl"
    path.write_bytes(b"\n".join([good, line if isinstance(line, bytes) else line.encode(), good]) + b"\n")
    before = database_snapshot()
    stderr = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_activity", str(path), stdout=io.StringIO(), stderr=stderr)
    [reported] = stderr.getvalue().splitlines()
    assert reported.startswith(f"{path}:2: ") and reason in reported, reported
    refused_and_unchanged(before)


ISSUE_CATALOGS = [
    ("catalog.yaml", SMALL_CATALOG.read_text().replace("retired_on: 2017-12-31", "retired_on: 2017-02-30").encode(),
     "credentials[1].retired_on: must be a date (YYYY-MM-DD), not '2017-02-30'"),
    ("catalog.yaml", SMALL_CATALOG.read_text().replace("retired_on: 2017-12-31", "retired_on: 2099-12-31").encode(),
     "credentials[1].retired_on: is outside 1990-01-01 to 2069-12-31: 2099-12-31"),
    ("catalog.yaml", SMALL_CATALOG.read_text().replace("description: Web applications.",
                                                       "description: " + "[" * 5000 + "]" * 5000).encode(),
     f"nested deeper than {MAX_DEPTH} levels"),
    ("catalog.json", ("[" * 5000 + "]" * 5000).encode(), f"line 1, column {MAX_DEPTH + 1}: nested deeper than"),
    ("catalog.json", b'{"credentials": [], "credentials": []}', "the key 'credentials' is given twice"),
    ("catalog.json", b'{"credentials": [{"code": "X", "title": "A\\u0000B"}]}', "credentials[0].title: holds a NUL"),
    ("catalog.yaml", SMALL_CATALOG.read_bytes().replace(b"Web applications.", b"Web \xff applications."),
     "line 39, column 26: not UTF-8 text (byte 0xff)"),
]


@pytest.mark.parametrize("name, data, reason", ISSUE_CATALOGS, ids=[r for _n, _d, r in ISSUE_CATALOGS])
def test_a_catalog_of_the_issue_is_refused_naming_where_and_nothing_is_written(populated, name, data, reason):
    path = populated / name
    path.write_bytes(data)
    before = database_snapshot()
    stderr = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_catalog", str(path), stdout=io.StringIO(), stderr=stderr)
    assert any(line.startswith(f"{path}: ") and reason in line for line in stderr.getvalue().splitlines()), (
        stderr.getvalue())
    refused_and_unchanged(before)


# ---------------------------------------------------------------------------
# Form posts


@pytest.fixture
def site(populated):
    """Fabrikam (an admin, a member, a Silver member listed in the directory) and Northwind, another partner."""
    from competencies.statuses import statuses_refresh

    with time_machine.travel(NOW, tick=False):
        fabrikam = Organization.objects.get(mpn_id="1234567")
        fabrikam.description = "Azure consulting"
        fabrikam.save()
        admin = EmployeeFactory(email="alice@fabrikam.example", name="Alice Admin")
        AssociationFactory(employee=admin, organization=fabrikam, starts_on=datetime.date(2026, 2, 1))
        fabrikam.admins.add(admin)
        certified_employee(fabrikam, "70-533", starts_on=datetime.date(2026, 2, 1))
        certified_employee(fabrikam, "70-533", starts_on=datetime.date(2026, 2, 1))
        MembershipFactory(organization=fabrikam, level="silver", purchased_on=datetime.date(2026, 6, 1))
        statuses_refresh(organization_ids=[fabrikam.pk], day=NOW.date())
        northwind = OrganizationFactory(name="Northwind", mpn_id="2000002")
        agent = EmployeeFactory(email="ada@microsoft.example", is_staff=True)
        import importlib

        from django.apps import apps
        from django.contrib.auth.models import Group

        importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
        agent.groups.add(Group.objects.get(name="agent"))
    return {"fabrikam": fabrikam, "northwind": northwind, "admin": admin, "agent": agent}


def not_a_url(value: str) -> bool:
    try:
        URLValidator()(value.strip())
    except ValidationError:
        return True
    return False


def clear_error(response, *, status=400, words=("errorlist", 'class="banner error"', 'role="alert"')):
    body = response.content.decode()
    assert response.status_code == status, (response.status_code, body[:500])
    if status == 404:
        return
    assert any(w in body for w in words), body[:2000]


@st.composite
def bad_form(draw, site):
    """(who, method, url, data, expected status, family)."""
    fabrikam, northwind = site["fabrikam"], site["northwind"]
    family = draw(st.sampled_from(["another organization", "profile", "membership level", "redeem", "referral",
                                   "sign-in", "override"]))
    junk = draw(st.dictionaries(st.sampled_from(["level", "x", "page", "next"]), TEXT, max_size=2))
    if family == "another organization":
        action = draw(st.sampled_from(["dashboard:membership-buy", "dashboard:membership-renew",
                                       "dashboard:membership-upgrade", "dashboard:maps-buy", "dashboard:profile",
                                       "dashboard:associate"]))
        field = "mpn_id" if action == "dashboard:associate" else "organization"
        value = draw(st.sampled_from([northwind.mpn_id, str(northwind.pk), ""])
                     | TEXT.filter(lambda t: t != fabrikam.mpn_id))
        return "admin", reverse(action), {**junk, field: value}, 404, family
    if family == "profile":
        data = {"organization": fabrikam.mpn_id, "description": draw(TEXT), "country": draw(TEXT.map(lambda t: t[:80])),
                "website": draw(TEXT.filter(lambda t: t.strip() and not_a_url(t)))}
        if draw(st.booleans()):
            field = draw(st.sampled_from(["description", "country", "website"]))
            data[field] = "x" * {"description": 5001, "country": 81, "website": 201}[field] if field != "website" else \
                "https://" + "x" * 300 + ".example"
        if draw(st.booleans()):
            data["public_profile"] = draw(st.sampled_from(["on", "true", "1"]))
        return "admin", reverse("dashboard:profile"), data, 400, family
    if family == "membership level":
        action = draw(st.sampled_from(["dashboard:membership-buy", "dashboard:membership-renew"]))
        level = draw(TEXT.filter(lambda t: t not in ("silver", "gold", "")))
        return "admin", reverse(action), {"organization": fabrikam.mpn_id, "level": level}, 400, family
    if family == "redeem":
        # MAPS is bought, not redeemed (400); a benefit that does not exist is not found (404).
        slug = draw(st.just("maps") | st.from_regex(r"[a-z0-9-]{1,30}", fullmatch=True).filter(
            lambda s: s not in ("maps", "azure-credits-silver")))
        return "admin", reverse("dashboard:redeem", args=[slug]), {"organization": fabrikam.mpn_id}, \
            400 if slug == "maps" else 404, family
    if family == "referral":
        from memberships.forms import ReferralForm

        shown = NOW.timestamp()
        data = {"name": draw(TEXT), "email": draw(TEXT), "need": draw(TEXT), "started": ReferralForm.stamp(shown - 60)}
        broken = draw(st.sampled_from(["email", "name", "need", "started"]))
        data[broken] = {
            "email": draw(TEXT.filter(not_an_email)),
            "name": draw(st.sampled_from(["", "   ", "x" * 201])),
            "need": draw(st.sampled_from(["", "  ", "x" * 4001])),
            # forged, posted at once, or shown three days ago
            "started": draw(TEXT | st.just(ReferralForm.stamp(shown)) | st.just(ReferralForm.stamp(shown - 3 * 86400))),
        }[broken]
        return "anonymous", reverse("partner", args=[fabrikam.mpn_id]), data, 400, family
    if family == "sign-in":
        email = draw(TEXT | st.sampled_from(["alice@fabrikam.example", "ALICE@fabrikam.example"]))
        password = draw(TEXT.filter(lambda p: p != PASSWORD))
        return "anonymous", reverse("login"), {"username": email, "password": password}, 200, family
    # An agent's override in admin: a reason, a level, dates in order.
    data = {"organization": fabrikam.pk, "competency": draw(st.sampled_from(["1", "2"])), "level": "gold",
            "starts_on": "2026-11-23", "expires_on": "", "reason": "Exam results pending", "_preview": "Preview"}
    broken = draw(st.sampled_from(["reason", "level", "starts_on", "expires_on", "organization"]))
    data[broken] = {
        "reason": draw(st.sampled_from(["", "   "])),
        "level": draw(TEXT.filter(lambda t: t not in ("silver", "gold"))),
        "starts_on": draw(TEXT.filter(lambda t: not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t.strip()))),
        "expires_on": draw(st.sampled_from(["2026-11-23", "2026-11-01", "2026-02-30", "never"])),
        "organization": draw(st.sampled_from(["999999", "-1", "abc", ""])),
    }[broken]
    return "agent", reverse("admin:competencies_override_add"), data, 200, family


@given(data=st.data())
def test_a_malformed_form_post_gets_a_clear_error_and_changes_nothing(site, data):
    who, url, form, status, family = data.draw(bad_form(site))
    client = Client()
    if who != "anonymous":
        client.force_login(site[who])
    before = database_snapshot()
    with time_machine.travel(NOW, tick=False):
        response = client.post(url, form, REMOTE_ADDR=f"198.51.100.{data.draw(st.integers(1, 254))}")
    if any("\x00" in str(value) for value in form.values()):
        # A NUL, which PostgreSQL refuses in text, is refused before any form reads it (partnercenter/middleware.py).
        clear_error(response, status=400)
    elif family == "sign-in":
        body = response.content.decode()
        assert response.status_code in (200, 429)
        # The sign-in page's reason: wrong email or password, a field left empty or holding a null character, or
        # the lockout; never which of email and password was wrong.
        assert 'role="alert"' in body or "errorlist" in body, body[:2000]
        assert "_auth_user_id" not in client.session
    elif family == "referral" and response.status_code == 302:
        pytest.fail(f"a malformed referral was accepted: {form}")
    else:
        clear_error(response, status=status)
    refused_and_unchanged(before)
    figures.count("bad_input.form_posts")
