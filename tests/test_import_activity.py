import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from competencies import models as cm
from competencies.importer import ImportFailed, import_activity
from memberships.models import Membership

from .factories import CompetencyFactory, CredentialFactory, EmployeeFactory, MetricFactory


@pytest.fixture
def catalog(db):
    CredentialFactory(code="70-533")
    CredentialFactory(code="AZ-900", valid_days=365)
    MetricFactory(slug="azure_consumption_usd")
    CompetencyFactory(slug="cloud-platform")
    EmployeeFactory(email="agent@partnercenter.example", is_staff=True)


def lines(*records):
    return [json.dumps(r) for r in records]


ORG = {"type": "organization", "mpn_id": "1234567", "name": "Contoso"}
ANA = {"type": "employee", "email": "Ana@Contoso.example", "name": "Ana"}


def counts():
    models = [cm.Employee, cm.Organization, cm.EarnedCredential, cm.Association, cm.MetricValue, cm.Override,
              cm.OverrideAudit, Membership, cm.Organization.admins.through]
    return {m.__name__: m.objects.count() for m in models}


def test_it_creates_organizations_with_defaults_and_admins(catalog):
    import_activity(lines=lines(ANA, {**ORG, "admins": ["ana@contoso.example"]}))
    org = cm.Organization.objects.get(mpn_id="1234567")
    assert (org.market, org.public_profile, org.country) == ("developed", True, "")
    assert [a.email for a in org.admins.all()] == ["ana@contoso.example"]


def test_it_creates_employees_with_lower_case_email(catalog):
    import_activity(lines=lines(ANA))
    employee = cm.Employee.objects.get(email="ana@contoso.example")
    assert employee.name == "Ana" and not employee.has_usable_password()


def test_credential_expiry_defaults_to_valid_days(catalog):
    import_activity(lines=lines(
        ANA,
        {"type": "credential", "email": "ana@contoso.example", "code": "AZ-900", "earned_on": "2026-01-10"},
        {"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-01-10"},
    ))
    by_code = {e.credential.code: e for e in cm.EarnedCredential.objects.select_related("credential")}
    assert by_code["AZ-900"].expires_on == datetime.date(2027, 1, 10)
    assert by_code["70-533"].expires_on is None


def test_an_association_ends_the_previous_one_on_the_day(catalog):
    import_activity(lines=lines(
        ANA, ORG, {**ORG, "mpn_id": "7654321", "name": "Fabrikam"},
        {"type": "association", "email": "ana@contoso.example", "mpn_id": "1234567", "on": "2026-01-01"},
        {"type": "association", "email": "ana@contoso.example", "mpn_id": "7654321", "on": "2026-06-01"},
    ))
    rows = list(cm.Association.objects.order_by("starts_on").values_list("organization__mpn_id", "starts_on", "ends_on"))
    assert rows == [
        ("1234567", datetime.date(2026, 1, 1), datetime.date(2026, 6, 1)),
        ("7654321", datetime.date(2026, 6, 1), None),
    ]


def test_a_later_import_ends_an_association_from_the_database(catalog):
    import_activity(lines=lines(ANA, ORG, {"type": "association", "email": "ana@contoso.example", "mpn_id": "1234567", "on": "2026-01-01"}))
    import_activity(lines=lines({"type": "disassociation", "email": "ana@contoso.example", "on": "2026-03-01"}))
    assert cm.Association.objects.get().ends_on == datetime.date(2026, 3, 1)


def test_metric_override_and_membership_records(catalog):
    import_activity(lines=lines(
        ORG,
        {"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-06-30", "value": 100},
        {"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-06-30", "value": 250.5},
        {"type": "membership", "mpn_id": "1234567", "level": "silver", "purchased_on": "2024-02-29"},
        {"type": "override", "mpn_id": "1234567", "competency": "cloud-platform", "level": "gold",
         "starts_on": "2026-11-30", "reason": "Exam results delayed", "agent": "agent@partnercenter.example"},
    ))
    assert cm.MetricValue.objects.get().value == pytest.approx(250.5)
    membership = Membership.objects.get()
    assert (membership.starts_on, membership.ends_on) == (datetime.date(2024, 2, 29), datetime.date(2025, 2, 28))
    override = cm.Override.objects.get()
    assert override.expires_on == datetime.date(2027, 2, 28)  # three calendar months, clipped to the month's end
    assert override.created_by.email == "agent@partnercenter.example"
    assert cm.OverrideAudit.objects.get().action == "apply"


def test_importing_the_same_file_twice_adds_nothing(catalog):
    records = lines(
        ANA, {**ORG, "admins": ["ana@contoso.example"]}, {**ORG, "mpn_id": "7654321", "name": "Fabrikam"},
        {"type": "association", "email": "ana@contoso.example", "mpn_id": "1234567", "on": "2026-01-01"},
        {"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-01-10"},
        {"type": "association", "email": "ana@contoso.example", "mpn_id": "7654321", "on": "2026-06-01"},
        {"type": "disassociation", "email": "ana@contoso.example", "on": "2026-09-01"},
        {"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-06-30", "value": 100},
        {"type": "membership", "mpn_id": "1234567", "level": "silver", "purchased_on": "2026-02-01"},
        {"type": "override", "mpn_id": "1234567", "competency": "cloud-platform", "level": "gold", "starts_on": "2026-11-01", "reason": "r"},
    )
    import_activity(lines=records)
    before = counts()
    with CaptureQueriesContext(connection) as queries:
        result = import_activity(lines=records)
    assert counts() == before
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []
    assert sum(result.created.values()) == 0


@pytest.mark.parametrize(
    "record, reason",
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"type": "planet"}, "unknown type 'planet'"),
        ({"mpn_id": "1"}, "missing field 'type'"),
        ({"type": "organization", "mpn_id": "1"}, "missing field 'name'"),
        ({"type": "organization", "mpn_id": "12a", "name": "X"}, "'mpn_id' must be digits"),
        ({"type": "organization", "mpn_id": "1", "name": "X", "market": "emerging"}, "unknown market"),
        ({"type": "organization", "mpn_id": "1", "name": "X", "admins": ["nobody@x.example"]}, "unknown employee"),
        ({"type": "employee", "email": "not-an-email"}, "not an email address"),
        ({"type": "credential", "email": "ghost@x.example", "code": "70-533", "earned_on": "2026-01-01"}, "unknown employee"),
        ({"type": "credential", "email": "ana@contoso.example", "code": "99-999", "earned_on": "2026-01-01"}, "unknown credential code"),
        ({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-13-01"}, "is not a date"),
        ({"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "01/02/2026"}, "is not a date"),
        ({"type": "association", "email": "ana@contoso.example", "mpn_id": "999", "on": "2026-01-01"}, "unknown organization"),
        ({"type": "disassociation", "email": "ana@contoso.example", "on": "2026-01-01"}, "has no association to end"),
        ({"type": "metric", "mpn_id": "1234567", "metric": "nope", "period_end": "2026-01-31", "value": 1}, "unknown metric"),
        ({"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-01-31", "value": -1}, "must be a number >= 0"),
        ({"type": "metric", "mpn_id": "1234567", "metric": "azure_consumption_usd", "period_end": "2026-01-31", "value": "lots"}, "not a number"),
        ({"type": "membership", "mpn_id": "1234567", "level": "platinum", "purchased_on": "2026-01-01"}, "unknown level"),
        ({"type": "override", "mpn_id": "1234567", "competency": "nope", "level": "gold", "starts_on": "2026-01-01", "reason": "r"}, "unknown competency"),
        ({"type": "override", "mpn_id": "1234567", "competency": "cloud-platform", "level": "gold", "starts_on": "2026-01-01", "reason": "r", "expires_on": "2026-01-01"}, "must be after 'starts_on'"),
        ({"type": "override", "mpn_id": "1234567", "competency": "cloud-platform", "level": "gold", "starts_on": "2026-01-01", "reason": "r", "agent": "ana@contoso.example"}, "not a known agent"),
    ],
)
def test_a_bad_record_is_named_with_its_line_and_nothing_is_written(catalog, record, reason):
    raw = record if isinstance(record, str) else json.dumps(record)
    before = counts()
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=[*lines(ANA, ORG), raw], source="activity.jsonl")
    assert counts() == before
    assert len(failure.value.errors) == 1
    line, message = failure.value.errors[0]
    assert line == 3 and reason in message
    assert failure.value.lines()[0].startswith("activity.jsonl:3: ")


def test_an_association_before_the_current_one_is_refused_from_the_file_and_from_the_database(catalog):
    first = lines(ANA, ORG, {**ORG, "mpn_id": "7654321", "name": "Fabrikam"},
                  {"type": "association", "email": "ana@contoso.example", "mpn_id": "1234567", "on": "2026-05-01"})
    back = lines({"type": "association", "email": "ana@contoso.example", "mpn_id": "7654321", "on": "2026-04-30"})
    with pytest.raises(ImportFailed, match="bad line") as failure:
        import_activity(lines=first + back)
    assert failure.value.errors == [(5, "the association starts on 2026-04-30, before the employee's current one (since 2026-05-01)")]
    import_activity(lines=first)
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=back)
    assert failure.value.errors[0][0] == 1


def test_every_bad_line_is_reported(catalog):
    with pytest.raises(ImportFailed) as failure:
        import_activity(lines=["{}", json.dumps(ANA), "oops", json.dumps({"type": "employee"})])
    assert [line for line, _ in failure.value.errors] == [1, 3, 4]


def test_the_command_prints_path_line_reason_and_exits_non_zero(catalog, tmp_path):
    path = tmp_path / "activity.jsonl"
    path.write_text("\n".join(lines(ANA, {"type": "credential", "email": "ana@contoso.example", "code": "XX", "earned_on": "2026-01-01"})))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 bad line"):
        call_command("import_activity", str(path), stderr=err)
    assert err.getvalue().strip() == f"{path}:2: unknown credential code 'XX'"
    assert not cm.Employee.objects.filter(email="ana@contoso.example").exists()


def test_the_command_reads_stdin(catalog, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines(ANA, ORG))))
    out = io.StringIO()
    call_command("import_activity", "-", stdout=out)
    assert "2 records imported" in out.getvalue()
    assert cm.Organization.objects.filter(mpn_id="1234567").exists()


def test_the_command_has_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        call_command("import_activity", "--help")
    assert exit_.value.code == 0
    assert "JSON Lines" in capsys.readouterr().out


def test_an_import_re_evaluates_the_organizations_it_touched(catalog, django_capture_on_commit_callbacks, tmp_path):
    from .factories import OptionFactory, RequirementFactory

    option = OptionFactory(competency=cm.Competency.objects.get(slug="cloud-platform"), level="silver")
    RequirementFactory(option=option, params={"count": 1, "any_of": ["70-533"]})
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines(
        ANA, ORG, {"type": "association", "email": "ana@contoso.example", "mpn_id": "1234567", "on": "2026-01-01"},
        {"type": "credential", "email": "ana@contoso.example", "code": "70-533", "earned_on": "2026-01-10"},
    )))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_activity", str(path), stdout=io.StringIO())
    status = cm.CompetencyStatus.objects.get(organization__mpn_id="1234567")
    assert status.effective_level == "silver"
