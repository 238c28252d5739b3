"""`import_activity`: the bulk, all-or-nothing JSON Lines importer (docs/interfaces.md, "Activity records")."""

import datetime
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from competencies import models as cm
from competencies.activity import ImportFailed, import_activity
from memberships.models import Membership

from .factories import (
    AssociationFactory,
    CompetencyFactory,
    CredentialFactory,
    EarnedCredentialFactory,
    EmployeeFactory,
    MetricFactory,
    MetricValueFactory,
    OrganizationFactory,
    OverrideFactory,
)

SAMPLE = Path(__file__).parent / "data" / "activity" / "sample.jsonl"
AGENT = "agent@microsoft.example"
D = datetime.date


@pytest.fixture
def catalog(db):
    """The catalog rows the records refer to, and an agent."""
    CredentialFactory(code="70-533")
    CredentialFactory(code="AZ-900", valid_days=365)
    MetricFactory(slug="azure_consumption_usd")
    CompetencyFactory(slug="cloud-platform")
    EmployeeFactory(email=AGENT, is_staff=True)
    EmployeeFactory(email="not.an.agent@microsoft.example")


def jsonl(*records):
    return [r if isinstance(r, str) else json.dumps(r) for r in records]


ANA = {"type": "employee", "email": "ana@contoso.example", "name": "Ana"}
CONTOSO = {"type": "organization", "mpn_id": "1234567", "name": "Contoso"}
FABRIKAM = {"type": "organization", "mpn_id": "7654321", "name": "Fabrikam"}


def associate(on, mpn_id="1234567", email="ana@contoso.example"):
    return {"type": "association", "email": email, "mpn_id": mpn_id, "on": on}


def leave(on, email="ana@contoso.example"):
    return {"type": "disassociation", "email": email, "on": on}


def metric(value, period_end="2026-06-30", mpn_id="1234567"):
    return {"type": "metric", "mpn_id": mpn_id, "metric": "azure_consumption_usd", "period_end": period_end, "value": value}


def override(starts_on, **extra):
    return {"type": "override", "mpn_id": "1234567", "competency": "cloud-platform", "level": "gold",
            "starts_on": starts_on, "reason": "Exam results delayed", **extra}


def counts():
    """Rows of every model of the project, many-to-many tables included."""
    models = [m for label in ("competencies", "memberships") for m in apps.get_app_config(label).get_models(include_auto_created=True)]
    return {m._meta.label: m.objects.count() for m in models}


def history(email="ana@contoso.example"):
    return list(
        cm.Association.objects.filter(employee__email=email)
        .order_by("starts_on", "pk")
        .values_list("organization__mpn_id", "starts_on", "ends_on")
    )


# --- What each record type creates, with its defaults


def test_it_creates_an_organization_with_the_default_market_and_public_profile(catalog):
    import_activity(lines=jsonl(ANA, {**CONTOSO, "admins": ["Ana@Contoso.example"]}))
    org = cm.Organization.objects.get(mpn_id="1234567")
    assert (org.name, org.market, org.public_profile, org.country, org.website) == ("Contoso", "developed", True, "", "")
    assert [a.email for a in org.admins.all()] == ["ana@contoso.example"]


def test_it_keeps_the_market_profile_and_marketing_fields_given(catalog):
    import_activity(lines=jsonl({
        **CONTOSO, "country": "Brazil", "market": "developing", "public_profile": False,
        "website": "https://contoso.example", "description": "Cloud partner",
    }))
    org = cm.Organization.objects.get(mpn_id="1234567")
    assert (org.country, org.market, org.public_profile, org.website, org.description) == (
        "Brazil", "developing", False, "https://contoso.example", "Cloud partner")


def test_it_accepts_an_mpn_id_written_as_a_json_number(catalog):
    import_activity(lines=jsonl({**CONTOSO, "mpn_id": 1234567}))
    assert cm.Organization.objects.filter(mpn_id="1234567").exists()


def test_it_creates_employees_with_a_lower_case_email_and_no_usable_password(catalog):
    import_activity(lines=jsonl({"type": "employee", "email": "Ana@Contoso.EXAMPLE", "name": "Ana", "mcp_id": "42"}))
    employee = cm.Employee.objects.get(email="ana@contoso.example")
    assert (employee.name, employee.mcp_id, employee.is_staff) == ("Ana", "42", False)
    assert not employee.has_usable_password()
    assert employee.date_joined is not None


def test_it_finds_an_existing_employee_whatever_the_case_of_the_email(catalog):
    existing = EmployeeFactory(email="ana@contoso.example", name="Old name")  # stored canonical (identity.py)
    import_activity(lines=jsonl(
        {"type": "employee", "email": "ANA@contoso.example", "name": "Ana"},
        {"type": "credential", "email": "ana@CONTOSO.example", "code": "70-533", "earned_on": "2026-01-10"},
    ))
    assert list(cm.Employee.objects.filter(name="Ana").values_list("pk", flat=True)) == [existing.pk]
    existing.refresh_from_db()
    assert existing.name == "Ana"
    assert existing.earned_credentials.count() == 1


def test_a_credential_expires_after_its_valid_days_or_never(catalog):
    import_activity(lines=jsonl(
        ANA,
        {"type": "credential", "email": "ana@contoso.example", "code": "AZ-900", "earned_on": "2026-01-10"},
        {"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-01-10"},
        {"type": "credential", "email": "ana@contoso.example", "code": "AZ-900", "earned_on": "2027-03-01",
         "expires_on": "2027-09-01"},
    ))
    rows = set(cm.EarnedCredential.objects.values_list("credential__code", "earned_on", "expires_on"))
    assert rows == {
        ("AZ-900", D(2026, 1, 10), D(2027, 1, 10)),  # 365 days later
        ("70-533", D(2026, 1, 10), None),
        ("AZ-900", D(2027, 3, 1), D(2027, 9, 1)),  # the record's own expiry wins
    }


def test_an_association_ends_the_previous_one_on_the_day(catalog):
    result = import_activity(lines=jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-01-01"), associate("2026-06-01", "7654321")))
    assert history() == [("1234567", D(2026, 1, 1), D(2026, 6, 1)), ("7654321", D(2026, 6, 1), None)]
    assert result.created["association"] == 2
    assert result.touched_organization_ids == set(cm.Organization.objects.values_list("pk", flat=True))


def test_an_association_ends_one_from_the_database_and_touches_both_organizations(catalog):
    employee = EmployeeFactory(email="ana@contoso.example")
    contoso, fabrikam = OrganizationFactory(mpn_id="1234567"), OrganizationFactory(mpn_id="7654321")
    AssociationFactory(employee=employee, organization=contoso, starts_on=D(2026, 1, 1))
    result = import_activity(lines=jsonl(associate("2026-06-01", "7654321")))
    assert history() == [("1234567", D(2026, 1, 1), D(2026, 6, 1)), ("7654321", D(2026, 6, 1), None)]
    assert result.touched_organization_ids == {contoso.pk, fabrikam.pk}


def test_an_association_may_start_on_the_day_the_current_one_started(catalog):
    import_activity(lines=jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-05-01"), associate("2026-05-01", "7654321")))
    assert history() == [("1234567", D(2026, 5, 1), D(2026, 5, 1)), ("7654321", D(2026, 5, 1), None)]


def test_an_association_with_the_current_organization_changes_nothing(catalog):
    result = import_activity(lines=jsonl(ANA, CONTOSO, associate("2026-01-01"), associate("2026-03-01")))
    assert history() == [("1234567", D(2026, 1, 1), None)]
    assert (result.created["association"], result.unchanged["association"]) == (1, 1)


def test_a_disassociation_ends_the_current_association_on_the_day(catalog):
    import_activity(lines=jsonl(ANA, CONTOSO, associate("2026-01-01")))
    result = import_activity(lines=jsonl(leave("2026-03-01")))
    assert history() == [("1234567", D(2026, 1, 1), D(2026, 3, 1))]
    assert result.touched_organization_ids == {cm.Organization.objects.get(mpn_id="1234567").pk}


def test_a_disassociation_on_the_day_the_association_started_is_accepted(catalog):
    import_activity(lines=jsonl(ANA, CONTOSO, associate("2026-01-01"), leave("2026-01-01")))
    assert history() == [("1234567", D(2026, 1, 1), D(2026, 1, 1))]


def test_a_credential_touches_the_organizations_the_employee_counts_for_from_its_day(catalog):
    import_activity(lines=jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-01-01"), associate("2026-06-01", "7654321")))
    fabrikam = cm.Organization.objects.get(mpn_id="7654321")
    late = import_activity(lines=jsonl({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-06-01"}))
    assert late.touched_organization_ids == {fabrikam.pk}  # the Contoso association ended on that day
    early = import_activity(lines=jsonl({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-05-31"}))
    assert early.touched_organization_ids == {fabrikam.pk, cm.Organization.objects.get(mpn_id="1234567").pk}


def test_a_second_metric_record_for_the_period_replaces_the_value(catalog):
    result = import_activity(lines=jsonl(CONTOSO, metric(100), metric(250.5), metric("75.25", period_end="2026-07-31")))
    assert dict(cm.MetricValue.objects.values_list("period_end", "value")) == {
        D(2026, 6, 30): Decimal("250.50"), D(2026, 7, 31): Decimal("75.25")}
    assert (result.created["metric"], result.updated["metric"]) == (2, 1)
    again = import_activity(lines=jsonl(metric(0)))
    assert cm.MetricValue.objects.get(period_end=D(2026, 6, 30)).value == 0
    assert again.updated["metric"] == 1
    assert again.touched_organization_ids == {cm.Organization.objects.get(mpn_id="1234567").pk}


def test_a_membership_is_a_one_year_term_from_the_purchase_day(catalog):
    import_activity(lines=jsonl(
        CONTOSO,
        {"type": "membership", "mpn_id": "1234567", "level": "silver", "purchased_on": "2024-02-29"},
        {"type": "membership", "mpn_id": "1234567", "level": "gold", "purchased_on": "2025-03-31"},
    ))
    rows = list(Membership.objects.order_by("starts_on").values_list("level", "purchased_on", "starts_on", "ends_on", "source"))
    assert rows == [
        ("silver", D(2024, 2, 29), D(2024, 2, 29), D(2025, 2, 28), "import"),  # 29 February: 28 February
        ("gold", D(2025, 3, 31), D(2025, 3, 31), D(2026, 3, 31), "import"),
    ]


def test_an_override_expires_three_calendar_months_later_and_is_audited(catalog):
    import_activity(lines=jsonl(CONTOSO, override("2026-11-30", agent=AGENT)))
    row = cm.Override.objects.get()
    assert (row.level, row.starts_on, row.expires_on, row.state) == ("gold", D(2026, 11, 30), D(2027, 2, 28), "active")
    assert (row.reason, row.created_by.email) == ("Exam results delayed", AGENT)
    audit = cm.OverrideAudit.objects.get()
    assert (audit.override, audit.action, audit.actor.email, audit.day) == (row, "apply", AGENT, D(2026, 11, 30))
    assert audit.new_values["expires_on"] == "2027-02-28"


def test_a_membership_already_stored_or_on_an_earlier_line_is_unchanged(catalog):
    membership = {"type": "membership", "mpn_id": "1234567", "level": "silver", "purchased_on": "2026-02-01"}
    first = import_activity(lines=jsonl(CONTOSO, membership, membership))
    assert (first.created["membership"], first.unchanged["membership"]) == (1, 1)
    again = import_activity(lines=jsonl(membership, {**membership, "level": "gold"}))
    assert (again.created["membership"], again.unchanged["membership"]) == (1, 1)
    assert Membership.objects.count() == 2
    assert again.summary().endswith("membership: 1 new, 0 updated, 1 unchanged)")


def test_the_membership_record_type_is_registered_by_the_memberships_app(db):
    from competencies.activity.records import REQUIRED, registered_types

    assert "membership" in [kind.name for kind in registered_types()]
    assert REQUIRED["membership"] == ("mpn_id", "level", "purchased_on")


def test_a_layer_above_cannot_register_one_of_the_importers_own_record_types():
    from competencies.activity.records import register_record_type

    with pytest.raises(ValueError, match="'employee' is one of the importer's own record types"):
        register_record_type("employee", record=tuple, required=("email",), parse=None, load=None, replay=None, write=None)


def test_an_override_keeps_the_end_given_and_needs_no_agent(catalog):
    import_activity(lines=jsonl(CONTOSO, override("2026-01-15", expires_on="2026-01-16")))
    row = cm.Override.objects.get()
    assert (row.expires_on, row.created_by) == (D(2026, 1, 16), None)
    assert cm.OverrideAudit.objects.get().actor is None


def test_an_override_after_an_expired_one_is_accepted(catalog):
    org = OrganizationFactory(mpn_id="1234567")
    OverrideFactory(organization=org, competency=cm.Competency.objects.get(), starts_on=D(2026, 1, 1),
                    expires_on=D(2026, 4, 1), state="expired")
    import_activity(lines=jsonl(override("2026-04-01")))
    states = list(cm.Override.objects.order_by("starts_on").values_list("starts_on", "state"))
    assert states == [(D(2026, 1, 1), "expired"), (D(2026, 4, 1), "active")]


def test_a_record_may_refer_to_what_earlier_lines_created(catalog):
    import_activity(lines=jsonl(
        ANA,
        {**CONTOSO, "admins": ["ana@contoso.example"]},
        associate("2026-01-01"),
        {"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-01-10"},
        metric(10),
        {"type": "membership", "mpn_id": "1234567", "level": "silver", "purchased_on": "2026-02-01"},
        override("2026-03-01"),
    ))
    org = cm.Organization.objects.get(mpn_id="1234567")
    assert org.admins.get().email == "ana@contoso.example"
    assert org.associations.get().employee.earned_credentials.count() == 1
    assert (org.metric_values.count(), org.memberships.count(), org.overrides.count()) == (1, 1, 1)


def test_the_sample_file_imports_every_record_type(catalog):
    result = import_activity(lines=SAMPLE.read_text().splitlines(), source=str(SAMPLE))
    assert result.records == 14
    assert dict(result.created) == {
        "employee": 2, "organization": 2, "association": 3, "credential": 2, "metric": 1, "membership": 1,
        "override": 1}
    assert (result.updated["metric"], result.updated["disassociation"]) == (1, 1)
    assert history("ben@contoso.example") == [
        ("1234567", D(2026, 1, 5), D(2026, 6, 1)), ("7654321", D(2026, 6, 1), D(2026, 9, 1))]
    assert len(result.touched_organization_ids) == 2


# --- Importing again


def test_importing_the_same_file_twice_adds_nothing(catalog):
    records = SAMPLE.read_text().splitlines()
    import_activity(lines=records)
    before = counts()
    with CaptureQueriesContext(connection) as queries:
        result = import_activity(lines=records)
    assert counts() == before
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "COPY"))]
    assert writes == []
    assert sum(result.created.values()) == sum(result.updated.values()) == 0
    assert sum(result.unchanged.values()) == 14
    assert result.touched_organization_ids == set()


def test_importing_again_after_the_employee_moved_on_adds_nothing(catalog):
    first = jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-01-01"), associate("2026-06-01", "7654321"), leave("2026-09-01"))
    import_activity(lines=first)
    import_activity(lines=jsonl(associate("2026-10-01")))  # a later file: back to Contoso
    before = history()
    result = import_activity(lines=first)
    assert history() == before
    assert sum(result.created.values()) == sum(result.updated.values()) == 0


def test_a_changed_organization_or_employee_is_updated_in_place(catalog):
    import_activity(lines=jsonl(ANA, CONTOSO, {**FABRIKAM, "description": "Keep"}))
    result = import_activity(lines=jsonl(
        {**ANA, "name": "Ana Silva", "mcp_id": "77"},
        {**CONTOSO, "market": "developing", "public_profile": False, "website": "https://contoso.example"},
        {**FABRIKAM, "name": "Fabrikam Ltd"},
    ))
    assert cm.Employee.objects.filter(email="ana@contoso.example").values_list("name", "mcp_id").get() == ("Ana Silva", "77")
    contoso = cm.Organization.objects.get(mpn_id="1234567")
    assert (contoso.name, contoso.market, contoso.public_profile, contoso.website) == (
        "Contoso", "developing", False, "https://contoso.example")
    fabrikam = cm.Organization.objects.get(mpn_id="7654321")
    assert (fabrikam.name, fabrikam.description) == ("Fabrikam Ltd", "Keep")  # fields not given are kept
    assert (result.updated["employee"], result.updated["organization"]) == (1, 2)
    assert result.touched_organization_ids == {contoso.pk}  # its market changed: its metric thresholds may differ


def test_a_value_changed_and_changed_back_in_one_file_is_not_written(catalog):
    import_activity(lines=jsonl(CONTOSO, metric(100)))
    with CaptureQueriesContext(connection) as queries:
        result = import_activity(lines=jsonl({**CONTOSO, "name": "X"}, {**CONTOSO, "name": "Contoso"}, metric(5), metric(100)))
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "COPY"))]
    assert (result.updated["organization"], result.unchanged["organization"]) == (0, 2)
    assert (result.updated["metric"], result.unchanged["metric"]) == (0, 2)
    assert result.touched_organization_ids == set()


# --- Bad records: every one named, nothing written

BAD = [
    ("not json", "invalid JSON"),
    ("[1, 2]", "a record must be a JSON object"),
    ({"type": "planet"}, "unknown type 'planet'"),
    ({"mpn_id": "1"}, "missing field 'type'"),
    ({"type": "organization", "mpn_id": "1"}, "missing field 'name'"),
    ({"type": "credential", "email": "ana@contoso.example"}, "missing fields 'code', 'earned_on'"),
    ({"type": "organization", "mpn_id": "12a", "name": "X"}, "'mpn_id' must be digits: '12a'"),
    ({"type": "organization", "mpn_id": "1", "name": "X", "market": "emerging"}, "unknown market 'emerging'"),
    ({"type": "organization", "mpn_id": "1", "name": "X", "public_profile": "yes"}, "'public_profile' must be true or false"),
    ({"type": "organization", "mpn_id": "1", "name": "X", "website": "contoso"}, "'website' is not a URL"),
    ({"type": "organization", "mpn_id": "1", "name": "X", "admins": ["nobody@x.example"]}, "unknown employee 'nobody@x.example'"),
    ({"type": "organization", "mpn_id": "1", "name": "X", "admins": 0}, "'admins' must be a list of emails"),
    ({"type": "organization", "mpn_id": "1", "name": "X", "admins": ""}, "'admins' must be a list of emails"),
    ({"type": "employee", "email": "not-an-email"}, "'email' is not an email address: 'not-an-email'"),
    ({"type": "credential", "email": "ghost@x.example", "code": "70-533", "earned_on": "2026-01-01"}, "unknown employee 'ghost@x.example'"),
    ({"type": "credential", "email": "ana@contoso.example", "code": "99-999", "earned_on": "2026-01-01"}, "unknown credential code '99-999'"),
    ({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-02-30"}, "'earned_on' is not a date (YYYY-MM-DD): '2026-02-30'"),
    ({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "01/02/2026"}, "'earned_on' is not a date"),
    ({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "20260101"}, "'earned_on' is not a date"),
    ({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-01-01", "expires_on": "2026-01-01"}, "'expires_on' (2026-01-01) must be after 'earned_on' (2026-01-01)"),
    (associate("2026-01-01", "999"), "unknown organization (mpn_id '999')"),
    (associate("2026-01-01", "99x"), "'mpn_id' must be digits"),
    (leave("2026-01-01"), "ana@contoso.example has no association to end"),
    (metric(1) | {"metric": "nope"}, "unknown metric 'nope'"),
    (metric(-1), "'value' must be a number >= 0: -1"),
    (metric("lots"), "'value' is not a number: 'lots'"),
    (metric(True), "'value' is not a number: True"),
    ({"type": "membership", "mpn_id": "1234567", "level": "platinum", "purchased_on": "2026-01-01"}, "unknown level 'platinum' (silver or gold)"),
    (override("2026-01-01") | {"competency": "nope"}, "unknown competency 'nope'"),
    (override("2026-01-01") | {"level": "none"}, "unknown level 'none'"),
    (override("2026-01-01") | {"expires_on": "2026-01-01"}, "'expires_on' (2026-01-01) must be after 'starts_on' (2026-01-01)"),
    (override("2026-01-01") | {"expires_on": "2025-12-31"}, "must be after 'starts_on'"),
    (override("2026-01-01") | {"reason": "  "}, "missing field 'reason'"),
    (override("2026-01-01") | {"agent": "ghost@microsoft.example"}, "unknown agent 'ghost@microsoft.example'"),
    (override("2026-01-01") | {"agent": "not.an.agent@microsoft.example"}, "'not.an.agent@microsoft.example' is not an agent (a staff account)"),
]


@pytest.mark.parametrize("record, reason", BAD, ids=[reason for _, reason in BAD])
def test_a_bad_record_is_named_with_its_line_and_nothing_is_written(catalog, record, reason):
    raw = record if isinstance(record, str) else json.dumps(record)
    before = counts()
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=[*jsonl(ANA, CONTOSO), raw, json.dumps(metric(5))], source="activity.jsonl")
    assert counts() == before
    assert len(failure.value.errors) == 1
    line, message = failure.value.errors[0]
    assert line == 3
    assert reason in message
    assert failure.value.lines() == [f"activity.jsonl:3: {message}"]


def test_every_bad_line_is_reported_with_its_own_number(catalog):
    before = counts()
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=[
            "{}",                                                              # 1
            json.dumps(ANA),                                                   # 2
            "",                                                                # 3: blank, skipped
            "oops",                                                            # 4
            json.dumps({"type": "employee"}),                                  # 5
            json.dumps(CONTOSO),                                               # 6
            json.dumps(associate("2026-01-01", "1111111")),                    # 7
            json.dumps(metric(-3)),                                            # 8
            json.dumps(associate("2026-01-01")),                               # 9: fine
        ])
    assert [line for line, _ in failure.value.errors] == [1, 4, 5, 7, 8]
    assert counts() == before


def test_an_association_before_the_current_one_is_refused_when_the_current_one_is_in_the_file(catalog):
    records = jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-05-01"), associate("2026-04-30", "7654321"))
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=records)
    assert failure.value.errors == [
        (5, "the association starts on 2026-04-30, before the employee's current one (with 1234567 since 2026-05-01)")
    ]
    assert not cm.Employee.objects.filter(email="ana@contoso.example").exists()


def test_an_association_before_the_current_one_is_refused_when_the_current_one_is_in_the_database(catalog):
    import_activity(lines=jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-05-01")))
    before = counts()
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(associate("2026-04-30", "7654321")))
    assert failure.value.errors[0][0] == 1
    assert "before the employee's current one (with 1234567 since 2026-05-01)" in failure.value.errors[0][1]
    assert counts() == before
    import_activity(lines=jsonl(associate("2026-05-02", "7654321")))  # the day after is fine
    assert history()[-1] == ("7654321", D(2026, 5, 2), None)


def test_it_refuses_an_association_before_the_employee_left_the_previous_one(catalog):
    """One organization at a time: Ana left Contoso on 1 March, so she cannot start at Fabrikam on 1 February."""
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-01-01"), leave("2026-03-01"),
                                    associate("2026-02-01", "7654321")))
    assert failure.value.errors == [
        (6, "the association starts on 2026-02-01, before the employee's previous one ended "
            "(with 1234567 until 2026-03-01)")
    ]
    import_activity(lines=jsonl(ANA, CONTOSO, FABRIKAM, associate("2026-01-01"), leave("2026-03-01"),
                                associate("2026-03-01", "7654321")))
    assert history() == [("1234567", D(2026, 1, 1), D(2026, 3, 1)), ("7654321", D(2026, 3, 1), None)]


def test_it_refuses_an_association_with_the_current_organization_before_the_current_one(catalog):
    """docs/interfaces.md: "an association that starts before the employee's current one" is an error, whichever organization."""
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(ANA, CONTOSO, associate("2026-05-01"), associate("2026-04-30")))
    assert failure.value.errors == [
        (4, "the association starts on 2026-04-30, before the employee's current one (with 1234567 since 2026-05-01)")
    ]


def test_it_refuses_a_credential_earned_once_it_was_retired(catalog):
    """docs/design.md: a retired credential is no longer earnable (from `retired_on`, the first day it no longer holds)."""
    CredentialFactory(code="70-534", retired_on=D(2017, 12, 31), accepted_until=D(2018, 12, 31))

    def earned(on):
        return {"type": "credential", "email": "ana@contoso.example", "code": "70-534", "earned_on": on}

    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(ANA, earned("2017-12-31"), earned("2018-03-01")))
    assert failure.value.errors == [
        (2, "credential '70-534' was retired on 2017-12-31: it cannot be earned on 2017-12-31"),
        (3, "credential '70-534' was retired on 2017-12-31: it cannot be earned on 2018-03-01"),
    ]
    import_activity(lines=jsonl(ANA, earned("2017-12-30")))  # the day before is fine
    assert cm.EarnedCredential.objects.get().earned_on == D(2017, 12, 30)


def test_a_disassociation_before_the_association_started_is_refused(catalog):
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(ANA, CONTOSO, associate("2026-05-01"), leave("2026-04-30")))
    assert failure.value.errors == [(4, "the association cannot end on 2026-04-30, before it started (2026-05-01)")]


def test_a_disassociation_of_someone_who_already_left_is_refused(catalog):
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(ANA, CONTOSO, associate("2026-01-01"), leave("2026-03-01"), leave("2026-04-01")))
    assert failure.value.errors == [(5, "ana@contoso.example has no association to end")]


def test_an_override_while_one_is_active_is_refused_as_the_service_refuses_it(catalog):
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(CONTOSO, override("2026-01-01"), override("2026-04-01")))
    assert failure.value.errors == [
        (3, "an active gold override of cloud-platform for 1234567 already runs from 2026-01-01 until 2026-04-01: "
            "it must expire (the nightly run) or be revoked first")
    ]
    import_activity(lines=jsonl(CONTOSO, override("2026-01-01")))
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl(override("2026-06-01")))
    assert failure.value.errors[0][0] == 1


def test_an_organization_with_a_bad_admin_does_not_make_later_lines_bad(catalog):
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=jsonl({**CONTOSO, "admins": ["ghost@x.example"]}, metric(5)))
    assert failure.value.errors == [(1, "unknown employee 'ghost@x.example'")]


def test_a_line_naming_what_neither_the_database_nor_an_earlier_line_holds_is_named_with_its_own_number(catalog):
    # Emails, codes, MPN IDs and slugs are looked up all at once (joined to the file's keys, on PostgreSQL),
    # yet each refusal names the line of its own record, and what a later line creates is unknown before it.
    EmployeeFactory(email="ben@contoso.example")
    OrganizationFactory(mpn_id="1234567")
    lines = jsonl(
        {"type": "credential", "email": "ben@contoso.example", "code": "AZ-900", "earned_on": "2026-01-02"},  # 1
        {"type": "credential", "email": "ana@contoso.example", "code": "AZ-900", "earned_on": "2026-01-02"},  # 2
        ANA,                                                                                                 # 3
        {"type": "credential", "email": "ana@contoso.example", "code": "AZ-999", "earned_on": "2026-01-02"},  # 4
        associate("2026-01-01", "7654321"),                                                                  # 5
        FABRIKAM,                                                                                            # 6
        associate("2026-01-01", "7654321", "ben@contoso.example"),                                           # 7
        {**metric(5), "metric": "no_such_metric"},                                                           # 8
        override("2026-01-01", competency="no-such-competency"),                                             # 9
        {"type": "credential", "email": "cyd@contoso.example", "code": "70-533", "earned_on": "2026-01-02"},  # 10
    )
    before = counts()
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=lines, source="activity.jsonl")
    assert failure.value.lines() == [
        "activity.jsonl:2: unknown employee 'ana@contoso.example'",
        "activity.jsonl:4: unknown credential code 'AZ-999'",
        "activity.jsonl:5: unknown organization (mpn_id '7654321')",
        "activity.jsonl:8: unknown metric 'no_such_metric'",
        "activity.jsonl:9: unknown competency 'no-such-competency'",
        "activity.jsonl:10: unknown employee 'cyd@contoso.example'",
    ]
    assert counts() == before


@pytest.fixture
def racing_metric_value(catalog, monkeypatch):
    """Another process stores the file's metric value between the check and the write: the write of metric
    values fails after employees, organizations, credentials and associations were copied."""
    from competencies.activity.batch import Batch

    org = OrganizationFactory(mpn_id="1234567")
    load = Batch.load

    def load_then_race(self, records):
        load(self, records)
        MetricValueFactory(organization=org, metric=cm.Metric.objects.get(), period_end=D(2026, 6, 30), value=1)

    monkeypatch.setattr(Batch, "load", load_then_race)
    return jsonl(ANA, FABRIKAM, associate("2026-01-01", "7654321"),
                 {"type": "credential", "email": "ana@contoso.example", "code": "AZ-900", "earned_on": "2026-01-02"},
                 metric(7))


def test_a_write_failing_half_way_leaves_nothing_written(racing_metric_value):
    before = counts()
    with pytest.raises(IntegrityError):  # Django's, from COPY as from any statement
        import_activity(lines=racing_metric_value)
    assert counts() == {**before, "competencies.MetricValue": before["competencies.MetricValue"] + 1}
    assert not cm.Employee.objects.filter(email="ana@contoso.example").exists()
    assert cm.MetricValue.objects.get().value == 1


def test_the_command_reports_a_write_failing_half_way_in_one_line(racing_metric_value, tmp_path):
    path = tmp_path / "activity.jsonl"
    path.write_text("\n".join(racing_metric_value) + "\n")
    with pytest.raises(CommandError) as failure:
        call_command("import_activity", str(path), stdout=io.StringIO())
    message = str(failure.value)
    assert message.startswith("import refused: the database changed during the import (")
    assert message.endswith("), nothing written; run it again") and "\n" not in message
    assert not cm.Employee.objects.filter(email="ana@contoso.example").exists()


def test_the_database_rows_in_the_way_are_left_alone_on_failure(catalog):
    employee = EmployeeFactory(email="ana@contoso.example")
    org = OrganizationFactory(mpn_id="1234567", name="Contoso")
    AssociationFactory(employee=employee, organization=org, starts_on=D(2026, 1, 1))
    EarnedCredentialFactory(employee=employee, credential=cm.Credential.objects.get(code="70-533"))
    MetricValueFactory(organization=org, metric=cm.Metric.objects.get(), period_end=D(2026, 6, 30), value=1)
    before = counts()
    with pytest.raises(ImportFailed):
        import_activity(lines=jsonl(
            {**CONTOSO, "name": "Renamed"}, FABRIKAM, associate("2026-06-01", "7654321"), metric(99), "bad"))
    assert counts() == before
    assert history() == [("1234567", D(2026, 1, 1), None)]
    assert cm.Organization.objects.get(pk=org.pk).name == "Contoso"
    assert cm.MetricValue.objects.get().value == 1


@pytest.mark.parametrize("bad", [False, True], ids=["writing", "refusing"])
def test_the_queries_do_not_grow_with_the_number_of_records(catalog, bad):
    for i in range(60):
        CompetencyFactory(slug=f"c{i}")

    def queries_for(n, mpn_id):
        emails = [f"p{i}.{mpn_id}@x.example" for i in range(n)]
        records = [{"type": "employee", "email": email} for email in emails]
        records.append({**CONTOSO, "mpn_id": mpn_id, "admins": emails[:3]})
        records += [associate("2026-01-01", mpn_id, email) for email in emails]
        records += [{"type": "credential", "email": e, "code": "AZ-900", "earned_on": "2026-01-02"} for e in emails]
        records += [metric(i, period_end=f"2026-01-{i % 28 + 1:02d}", mpn_id=mpn_id) for i in range(n)]
        records += [{"type": "membership", "mpn_id": mpn_id, "level": "silver", "purchased_on": f"2025-01-{i % 28 + 1:02d}"}
                    for i in range(n)]
        records += [override(f"2026-01-{i % 28 + 1:02d}") | {"mpn_id": mpn_id, "competency": f"c{i}"} for i in range(n)]
        records += [leave("2026-02-01", email) for email in emails]
        with CaptureQueriesContext(connection) as queries:
            if bad:
                with pytest.raises(ImportFailed):
                    import_activity(lines=jsonl(*records, "bad"))
            else:
                import_activity(lines=jsonl(*records))
        return len(queries)

    assert queries_for(5, "1") == queries_for(60, "2")


# --- The command


def test_the_command_prints_path_line_reason_on_stderr_and_writes_nothing(catalog, tmp_path):
    path = tmp_path / "activity.jsonl"
    path.write_text("\n".join(jsonl(
        ANA, {"type": "credential", "email": "ana@contoso.example", "code": "XX", "earned_on": "2026-01-01"},
        CONTOSO, "{", associate("2026-13-01"))) + "\n")
    err, out = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"^import refused: 3 bad line\(s\) in .*activity.jsonl, nothing written$"):
        call_command("import_activity", str(path), stderr=err, stdout=out)
    assert err.getvalue().splitlines() == [
        f"{path}:2: unknown credential code 'XX'",
        f"{path}:4: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:5: 'on' is not a date (YYYY-MM-DD): '2026-13-01'",
    ]
    assert out.getvalue() == ""
    assert not cm.Employee.objects.filter(email="ana@contoso.example").exists()


def test_the_command_exits_non_zero_on_a_bad_file_and_zero_on_a_good_one(catalog, tmp_path, capsys, call_command_from_argv):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n")
    with pytest.raises(SystemExit) as exit_:
        call_command_from_argv("import_activity", str(bad))
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert f"{bad}:1: invalid JSON" in captured.err
    assert "CommandError: import refused: 1 bad line(s)" in captured.err
    call_command_from_argv("import_activity", str(SAMPLE))  # returns normally: exit status 0
    assert "14 records imported" in capsys.readouterr().out


@pytest.fixture
def call_command_from_argv(monkeypatch):
    """As `manage.py` runs a command: a `CommandError` becomes the exit status."""
    from django.db import connections

    from competencies.management.commands.import_activity import Command

    # `run_from_argv` closes the connections when done; the test database must stay open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    return lambda *argv: Command().run_from_argv(["manage.py", *argv])


def test_the_command_reports_a_database_changed_under_it_in_one_line(catalog, monkeypatch):
    from django.db import IntegrityError

    from competencies.activity import writing

    def write(batch):
        raise IntegrityError('duplicate key value violates unique constraint "employee_email_ci_unique"\nDETAIL: ...')

    monkeypatch.setattr(writing, "write", write)
    with pytest.raises(CommandError) as failure:
        call_command("import_activity", str(SAMPLE), stdout=io.StringIO())
    assert str(failure.value) == (
        "import refused: the database changed during the import (duplicate key value violates unique constraint "
        '"employee_email_ci_unique"), nothing written; run it again'
    )


def test_the_command_refuses_a_missing_file(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read .*missing.jsonl"):
        call_command("import_activity", str(tmp_path / "missing.jsonl"))


def test_the_command_reads_stdin_with_a_dash(catalog, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(SAMPLE.read_text()))
    out = io.StringIO()
    call_command("import_activity", "-", stdout=out)
    assert out.getvalue().startswith("14 records imported (organization: 2 new, 0 updated, 0 unchanged; employee: 2 new")
    assert cm.Organization.objects.filter(mpn_id__in=["1234567", "7654321"]).count() == 2


def test_the_command_names_stdin_as_a_dash_in_errors(catalog, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n" + json.dumps({"type": "employee"}) + "\n"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 bad line"):
        call_command("import_activity", "-", stderr=err)
    assert err.getvalue().strip() == "-:2: missing field 'email'"


def test_the_command_has_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        call_command("import_activity", "--help")
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert "JSON Lines" in help_text and "PATH:LINE: reason" in help_text


def test_the_command_re_evaluates_the_organizations_it_touched(catalog, django_capture_on_commit_callbacks, tmp_path):
    from .factories import OptionFactory, RequirementFactory

    option = OptionFactory(competency=cm.Competency.objects.get(slug="cloud-platform"), level="silver")
    RequirementFactory(option=option, params={"count": 1, "any_of": ["70-533"]})
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(jsonl(
        ANA, CONTOSO, associate("2026-01-01"),
        {"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-01-10"},
    )))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_activity", str(path), stdout=io.StringIO())
    status = cm.CompetencyStatus.objects.get(organization__mpn_id="1234567")
    assert status.effective_level == "silver"


def test_it_reads_a_file_that_starts_with_a_byte_order_mark(catalog, tmp_path):
    path = tmp_path / "with-bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    out = io.StringIO()
    call_command("import_activity", str(path), stdout=out)
    assert out.getvalue().startswith("14 records imported")


def test_it_reads_stdin_that_starts_with_a_byte_order_mark(catalog, monkeypatch):
    raw = io.BytesIO(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(raw, encoding="latin-1"))  # the command re-reads its bytes
    out = io.StringIO()
    call_command("import_activity", "-", stdout=out)
    assert out.getvalue().startswith("14 records imported")


def test_it_marks_the_forecast_of_what_it_changed_in_its_own_transaction(catalog):
    OrganizationFactory()  # an organization the import does not touch: not marked
    import_activity(lines=jsonl(ANA, CONTOSO, associate("2026-06-01"), metric(600)))
    contoso = cm.Organization.objects.get(mpn_id="1234567")
    # Marked by the import itself, before any re-evaluation is queued (the command queues it after).
    assert list(cm.ForecastPending.objects.values_list("organization_id", flat=True)) == [contoso.pk]
