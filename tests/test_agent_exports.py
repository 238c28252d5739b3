"""Agents' downloads in Django admin: any organization's exports from its page (the same files its employees
download), the selected organizations' competencies as one CSV from the list; streamed; 403 for staff without
the permission, sign-in for everyone else; unknown names and ids 404."""

import csv
import datetime
import io

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from competencies import engine, exports
from memberships import models as mm
from memberships import services

from .common import TODAY
from .factories import BenefitFactory, EmployeeFactory, MembershipFactory, OrganizationFactory, certified_employee
from .test_exports import add_orders, body, cloud, get, rows, stream_peak  # noqa: F401 - the same competency

pytestmark = pytest.mark.usefixtures("frozen")

NAMES = ["competencies.csv", "competencies.json", "people.csv", "orders.csv", "redemptions.csv"]
ACTION = "export_competencies"


@pytest.fixture
def world(org, admin, teammate, other_org, outsider, cloud):
    """Both organizations with something in every export: a certified person, a membership, an order, a redemption."""
    for organization, by, name in ((org, admin, "Carol"), (other_org, outsider, "Nina")):
        certified_employee(organization, "70-533", name=name)
        MembershipFactory(organization=organization, level="silver", purchased_on=datetime.date(2026, 3, 1))
        mm.Order.objects.create(organization=organization, kind="purchase", level="silver", amount_usd="1670.00",
                                day=TODAY, created_by=by)
        services.benefit_redeem(organization=organization, benefit=BenefitFactory(slug="support", quantity=3), by=by,
                                day=TODAY)


def admin_export(organization_id, name: str) -> str:
    return reverse("admin:competencies_organization_export", args=[organization_id, name])


def staff(*permissions: str):
    """A staff member with only these permissions (`app.codename`)."""
    employee = EmployeeFactory(is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        employee.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return employee


@pytest.mark.parametrize("name", NAMES)
def test_an_agent_downloads_any_organization_s_export_the_file_its_employees_download(
    client, agent_client, world, org, other_org, teammate, outsider, name
):
    for organization, employee in ((org, teammate), (other_org, outsider)):
        response = agent_client.get(admin_export(organization.pk, name))
        stem, extension = name.split(".")
        assert response["Content-Disposition"] == f'attachment; filename="{organization.mpn_id}-{stem}-2026-11-23.{extension}"'
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
        file = body(response)
        assert len(file.splitlines()) > 1 or file.startswith('[{"mpn_id": "%s"' % organization.mpn_id)  # not empty
        employee_client = client.__class__()
        employee_client.force_login(employee)
        assert file == body(get(employee_client, f"export-{stem}-{extension}"))


def test_an_agent_streams_10000_orders_in_the_memory_of_2000(agent_client, org):
    add_orders(org, 2_000)
    _size, _lines, small_peak = stream_peak(agent_client.get(admin_export(org.pk, "orders.csv")))
    add_orders(org, 8_000)
    _size, lines, peak = stream_peak(agent_client.get(admin_export(org.pk, "orders.csv")))
    assert lines == 10_001
    assert peak < small_peak * 1.5 + 100_000, f"peak {peak} bytes for 10,000 rows, {small_peak} for 2,000"


def test_the_organization_page_offers_each_download_the_agent_may_take(agent_client, org, client):
    page = agent_client.get(reverse("admin:competencies_organization_change", args=[org.pk])).content.decode()
    assert "Downloads" in page
    for name in NAMES:
        assert f'href="/admin/competencies/organization/{org.pk}/exports/{name}" download' in page
    assert "Download competencies (JSON)" in page and "Download redemptions (CSV)" in page
    page = agent_client.get(reverse("admin:competencies_organization_change", args=[org.pk]),
                            HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "下載專長認證（JSON）" in page and "下載兌換記錄（CSV）" in page

    client.force_login(staff("competencies.view_organization", "memberships.view_order"))
    page = client.get(reverse("admin:competencies_organization_change", args=[org.pk])).content.decode()
    assert "exports/orders.csv" in page and "exports/people.csv" not in page and "exports/competencies" not in page


@pytest.mark.parametrize("name", NAMES)
def test_staff_without_the_permission_get_403_and_everyone_else_is_sent_to_sign_in(client, world, org, teammate, admin, name):
    url = admin_export(org.pk, name)
    client.force_login(staff("competencies.view_organization"))  # may see the organization, not what the file holds
    assert client.get(url).status_code == 403
    client.force_login(staff(*next(e for e in exports.registered_exports() if e.name == name).permissions))
    assert client.get(url).status_code == 403  # may see the rows, not organizations
    for employee in (teammate, admin):  # the organization's own people never reach admin's downloads
        client.force_login(employee)
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("path", [
    "{pk}/exports/orders.xlsx", "{pk}/exports/orders", "{pk}/exports/..", "99999999/exports/orders.csv", "abc/exports/orders.csv",
    "１/exports/orders.csv", "99999999999999999999999/exports/people.csv",
])
def test_an_unknown_download_or_organization_is_404(agent_client, org, path):
    assert agent_client.get("/admin/competencies/organization/" + path.format(pk=org.pk)).status_code == 404


def act(client, organizations):
    return client.post(reverse("admin:competencies_organization_changelist"),
                       {"action": ACTION, "_selected_action": [o.pk for o in organizations]})


def test_an_agent_downloads_the_selected_organizations_competencies_as_one_csv(agent_client, world, org, other_org):
    OrganizationFactory(mpn_id="3000003", name="Not selected")
    response = act(agent_client, [other_org, org])
    assert response["Content-Disposition"] == 'attachment; filename="competencies-2026-11-23.csv"'
    text = body(response)
    assert text.count("mpn_id,competency,") == 1  # one header
    found = list(csv.DictReader(io.StringIO(text)))
    assert [(r["mpn_id"], r["option_level"], r["requirement_met"]) for r in found] == [
        ("1000001", "silver", "True"), ("1000001", "gold", "False"),
        ("2000002", "silver", "True"), ("2000002", "gold", "False"),
    ]
    # each organization's rows are its own file's rows
    own = rows(agent_client.get(admin_export(org.pk, "competencies.csv")))
    assert found[:2] == own
    everyone = agent_client.post(reverse("admin:competencies_organization_changelist"),
                                 {"action": ACTION, "select_across": "1", "_selected_action": [org.pk]})
    assert [r["mpn_id"] for r in rows(everyone)] == ["1000001", "1000001", "2000002", "2000002", "3000003", "3000003"]


def test_the_list_offers_the_action_only_to_staff_who_may_take_the_file(client, world, org):
    changelist = reverse("admin:competencies_organization_changelist")
    clerk = staff("competencies.view_organization")
    client.force_login(clerk)
    assert f'value="{ACTION}"' not in client.get(changelist).content.decode()
    response = act(client, [org])
    assert "Content-Disposition" not in response and response["Content-Type"].startswith("text/html")  # the list again
    client.force_login(staff("competencies.view_organization", "competencies.view_competencystatus"))
    assert f'value="{ACTION}"' in client.get(changelist).content.decode()
    assert act(client, [org]).status_code == 200
    assert "下载所选组织的能力（CSV）" in client.get(changelist, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


def test_the_action_evaluates_the_organizations_in_batches_as_the_file_is_read(agent_client, cloud, monkeypatch):
    """Streamed: an organization is evaluated when its rows are about to be written, EVALUATED_AT_ONCE at a time;
    the queries depend on the number of batches, not of organizations."""
    organizations = [certified_employee(OrganizationFactory(), "70-533").associations.get().organization
                     for _n in range(14)]
    batches = []
    real_evaluate = engine.evaluate

    def counting(**kwargs):
        batches.append(len(kwargs["organization_ids"]))
        return real_evaluate(**kwargs)

    monkeypatch.setattr(exports, "evaluate", counting)
    monkeypatch.setattr(exports, "EVALUATED_AT_ONCE", 4)
    chunks = iter(act(agent_client, organizations).streaming_content)
    next(chunks), next(chunks), next(chunks)  # byte order mark, header, the first row
    assert batches == [4]
    assert sum(chunk.count(b"\n") for chunk in chunks) == 14 * 2 - 1
    assert batches == [4, 4, 4, 2]


def test_the_action_s_queries_do_not_grow_with_the_organizations_selected(agent_client, cloud):
    organizations = [certified_employee(OrganizationFactory(), "70-533").associations.get().organization
                     for _n in range(40)]

    def queries(selected) -> int:
        response = act(agent_client, selected)
        with CaptureQueriesContext(connection) as captured:
            lines = b"".join(response.streaming_content).count(b"\n")
        assert lines == 1 + 2 * len(selected)
        return len(captured)

    assert queries(organizations[:3]) == queries(organizations)
