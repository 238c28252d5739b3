"""`export_achievements [--mpn-id ID] [--date D] [--format json|csv]` (docs/interfaces.md)."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from competencies.forecast_store import forecast_refresh
from competencies.statuses import statuses_refresh

from .common import AZURE, DAY, D, people
from .factories import OrganizationFactory, OverrideFactory, build_competency, certified_employee


def export(*args):
    out = io.StringIO()
    call_command("export_achievements", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def world(db):
    cloud = build_competency("cloud-platform", silver=[[people(1, any_of=AZURE)]], gold=[[people(2, any_of=AZURE)]])
    data = build_competency("data-platform", silver=[[people(1, any_of=["70-762"])]])
    contoso = OrganizationFactory(mpn_id="1000001", name="Contoso")
    fabrikam = OrganizationFactory(mpn_id="1000002", name="Fabrikam")
    tailspin = OrganizationFactory(mpn_id="1000004", name="Tailspin")
    certified_employee(contoso, "70-533")
    certified_employee(contoso, "70-535", starts_on=D)
    certified_employee(fabrikam, "70-533", starts_on=D - 10 * DAY, ends_on=D + DAY)
    OverrideFactory(organization=fabrikam, competency=data, level="gold", starts_on=D - 30 * DAY, expires_on=D + 60 * DAY)
    statuses_refresh(organization_ids=[contoso.pk, fabrikam.pk, tailspin.pk], day=D)
    return {"cloud": cloud, "data": data, "contoso": contoso, "fabrikam": fabrikam, "tailspin": tailspin}


def row(mpn_id, competency, evaluated, effective, expires=None, coming=(None, None, None)):
    return {
        "mpn_id": mpn_id,
        "competency": competency,
        "evaluated_level": evaluated,
        "effective_level": effective,
        "override_expires_on": expires,
        "at_risk": False,
        "displayed_level": "none",
        "next_change_on": coming[0],
        "next_change_level": coming[1],
        "next_change_cause": coming[2],
    }


def test_it_prints_the_latest_evaluation_as_one_json_array_of_non_none_levels(world):
    assert json.loads(export()) == [
        row("1000001", "cloud-platform", "gold", "gold"),
        row("1000002", "cloud-platform", "silver", "silver"),
        row("1000002", "data-platform", "none", "gold", str(D + 60 * DAY)),
    ]


def test_it_prints_csv_with_a_header(world):
    rows = list(csv.reader(io.StringIO(export("--format", "csv"))))
    assert rows[0] == ["mpn_id", "competency", "evaluated_level", "effective_level", "override_expires_on",
                       "at_risk", "displayed_level", "next_change_on", "next_change_level", "next_change_cause"]
    assert rows[1:] == [
        ["1000001", "cloud-platform", "gold", "gold", "", "false", "none", "", "", ""],
        ["1000002", "cloud-platform", "silver", "silver", "", "false", "none", "", "", ""],
        ["1000002", "data-platform", "none", "gold", str(D + 60 * DAY), "false", "none", "", "", ""],
    ]


def test_it_prints_each_rows_next_forecast_change(world):
    forecast_refresh(organization_ids=[world["contoso"].pk, world["fabrikam"].pk], day=D)
    assert json.loads(export()) == [
        row("1000001", "cloud-platform", "gold", "gold"),
        row("1000002", "cloud-platform", "silver", "silver", coming=(str(D + DAY), "none", "leaves")),
        row("1000002", "data-platform", "none", "gold", str(D + 60 * DAY), coming=(str(D + 60 * DAY), "none", "override_ends")),
    ]


def test_it_filters_by_mpn_id(world):
    assert [r["competency"] for r in json.loads(export("--mpn-id", "1000002"))] == ["cloud-platform", "data-platform"]


def test_it_evaluates_live_for_another_day(world):
    before = json.loads(export("--date", str(D - DAY)))
    assert before == [
        row("1000001", "cloud-platform", "silver", "silver"),
        row("1000002", "cloud-platform", "silver", "silver"),
        row("1000002", "data-platform", "none", "gold", str(D + 60 * DAY)),
    ]
    after = json.loads(export("--date", str(D + DAY)))
    assert row("1000002", "cloud-platform", "silver", "silver") not in after


def test_it_reads_the_stored_statuses_of_the_day(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):  # catalog, organizations, statuses; nothing evaluated live
        export("--date", str(D))


def test_it_refuses_an_unknown_mpn_id(world):
    with pytest.raises(CommandError, match="no organization with MPN ID 999"):
        export("--mpn-id", "999")


def test_it_refuses_a_bad_date(world):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        export("--date", "20/11/2026")


def test_it_needs_a_date_when_nothing_was_evaluated(db):
    with pytest.raises(CommandError, match="no evaluation is stored yet"):
        export()


def test_it_evaluates_organizations_never_stored(db):
    build_competency("cloud-platform", silver=[[people(1, any_of=AZURE)]])
    org = OrganizationFactory(mpn_id="1000009")
    certified_employee(org, "70-533")
    assert json.loads(export("--date", str(D))) == [row("1000009", "cloud-platform", "silver", "silver")]


def test_it_exports_a_past_day_with_the_override_active_then(db):
    """An override that has expired since still made the effective level of a day it covered."""
    from partnercenter.night import run_nightly

    cloud = build_competency("cloud-platform", silver=[[people(1, any_of=AZURE)]])
    org = OrganizationFactory(mpn_id="1000009")
    OverrideFactory(organization=org, competency=cloud, level="gold", starts_on=D - 30 * DAY, expires_on=D)
    run_nightly(day=D - DAY)
    run_nightly(day=D)  # expires it; the stored status moves on to D
    assert json.loads(export("--date", (D - DAY).isoformat())) == [
        row("1000009", "cloud-platform", "none", "gold", expires=D.isoformat())
    ]
    assert json.loads(export("--date", D.isoformat())) == []
