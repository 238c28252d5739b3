"""The engine's batch path (`evaluate(details=False)`, what the nightly run and `statuses_refresh` use)
gives exactly what the detailed path gives, and the stored path writes what it computed, as written."""

from decimal import Decimal

import pytest

from competencies.batch import collector_paused, people_figure
from competencies.catalog import load_catalog
from competencies.catalog_checks import CatalogError, at, item
from competencies.engine import evaluate
from competencies.models import Competency, StatusChange
from competencies.requirement_kinds import REQUIREMENT_KINDS, RequirementKind
from competencies.results import RequirementResult
from competencies.statuses import statuses_refresh

from .common import DAY, D, people
from .factories import (
    AssociationFactory,
    EmployeeFactory,
    MetricValueFactory,
    OrganizationFactory,
    OverrideFactory,
    build_competency,
    certified_employee,
)

CONSUMPTION = {"kind": "metric", "metric": "azure_consumption_usd", "window_days": 365,
               "at_least": {"developed": 15000, "developing": 10000}}
USERS = {"kind": "metric", "metric": "office365_active_users", "window_days": 90, "at_least": 2000}


def comparable(result):
    """Everything a result without details says, in plain values."""
    return (
        result.evaluated_level,
        result.effective_level,
        result.override,
        result.met_option_id,
        result.summary(),
        [
            [(r.requirement_id, r.kind, r.met, r.have, r.need, r.unit, r.progress) for r in o.requirements]
            for o in result.options
        ],
    )


@pytest.fixture
def catalog(db):
    """Every shape of requirement: any_of, all_of, groups, a metric by market, a plain one, an unknown kind."""
    return [
        build_competency(
            "cloud",
            silver=[[people(1, any_of=["70-533", "70-535"]), CONSUMPTION], [people(2, groups=[["AZ-F"], ["70-533"]])]],
            gold=[[people(3, any_of=["70-533", "70-535"]), {**CONSUMPTION, "at_least": 40000}]],
        ),
        build_competency(
            "data", silver=[[people(1, all_of=["70-764", "70-765"])]], gold=[[people(2, all_of=["70-764", "70-765"])]]
        ),
        build_competency("office", silver=[[USERS]], gold=[[USERS, {"kind": "customer_references", "count": 3}]]),
    ]


@pytest.fixture
def partners(catalog):
    """Organizations around every threshold: members holding nothing, one group, every group, two markets."""
    orgs = []
    for i in range(12):
        org = OrganizationFactory(market="developing" if i % 3 == 0 else "developed")
        for _ in range(i % 4):
            certified_employee(org, "70-533", *(["AZ-F"] if i % 2 else []), *(["70-764", "70-765"] if i % 5 == 0 else []))
        if i % 4 == 1:
            certified_employee(org, "70-764")  # half of an all_of: nobody
        MetricValueFactory(organization=org, metric__slug="azure_consumption_usd", period_end=D - i * 20 * DAY,
                           value=Decimal(2500 * i) + Decimal("0.25"))
        MetricValueFactory(organization=org, metric__slug="office365_active_users", period_end=D - i * 10 * DAY,
                           value=Decimal(400 * i))
        orgs.append(org)
    AssociationFactory(employee=EmployeeFactory(), organization=orgs[0])  # a member holding nothing
    OverrideFactory(organization=orgs[1], competency=catalog[1], level="gold", starts_on=D - DAY, expires_on=D + DAY)
    return orgs


@pytest.mark.parametrize("day", [D - 100 * DAY, D - DAY, D, D + DAY, D + 200 * DAY])
def test_the_batch_path_says_what_the_detailed_path_says(partners, catalog, day):
    ids = [o.pk for o in partners]
    batch = evaluate(organization_ids=ids, day=day)
    detailed = evaluate(organization_ids=ids, day=day, details=True)
    assert batch.keys() == detailed.keys()
    assert {k: comparable(r) for k, r in batch.items()} == {k: comparable(r) for k, r in detailed.items()}
    # and the data set is not trivial: some levels, some not
    assert {r.evaluated_level for r in batch.values()} >= {"none", "silver"}


def test_organizations_with_the_same_figures_share_their_results(catalog):
    a, b = OrganizationFactory(), OrganizationFactory()
    certified_employee(a, "70-764", "70-765")
    certified_employee(b, "70-764", "70-765")
    results = evaluate(organization_ids=[a.pk, b.pk], day=D)
    data = catalog[1].pk
    assert results[(a.pk, data)].evaluated_level == "silver"
    assert results[(a.pk, data)].options is results[(b.pk, data)].options
    assert results[(a.pk, data)].organization_id == a.pk and results[(b.pk, data)].organization_id == b.pk


def test_a_catalog_with_a_kind_the_batch_path_does_not_know_is_evaluated_by_its_kind(db, monkeypatch):
    class Always(RequirementKind):
        def evaluate(self, req, facts, *, details):
            return RequirementResult(req.id, req.kind, bool(facts.members), len(facts.members), 1, "", 1.0)

    monkeypatch.setitem(REQUIREMENT_KINDS, "always", Always())
    competency = build_competency(silver=[[{"kind": "always"}]])
    org, empty = OrganizationFactory(), OrganizationFactory()
    certified_employee(org)
    results = evaluate(organization_ids=[org.pk, empty.pk], day=D)
    assert results[(org.pk, competency.pk)].evaluated_level == "silver"
    assert results[(empty.pk, competency.pk)].evaluated_level == "none"


class SomeoneCertified(RequirementKind):
    """Someone holds one of `codes`: a kind that takes the batch path, written as one class."""

    batchable = True

    def validate(self, entry, path, check, names):
        if check.mapping(entry, path, required=["kind", "codes"]) is not None:
            for i, code in enumerate(check.sequence(entry.get("codes"), at(path, "codes"), non_empty=True)):
                if code not in names.credentials:
                    check.problem(item(at(path, "codes"), i), f"unknown credential {code!r}")

    def credential_codes(self, params):
        return set(params["codes"])

    def compile(self, params, lookups):
        return frozenset(lookups.ids_by_code[c] for c in params["codes"] if c in lookups.ids_by_code)

    def credential_ids(self, compiled):
        return set(compiled)

    def figure(self, compiled):
        return people_figure([compiled])

    def batch_result(self, req, value, market):
        return RequirementResult(req.id, req.kind, value >= 1, value, 1, "people", float(min(value, 1)))

    def evaluate(self, req, facts, *, details):
        have = len(set().union(*[facts.holders.get(c, ()) for c in req.compiled]))
        return RequirementResult(req.id, req.kind, have >= 1, have, 1, "people", float(min(have, 1)))


def test_a_new_kind_is_one_class_the_loader_the_engine_and_the_batch_path_all_ask(db, monkeypatch):
    monkeypatch.setitem(REQUIREMENT_KINDS, "someone_certified", SomeoneCertified())
    requirement = {"kind": "someone_certified", "codes": ["70-533", "70-999"]}
    doc = {
        "credentials": [{"code": "70-533", "title": "Azure"}],
        "centers": [{"slug": "cloud", "name": "Cloud", "competencies": [
            {"slug": "cloud-platform", "name": "Cloud Platform", "levels": {"silver": {"options": [
                {"name": "Someone", "requirements": [requirement]},
            ]}}},
        ]}],
    }
    with pytest.raises(CatalogError) as refused:
        load_catalog(data=doc, source="test")
    path = "centers[0].competencies[0].levels.silver.options[0].requirements[0].codes[1]"
    assert refused.value.problems == [(path, "unknown credential '70-999'")]

    requirement["codes"] = ["70-533"]
    load_catalog(data=doc, source="test")
    cloud = Competency.objects.get(slug="cloud-platform")
    org, empty = OrganizationFactory(), OrganizationFactory()
    certified_employee(org, "70-533")
    batch = evaluate(organization_ids=[org.pk, empty.pk], day=D)
    detailed = evaluate(organization_ids=[org.pk, empty.pk], day=D, details=True)
    assert {k: comparable(r) for k, r in batch.items()} == {k: comparable(r) for k, r in detailed.items()}
    assert (batch[(org.pk, cloud.pk)].evaluated_level, batch[(empty.pk, cloud.pk)].evaluated_level) == ("silver", "none")


def test_the_garbage_collector_is_paused_only_inside_the_block():
    import gc

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer block resumes it
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_cause_is_stored_as_given_whatever_its_characters(catalog, partners):
    params = {"kind": "left", "employee_id": 7, "name": 'Jane "JD" O\'Neil \\ {north, south} — 张三, NULL', "day": D.isoformat()}
    statuses_refresh(organization_ids=[o.pk for o in partners], day=D, cause="other", cause_params=params)
    stored = list(StatusChange.objects.values_list("cause_params", flat=True))
    assert stored and all(p == params for p in stored)
