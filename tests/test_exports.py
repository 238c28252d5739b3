"""Exports: the organization's competencies (CSV, JSON), people, orders and redemptions; streamed; only one's own."""

import csv
import io
import json
import tracemalloc

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from competencies import models as cm
from memberships import models as mm

from .common import TODAY, cloud_platform
from .factories import certified_employee

EXPORTS = ["export-competencies-csv", "export-competencies-json", "export-people-csv", "export-orders-csv",
           "export-redemptions-csv"]


pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def cloud(db):
    competency = cloud_platform(["70-533"])
    cm.Credential.objects.filter(code="70-533").update(title="Implementing Microsoft Azure Infrastructure Solutions")
    return competency


def body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode("utf-8-sig")


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body(response))))


def get(client, name, org=None):
    return client.get(reverse(f"dashboard:{name}"), {"organization": org.mpn_id} if org else {})


def test_it_exports_the_competencies_with_levels_and_each_requirement_s_progress(client, teammate, org, cloud):
    certified_employee(org, "70-533", name="Carol")
    client.force_login(teammate)
    response = get(client, "export-competencies-csv", org)
    assert response["Content-Disposition"] == 'attachment; filename="1000001-competencies-2026-11-23.csv"'
    found = rows(response)
    assert [(r["option_level"], r["have"], r["need"], r["progress_percent"], r["requirement_met"]) for r in found] == [
        ("silver", "1", "1", "100", "True"), ("gold", "1", "2", "50", "False")
    ]
    levels = {(r["competency"], r["evaluated_level"], r["effective_level"]) for r in found}
    assert levels == {("Cloud Platform", "silver", "silver")}
    document = json.loads(body(get(client, "export-competencies-json", org)))
    assert document[0]["competency"] == "cloud-platform" and document[0]["effective_level"] == "silver"
    assert [o["requirements"][0]["met"] for o in document[0]["options"]] == [True, False]


def test_it_exports_people_with_their_credentials_titles_and_what_they_count_toward(client, teammate, org, cloud):
    certified_employee(org, "70-533", name="Carol", email="carol@fabrikam.example", mcp_id="123")
    client.force_login(teammate)
    found = rows(get(client, "export-people-csv", org))
    carol = next(r for r in found if r["email"] == "carol@fabrikam.example")
    assert carol["credential"] == "70-533" and carol["credential_title"].startswith("Implementing")
    assert carol["counts_toward"] == "Cloud Platform" and carol["mcp_id"] == "123"
    bob = next(r for r in found if r["email"] == "bob@fabrikam.example")
    assert bob["credential"] == "" and bob["counts_since"] == "2026-01-01"


def test_it_exports_orders_and_redemptions_of_the_organization_only(client, teammate, org, other_org):
    mm.Order.objects.create(organization=org, kind="purchase", level="silver", amount_usd="1670.00", day=TODAY,
                            status="failed", failure_reason="Card declined")
    mm.Order.objects.create(organization=other_org, kind="purchase", level="gold", amount_usd="4730.00", day=TODAY)
    client.force_login(teammate)
    orders = rows(get(client, "export-orders-csv", org))
    assert [(o["level"], o["amount_usd"], o["status"], o["failure_reason"]) for o in orders] == [
        ("silver", "1670.00", "failed", "Card declined")
    ]
    assert rows(get(client, "export-redemptions-csv", org)) == []


@pytest.mark.parametrize("name", EXPORTS)
def test_every_export_answers_404_to_another_organization_s_id_or_member(client, teammate, org, outsider, other_org, name):
    client.force_login(teammate)
    assert get(client, name, other_org).status_code == 404
    client.force_login(outsider)
    assert get(client, name, org).status_code == 404
    assert get(client, name, other_org).status_code == 200
    assert "1000001" not in body(get(client, name))  # their own export names nothing of Fabrikam's
    client.logout()
    assert get(client, name, org).status_code == 302  # to sign in


def stream_peak(response) -> tuple[int, int, int]:
    """Bytes and lines of a streamed export, and the peak memory allocated while streaming it."""
    tracemalloc.start()
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size, lines, peak


def add_orders(org, count: int):
    mm.Order.objects.bulk_create(
        mm.Order(organization=org, kind="purchase", level="silver", amount_usd="1670.00", day=TODAY,
                 reference=f"ref-{n:05d}-" + "x" * 60)
        for n in range(count)
    )


def test_it_streams_10000_orders_in_the_memory_of_2000(client, teammate, org):
    client.force_login(teammate)
    add_orders(org, 2_000)
    _size, _lines, small_peak = stream_peak(get(client, "export-orders-csv", org))
    add_orders(org, 8_000)
    size, lines, peak = stream_peak(get(client, "export-orders-csv", org))
    assert lines == 10_001 and size > 1_000_000
    assert peak < small_peak * 1.5 + 100_000, f"peak {peak} bytes for 10,000 rows, {small_peak} for 2,000"
