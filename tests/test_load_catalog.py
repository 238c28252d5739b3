"""`load_catalog`: validating, upserting and refusing catalog files (docs/design.md, "Catalog file")."""

import copy
import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from competencies.catalog import DEFAULT_CATALOG_PATH, load_catalog, load_catalog_file, parse_catalog
from competencies.catalog_checks import CatalogError
from competencies.catalog_file import read_catalog_file
from competencies.dates import years_after
from competencies.management.commands.load_catalog import Command as LoadCatalogCommand
from competencies.models import AttainmentOption, CenterOfExcellence, Competency, Credential, Metric, Requirement
from memberships.models import Benefit, MembershipPlan

from .factories import OrganizationFactory, certified_employee

SMALL = Path(__file__).parent / "data" / "catalog" / "small.yaml"
MODELS = [Credential, Metric, CenterOfExcellence, Competency, AttainmentOption, Requirement, MembershipPlan, Benefit]

CLOUD = "centers[0].competencies[0]"
CLOUD_SILVER = f"{CLOUD}.levels.silver.options"
CLOUD_GOLD = f"{CLOUD}.levels.gold.options"


def small() -> dict:
    """A fresh copy of the small test catalog, safe to change."""
    return copy.deepcopy(read_catalog_file(SMALL))


def cloud(doc: dict) -> dict:
    return doc["centers"][0]["competencies"][0]


def rows() -> dict:
    """Every catalog row, by model, as comparable values (ids included)."""
    return {model.__name__: sorted(model.objects.values_list(), key=str) for model in MODELS}


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


# --- Loading ----------------------------------------------------------------


@pytest.mark.django_db
def test_it_creates_every_row_of_the_catalog():
    counts = load_catalog_file(SMALL)

    assert counts["credentials"] == {"created": 5, "updated": 0, "unchanged": 0}
    assert counts["metrics"]["created"] == 1
    assert counts["centers"]["created"] == 2
    assert counts["competencies"]["created"] == 2
    assert counts["options"] == {"created": 4, "updated": 0, "unchanged": 0, "deleted": 0}
    assert counts["requirements"] == {"created": 6, "updated": 0, "unchanged": 0, "deleted": 0}
    assert counts["memberships"]["created"] == 2
    assert counts["benefits"]["created"] == 2

    exam = Credential.objects.get(code="70-535")
    assert (exam.kind, exam.title, exam.valid_days, exam.retired_on) == (
        "exam", "Architecting Microsoft Azure Solutions", 730, None
    )
    assert Credential.objects.get(code="AZ-FOUNDATIONS").kind == "assessment"
    assert Credential.objects.get(code="70-480").kind == "exam"  # the default kind

    centers = list(CenterOfExcellence.objects.order_by("position").values_list("slug", "name", "position"))
    assert centers == [("cloud", "Cloud platform", 0), ("appdev", "Application development", 1)]
    appdev = Competency.objects.get(slug="application-development")
    assert (appdev.center.slug, appdev.description, appdev.position) == ("appdev", "Web applications.", 0)

    options = list(
        AttainmentOption.objects.filter(competency__slug="cloud-platform")
        .order_by("level", "position")
        .values_list("level", "position", "name")
    )
    assert options == [
        ("gold", 0, "More people and consumption"),
        ("silver", 0, "Certified people and consumption"),
        ("silver", 1, "The same people, assessment and exam"),
    ]
    first = AttainmentOption.objects.get(competency__slug="cloud-platform", level="silver", position=0)
    assert list(first.requirements.order_by("position").values_list("kind", "position", "params")) == [
        ("certified_people", 0, {"count": 2, "any_of": ["70-533", "70-535"]}),
        ("metric", 1, {
            "metric": "azure_consumption_usd", "window_days": 365, "at_least": {"developed": 15000, "developing": 10000}
        }),
    ]
    groups = Requirement.objects.get(option__competency__slug="cloud-platform", option__level="silver", option__position=1)
    assert groups.params == {"count": 2, "groups": [["AZ-FOUNDATIONS"], ["70-533", "70-535"]]}

    assert {(p.level, p.price_usd, p.price_confirmed) for p in MembershipPlan.objects.all()} == {
        ("silver", Decimal("1670"), False),
        ("gold", Decimal("4730"), True),
    }
    maps = Benefit.objects.get(slug="maps")
    assert (maps.price_usd, maps.value_usd, maps.membership_level, maps.competency, maps.level) == (
        Decimal("475"), Decimal("20000"), "silver", None, ""
    )
    credits = Benefit.objects.get(slug="azure-credits-silver")
    assert (credits.competency.slug, credits.level, credits.quantity, credits.membership_level) == (
        "cloud-platform", "silver", 12, ""
    )


@pytest.mark.django_db
def test_it_accepts_a_retired_credential_until_one_year_after_its_retirement_by_default():
    doc = small()
    doc["credentials"].append({"code": "70-999", "title": "Kept", "retired_on": "2017-12-31", "accepted_until": "2018-06-30"})
    doc["credentials"].append({"code": "70-998", "title": "Leap", "retired_on": "2020-02-29"})
    load_catalog(data=doc, source="test")

    assert Credential.objects.get(code="70-534").accepted_until == datetime.date(2018, 12, 31)
    assert Credential.objects.get(code="70-999").accepted_until == datetime.date(2018, 6, 30)  # given: kept
    assert Credential.objects.get(code="70-998").accepted_until == datetime.date(2021, 2, 28)
    assert Credential.objects.get(code="70-533").accepted_until is None  # not retired: no limit


def test_a_year_after_a_leap_day_is_the_last_day_of_february():
    assert years_after(datetime.date(2017, 12, 31)) == datetime.date(2018, 12, 31)
    assert years_after(datetime.date(2020, 2, 29)) == datetime.date(2021, 2, 28)
    assert years_after(datetime.date(2020, 2, 28)) == datetime.date(2021, 2, 28)


@pytest.mark.django_db
def test_it_changes_nothing_when_the_same_catalog_is_loaded_twice():
    load_catalog_file(SMALL)
    before = rows()

    with CaptureQueriesContext(connection) as queries:
        counts = load_catalog_file(SMALL)

    assert writes(queries.captured_queries) == []
    assert rows() == before  # same ids, same values
    assert all(c["created"] == c["updated"] == c.get("deleted", 0) == 0 for c in counts.values())
    assert counts["requirements"]["unchanged"] == 6
    assert counts["options"]["unchanged"] == 4
    assert len(queries.captured_queries) <= 14  # a fixed number of reads, whatever the catalog's size


@pytest.mark.django_db
def test_it_updates_only_the_requirement_that_changed():
    load_catalog_file(SMALL)
    before = rows()
    changed = Requirement.objects.get(option__competency__slug="cloud-platform", option__level="gold", position=0)
    doc = small()
    cloud(doc)["levels"]["gold"]["options"][0]["requirements"][0]["count"] = 3

    with CaptureQueriesContext(connection) as queries:
        counts = load_catalog(data=doc, source="second.yaml")

    statements = writes(queries.captured_queries)
    assert len(statements) == 1
    assert statements[0].startswith('UPDATE "competencies_requirement"')
    assert counts["requirements"] == {"created": 0, "updated": 1, "unchanged": 5, "deleted": 0}
    assert counts["options"] == {"created": 0, "updated": 0, "unchanged": 4, "deleted": 0}
    changed.refresh_from_db()
    assert changed.params == {"count": 3, "all_of": ["70-533", "70-534"]}
    after = rows()
    assert {k: v for k, v in after.items() if k != "Requirement"} == {k: v for k, v in before.items() if k != "Requirement"}
    assert [r for r in after["Requirement"] if r[0] != changed.pk] == [r for r in before["Requirement"] if r[0] != changed.pk]


@pytest.mark.django_db
def test_it_adds_renames_and_removes_options_and_requirements_as_the_file_says():
    load_catalog_file(SMALL)
    kept = AttainmentOption.objects.get(competency__slug="cloud-platform", level="silver", position=0)
    doc = small()
    silver = cloud(doc)["levels"]["silver"]["options"]
    silver[0]["name"] = "People and consumption"
    silver[0]["requirements"].pop()  # the metric requirement goes
    silver.pop()  # the second silver option goes, with its requirement
    cloud(doc)["levels"]["gold"]["options"].append(
        {"name": "Assessment", "requirements": [{"kind": "certified_people", "count": 6, "any_of": ["AZ-FOUNDATIONS"]}]}
    )

    counts = load_catalog(data=doc, source="test")

    assert counts["options"] == {"created": 1, "updated": 1, "unchanged": 2, "deleted": 1}
    assert counts["requirements"] == {"created": 1, "updated": 0, "unchanged": 4, "deleted": 2}
    kept.refresh_from_db()  # matched by level and position: the same row, renamed
    assert kept.name == "People and consumption"
    assert list(kept.requirements.values_list("kind", flat=True)) == ["certified_people"]
    assert list(
        AttainmentOption.objects.filter(competency__slug="cloud-platform")
        .order_by("level", "position")
        .values_list("level", "name")
    ) == [("gold", "More people and consumption"), ("gold", "Assessment"), ("silver", "People and consumption")]
    assert Requirement.objects.get(option__name="Assessment").params == {"count": 6, "any_of": ["AZ-FOUNDATIONS"]}
    assert Requirement.objects.count() == 5


@pytest.mark.django_db
def test_it_upserts_by_code_and_slug_and_leaves_rows_the_file_no_longer_mentions():
    load_catalog_file(SMALL)
    ids = dict(Credential.objects.values_list("code", "pk"))
    doc = small()
    doc["credentials"][0]["title"] = "Implementing Azure Infrastructure"
    doc["credentials"] = [c for c in doc["credentials"] if c["code"] != "70-480"]
    doc["centers"].pop()  # Application development is no longer in the file
    doc["memberships"][1]["price_usd"] = 5000
    doc["benefits"][0]["price_usd"] = 500

    counts = load_catalog(data=doc, source="test")

    assert counts["credentials"] == {"created": 0, "updated": 1, "unchanged": 3}
    assert Credential.objects.get(code="70-533").title == "Implementing Azure Infrastructure"
    assert dict(Credential.objects.values_list("code", "pk")) == ids  # nothing deleted, ids kept
    assert Competency.objects.filter(slug="application-development").exists()
    assert AttainmentOption.objects.filter(competency__slug="application-development").count() == 1
    assert MembershipPlan.objects.get(level="gold").price_usd == Decimal("5000")
    assert Benefit.objects.get(slug="maps").price_usd == Decimal("500")
    assert counts["memberships"] == {"created": 0, "updated": 1, "unchanged": 1}


@pytest.mark.django_db
def test_it_moves_a_competency_to_another_center():
    load_catalog_file(SMALL)
    doc = small()
    moved = doc["centers"][1]["competencies"].pop()
    doc["centers"][0]["competencies"].append(moved)

    counts = load_catalog(data=doc, source="test")

    assert counts["competencies"] == {"created": 0, "updated": 1, "unchanged": 1}
    competency = Competency.objects.get(slug="application-development")
    assert (competency.center.slug, competency.position) == ("cloud", 1)


# --- Refusing a bad catalog -------------------------------------------------


def _set(path: list, value):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _cloud_req(level: str, option: int, req: int) -> list:
    return ["centers", 0, "competencies", 0, "levels", level, "options", option, "requirements", req]


def _rename_level(doc):
    levels = cloud(doc)["levels"]
    levels["platinum"] = levels.pop("gold")


def _append(section: str, entry: dict):
    return lambda doc: doc[section].append(entry)


def _drop(path: list, key: str):
    def change(doc):
        target = doc
        for step in path:
            target = target[step]
        del target[key]

    return change


BAD = [
    # (what is wrong, change to the small catalog, exact path, words of the message)
    ("unknown credential in any_of", _set(_cloud_req("silver", 0, 0) + ["any_of", 1], "70-999"),
     f"{CLOUD_SILVER}[0].requirements[0].any_of[1]", "unknown credential '70-999'"),
    ("unknown credential in a group", _set(_cloud_req("silver", 1, 0) + ["groups", 1, 0], "AZ-999"),
     f"{CLOUD_SILVER}[1].requirements[0].groups[1][0]", "unknown credential 'AZ-999'"),
    ("unknown credential in all_of", _set(_cloud_req("gold", 0, 0) + ["all_of", 0], "70-000"),
     f"{CLOUD_GOLD}[0].requirements[0].all_of[0]", "unknown credential '70-000'"),
    ("unknown level", _rename_level, f"{CLOUD}.levels.platinum", "unknown level 'platinum'"),
    ("unknown requirement kind", _set(_cloud_req("gold", 0, 1) + ["kind"], "customer_references"),
     f"{CLOUD_GOLD}[0].requirements[1].kind", "unknown requirement kind 'customer_references'"),
    ("negative count", _set(_cloud_req("gold", 0, 0) + ["count"], -1),
     f"{CLOUD_GOLD}[0].requirements[0].count", "whole number of at least 1"),
    ("fractional count", _set(_cloud_req("gold", 0, 0) + ["count"], 1.5),
     f"{CLOUD_GOLD}[0].requirements[0].count", "whole number of at least 1"),
    ("count as text", _set(_cloud_req("gold", 0, 0) + ["count"], "two"),
     f"{CLOUD_GOLD}[0].requirements[0].count", "whole number of at least 1"),
    ("two ways to qualify", _set(_cloud_req("silver", 0, 0) + ["all_of"], ["70-533"]),
     f"{CLOUD_SILVER}[0].requirements[0]", "exactly one of any_of, all_of, groups (got any_of, all_of)"),
    ("no way to qualify", _drop(_cloud_req("silver", 1, 0), "groups"),
     f"{CLOUD_SILVER}[1].requirements[0]", "exactly one of any_of, all_of, groups (got none)"),
    ("empty group", _set(_cloud_req("silver", 1, 0) + ["groups", 1], []),
     f"{CLOUD_SILVER}[1].requirements[0].groups[1]", "at least one credential code"),
    ("unknown metric", _set(_cloud_req("silver", 0, 1) + ["metric"], "azure_seats"),
     f"{CLOUD_SILVER}[0].requirements[1].metric", "unknown metric 'azure_seats'"),
    ("negative threshold", _set(_cloud_req("gold", 0, 1) + ["at_least"], -5),
     f"{CLOUD_GOLD}[0].requirements[1].at_least", "at least 0"),
    ("threshold as text", _set(_cloud_req("gold", 0, 1) + ["at_least"], "lots"),
     f"{CLOUD_GOLD}[0].requirements[1].at_least", "a number of at least 0 or a map by market"),
    ("unknown market", _set(_cloud_req("silver", 0, 1) + ["at_least", "emerging"], 5000),
     f"{CLOUD_SILVER}[0].requirements[1].at_least.emerging", "unknown market 'emerging'"),
    ("negative market threshold", _set(_cloud_req("silver", 0, 1) + ["at_least", "developing"], -1),
     f"{CLOUD_SILVER}[0].requirements[1].at_least.developing", "at least 0"),
    ("market map without developed", _set(_cloud_req("silver", 0, 1) + ["at_least"], {"developing": 10000}),
     f"{CLOUD_SILVER}[0].requirements[1].at_least.developed", "is required"),
    ("zero-day window", _set(_cloud_req("silver", 0, 1) + ["window_days"], 0),
     f"{CLOUD_SILVER}[0].requirements[1].window_days", "whole number of at least 1"),
    ("misspelt requirement field", _set(_cloud_req("silver", 0, 0) + ["any_off"], ["70-533"]),
     f"{CLOUD_SILVER}[0].requirements[0].any_off", "unknown field"),
    ("requirement without kind", _drop(_cloud_req("silver", 0, 0), "kind"),
     f"{CLOUD_SILVER}[0].requirements[0].kind", "is required"),
    ("option without requirements", _set(["centers", 0, "competencies", 0, "levels", "gold", "options", 0, "requirements"], []),
     f"{CLOUD_GOLD}[0].requirements", "needs at least one requirement"),
    ("level without options", _set(["centers", 0, "competencies", 0, "levels", "gold", "options"], []),
     f"{CLOUD}.levels.gold.options", "needs at least one option"),
    ("option without name", _drop(["centers", 0, "competencies", 0, "levels", "gold", "options", 0], "name"),
     f"{CLOUD_GOLD}[0].name", "is required"),
    ("competency without levels", _drop(["centers", 1, "competencies", 0], "levels"),
     "centers[1].competencies[0].levels", "is required"),
    ("bad date", _set(["credentials", 1, "retired_on"], "2017-13-01"),
     "credentials[1].retired_on", "must be a date (YYYY-MM-DD), not '2017-13-01'"),
    ("date in another format", _set(["credentials", 1, "retired_on"], "31/12/2017"),
     "credentials[1].retired_on", "must be a date (YYYY-MM-DD)"),
    ("date with a time", _set(["credentials", 1, "retired_on"], datetime.datetime(2017, 12, 31, 10, 0)),
     "credentials[1].retired_on", "must be a date (YYYY-MM-DD)"),
    ("accepted before retirement", _set(["credentials", 1, "accepted_until"], datetime.date(2017, 1, 1)),
     "credentials[1].accepted_until", "must not be before retired_on"),
    ("unknown credential kind", _set(["credentials", 0, "kind"], "course"),
     "credentials[0].kind", "unknown credential kind 'course'"),
    ("negative valid_days", _set(["credentials", 2, "valid_days"], -30),
     "credentials[2].valid_days", "whole number of at least 1"),
    ("credential without title", _drop(["credentials", 0], "title"), "credentials[0].title", "is required"),
    ("code that is a number", _append("credentials", {"code": 98361, "title": "Windows Operating System Fundamentals"}),
     "credentials[5].code", "must be text, not 98361 (quote it)"),
    ("duplicate credential code", _append("credentials", {"code": "70-533", "title": "Again"}),
     "credentials[5].code", "duplicate code '70-533' (first at credentials[0].code)"),
    ("duplicate metric slug", _append("metrics", {"slug": "azure_consumption_usd", "name": "Again"}),
     "metrics[1].slug", "duplicate slug 'azure_consumption_usd'"),
    ("duplicate center slug", _set(["centers", 1, "slug"], "cloud"), "centers[1].slug", "duplicate center slug 'cloud'"),
    ("duplicate competency slug", _set(["centers", 1, "competencies", 0, "slug"], "cloud-platform"),
     "centers[1].competencies[0].slug", "duplicate competency slug 'cloud-platform' (first at centers[0].competencies[0].slug)"),
    ("bad slug", _set(["centers", 1, "slug"], "app dev"), "centers[1].slug", "is not a slug"),
    ("duplicate membership level", _set(["memberships", 1, "level"], "silver"),
     "memberships[1].level", "duplicate membership level 'silver'"),
    ("unknown membership level", _set(["memberships", 0, "level"], "bronze"),
     "memberships[0].level", "unknown membership level 'bronze'"),
    ("negative membership price", _set(["memberships", 1, "price_usd"], -4730),
     "memberships[1].price_usd", "at least 0"),
    ("membership without price", _drop(["memberships", 1], "price_usd"), "memberships[1].price_usd", "is required"),
    ("negative benefit price", _set(["benefits", 0, "price_usd"], -1), "benefits[0].price_usd", "at least 0"),
    ("negative benefit quantity", _set(["benefits", 1, "quantity"], -1), "benefits[1].quantity", "at least 0"),
    ("benefit of an unknown competency", _set(["benefits", 1, "competency"], "cloud-crm"),
     "benefits[1].competency", "unknown competency 'cloud-crm'"),
    ("benefit entitled by nothing", _append("benefits", {"slug": "mug", "name": "A mug"}),
     "benefits[2]", "give either membership_level, or competency and level"),
    ("benefit entitled twice", _set(["benefits", 0, "competency"], "cloud-platform"),
     "benefits[0]", "not both"),
    ("benefit competency without level", _drop(["benefits", 1], "level"), "benefits[1].level", "is required with competency"),
    ("benefit of an unknown membership level", _set(["benefits", 0, "membership_level"], "platinum"),
     "benefits[0].membership_level", "unknown membership level 'platinum'"),
    ("duplicate benefit slug", _set(["benefits", 1, "slug"], "maps"), "benefits[1].slug", "duplicate benefit slug 'maps'"),
    ("limit without a period", _set(["benefits", 1, "limit"], 1), "benefits[1].per_period", "is required with limit"),
    ("period without a limit", _set(["benefits", 1, "per_period"], "month"), "benefits[1].limit",
     "is required with per_period"),
    ("unknown period", _set(["benefits", 1, "per_period"], "week"), "benefits[1].per_period", "unknown period 'week'"),
    ("limit of zero", lambda doc: doc["benefits"][1].update(per_period="month", limit=0), "benefits[1].limit",
     "at least 1"),
    ("limit above the quantity", lambda doc: doc["benefits"][1].update(per_period="term", limit=13), "benefits[1].limit",
     "must not exceed the quantity (12)"),
    ("limit without a quantity", lambda doc: doc["benefits"][1].update(per_period="month", limit=1, quantity=None),
     "benefits[1].quantity", "is required with per_period"),
    ("two offers with one name", _append("benefits", {"slug": "credits-2", "name": "Azure credits",
                                                      "membership_level": "gold", "quantity": 1}),
     "benefits[2].name", "name offers distinctly"),
    ("unknown section", _set(["partners"], []), "partners", "unknown field"),
    ("section that is not a list", _set(["benefits"], {"maps": 475}), "benefits", "must be a list, not a mapping"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("change, path, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_it_refuses_a_bad_catalog_with_the_exact_path_and_writes_nothing(change, path, words):
    doc = small()
    change(doc)

    with pytest.raises(CatalogError) as refused:
        load_catalog(data=doc, source="bad.yaml")

    assert len(refused.value.problems) == 1, refused.value.problems
    (got_path, message), = refused.value.problems
    assert got_path == path
    assert words in message
    assert str(refused.value) == f"bad.yaml: {path}: {message}"
    assert all(not rows for rows in rows().values())


def test_it_collects_every_problem_before_refusing():
    doc = small()
    cloud(doc)["levels"]["silver"]["options"][0]["requirements"][0]["count"] = -2
    cloud(doc)["levels"]["gold"]["options"][0]["requirements"][1]["metric"] = "nope"
    doc["credentials"][1]["retired_on"] = "soon"
    doc["benefits"][1]["competency"] = "nope"

    with pytest.raises(CatalogError) as refused:
        parse_catalog(doc)

    assert [path for path, _message in refused.value.problems] == [
        "credentials[1].retired_on",
        f"{CLOUD_SILVER}[0].requirements[0].count",
        f"{CLOUD_GOLD}[0].requirements[1].metric",
        "benefits[1].competency",
    ]
    assert len(str(refused.value).splitlines()) == 4


@pytest.mark.parametrize("document", [None, [], "credentials"])
def test_it_refuses_a_document_that_is_not_a_catalog(document):
    with pytest.raises(CatalogError) as refused:
        parse_catalog(document)
    assert refused.value.problems[0][0] == ""


def test_an_unknown_field_with_a_line_break_in_its_name_is_named_on_one_line():
    doc = small()
    cloud(doc)["bad\nkey\x1e"] = 1
    with pytest.raises(CatalogError) as refused:
        parse_catalog(doc)
    [line] = refused.value.lines()
    assert line.startswith(f'{CLOUD}."bad\\nkey\\u001e": unknown field') and len(line.splitlines()) == 1


@pytest.mark.django_db
def test_it_refuses_a_half_good_catalog_whole():
    load_catalog_file(SMALL)
    before = rows()
    doc = small()
    doc["credentials"].append({"code": "70-487", "title": "Developing Microsoft Azure and Web Services"})
    doc["credentials"][0]["title"] = "A new title"
    doc["centers"][1]["competencies"][0]["levels"]["silver"]["options"][0]["requirements"][0]["any_of"] = ["70-487"]
    doc["memberships"][1]["price_usd"] = 5000
    doc["benefits"][1]["competency"] = "unknown"  # the last entry of the file is the only bad one

    with CaptureQueriesContext(connection) as queries, pytest.raises(CatalogError) as refused:
        load_catalog(data=doc, source="half.yaml")

    assert refused.value.problems == [("benefits[1].competency", "unknown competency 'unknown'")]
    assert writes(queries.captured_queries) == []
    assert rows() == before


# --- Files ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_accepts_json(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(small(), default=str))

    counts = load_catalog_file(path)

    assert counts["competencies"]["created"] == 2
    assert Credential.objects.get(code="70-534").retired_on == datetime.date(2017, 12, 31)
    # The same catalog as YAML then changes nothing: JSON and YAML load the same rows.
    assert all(c["created"] == c["updated"] == 0 for c in load_catalog_file(SMALL).values())


def test_it_reports_a_yaml_syntax_error_with_its_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("credentials:\n  - {code: 70-533, title: Fine}\n  - {code: 70-534, title: [unclosed\nmetrics: []\n")

    with pytest.raises(CatalogError) as refused:
        read_catalog_file(path)

    (where, message), = refused.value.problems
    assert where.startswith("line 4,")
    assert str(refused.value).startswith(f"{path}: line 4, column ")


def test_it_reports_a_json_syntax_error_with_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "credentials": [\n    {"code": "70-533",}\n  ]\n}\n')

    with pytest.raises(CatalogError) as refused:
        read_catalog_file(path)

    assert refused.value.problems[0][0].startswith("line 3,")


def test_it_refuses_a_key_given_twice(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("credentials: []\nmetrics: []\ncredentials: []\n")

    with pytest.raises(CatalogError) as refused:
        read_catalog_file(path)

    (where, message), = refused.value.problems
    assert where.startswith("line 3,")
    assert "duplicate key 'credentials'" in message


def test_it_explains_an_unreadable_file(tmp_path):
    with pytest.raises(CatalogError) as missing:
        read_catalog_file(tmp_path / "missing.yaml")
    assert str(missing.value) == f"{tmp_path / 'missing.yaml'}: cannot read the file: No such file or directory"

    with pytest.raises(CatalogError) as wrong_type:
        read_catalog_file(tmp_path / "catalog.txt")
    assert "use .yaml, .yml or .json" in str(wrong_type.value)


# --- The command --------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_loads_a_file_and_prints_a_one_line_summary(capsys):
    call_command("load_catalog", str(SMALL))

    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith(f"Catalog {SMALL} loaded: credentials 5 created, 0 updated, 0 unchanged; ")
    assert Competency.objects.count() == 2


@pytest.mark.django_db
def test_the_command_prints_every_problem_and_fails_with_a_one_line_reason(tmp_path, capsys):
    doc = small()
    cloud(doc)["levels"]["gold"]["options"][0]["requirements"][0]["count"] = -1
    doc["memberships"][0]["level"] = "bronze"
    doc["benefits"][1]["competency"] = "nope"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))

    with pytest.raises(CommandError) as failed:
        call_command("load_catalog", str(path))

    assert str(failed.value) == "catalog refused: 3 problems"
    assert failed.value.returncode != 0
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: {CLOUD_GOLD}[0].requirements[0].count: must be a whole number of at least 1, not -1",
        f"{path}: memberships[0].level: unknown membership level 'bronze' (expected silver or gold)",
        f"{path}: benefits[1].competency: unknown competency 'nope'",
    ]
    assert Credential.objects.count() == 0


def test_the_command_exits_non_zero_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("credentials: [\n")

    with pytest.raises(SystemExit) as exited:
        # --skip-checks: the system checks would open the database, which this test never reaches.
        LoadCatalogCommand().run_from_argv(["manage.py", "load_catalog", "--skip-checks", str(path)])

    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert f"{path}: line " in err
    assert err.rstrip().splitlines()[-1] == "CommandError: catalog refused: 1 problem"


def test_the_command_has_help(capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("load_catalog", "--help")

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out and "load_catalog" in out and "[path]" in out


# --- The bundled default catalog ----------------------------------------------


@pytest.mark.django_db
def test_the_bundled_catalog_loads_cleanly_without_a_path(capsys):
    call_command("load_catalog")

    assert str(DEFAULT_CATALOG_PATH) in capsys.readouterr().out
    assert list(CenterOfExcellence.objects.order_by("position").values_list("name", flat=True)) == [
        "Application development", "Cloud platform", "Data management", "Business applications", "Mobility", "Productivity",
    ]
    by_center = {
        (c.center.name, c.name) for c in Competency.objects.select_related("center")
    }
    assert by_center == {
        ("Cloud platform", "Cloud Platform"),
        ("Application development", "Application Development"),
        ("Data management", "Data Platform"),
        ("Productivity", "Messaging"),
        ("Productivity", "Cloud Productivity"),
        ("Productivity", "Small and Midmarket Cloud Solutions"),
        ("Mobility", "Windows and Devices"),
        ("Business applications", "Cloud CRM"),
        ("Business applications", "ERP"),
        # the eight the 2017 program also had
        ("Application development", "Application Integration"),
        ("Application development", "DevOps"),
        ("Cloud platform", "Datacenter"),
        ("Data management", "Data Analytics"),
        ("Business applications", "Project and Portfolio Management"),
        ("Mobility", "Enterprise Mobility Management"),
        ("Productivity", "Collaboration and Content"),
        ("Productivity", "Communications"),
    }
    for competency in Competency.objects.exclude(slug="erp"):
        assert set(competency.options.values_list("level", flat=True)) == {"silver", "gold"}, competency.slug
    assert set(AttainmentOption.objects.filter(competency__slug="erp").values_list("level", flat=True)) == {"gold"}
    assert set(
        AttainmentOption.objects.filter(competency__slug="data-platform", level="silver").values_list("name", flat=True)
    ) == {"Big Data", "SQL Specialist, Database Administrator", "SQL Specialist, Developer"}

    maps = Benefit.objects.get(slug="maps")
    assert (maps.price_usd, maps.value_usd, maps.membership_level) == (Decimal("475"), Decimal("20000"), "silver")
    assert "10 Windows 10" in maps.description
    assert {(p.level, p.price_usd, p.price_confirmed) for p in MembershipPlan.objects.all()} == {
        ("silver", Decimal("1670"), False),
        ("gold", Decimal("4730"), True),
    }
    retired = Credential.objects.get(code="70-534")
    assert (retired.retired_on, retired.accepted_until) == (datetime.date(2017, 12, 31), datetime.date(2018, 12, 31))
    assert Credential.objects.get(code="70-533").title == "Implementing Microsoft Azure Infrastructure Solutions"
    codes = set(Credential.objects.values_list("code", flat=True))
    for code in ["70-532", "70-533", "70-534", "70-535", "70-473", "70-475", "70-480", "70-483", "70-486", "70-357",
                 "70-354", "70-355", "70-487", "70-764", "70-765", "70-762", "70-761", "70-347", "70-345", "70-346",
                 "MCSD-APP-BUILDER", "MCSE-PRODUCTIVITY", "MCSA-OFFICE-365"]:
        assert code in codes
    assert set(Credential.objects.filter(kind="assessment").values_list("code", flat=True)) == {
        "AZ-ASSESSMENT", "DP-FOUNDATIONS", "W10-DEPLOYMENT", "AI-ASSESSMENT", "EMS-ASSESSMENT"
    }
    cloud_silver = Requirement.objects.get(option__competency__slug="cloud-platform", option__level="silver", kind="metric")
    assert cloud_silver.params["at_least"] == {"developed": 15000, "developing": 10000}
    assert set(Requirement.objects.filter(kind="metric").values_list("params__window_days", flat=True)) == {365}


@pytest.mark.django_db
def test_the_bundled_catalog_loaded_twice_writes_nothing():
    load_catalog_file(DEFAULT_CATALOG_PATH)

    with CaptureQueriesContext(connection) as queries:
        load_catalog_file(DEFAULT_CATALOG_PATH)

    assert writes(queries.captured_queries) == []


@pytest.mark.django_db
def test_the_bundled_catalog_is_what_the_evaluation_engine_reads():
    """The requirement shapes the file uses are the ones the engine evaluates (Data Platform, Big Data option)."""
    from competencies.engine import evaluate

    load_catalog_file(DEFAULT_CATALOG_PATH)
    org = OrganizationFactory()
    certified_employee(org, "DP-FOUNDATIONS", "70-762")
    day = datetime.date(2026, 3, 1)
    data_platform = Competency.objects.get(slug="data-platform")

    assert evaluate(organization_ids=[org.pk], day=day)[(org.pk, data_platform.pk)].evaluated_level == "none"
    certified_employee(org, "DP-FOUNDATIONS", "70-764")  # the same two people: assessment and an exam each
    assert evaluate(organization_ids=[org.pk], day=day)[(org.pk, data_platform.pk)].evaluated_level == "silver"


def test_it_reads_a_json_catalog_that_starts_with_a_byte_order_mark(db, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(read_catalog_file(SMALL), default=str).encode())
    load_catalog_file(path)
    assert Credential.objects.filter(code="70-533").exists()
