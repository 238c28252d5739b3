"""A catalog change re-evaluates every organization at once, each change recorded as caused by the catalog."""

import copy
import datetime
import io

import pytest
import yaml
from django.contrib.auth.models import Group
from django.core.management import call_command

from competencies.models import CompetencyStatus, Credential, StatusChange
from competencies.statuses import statuses_refresh

from .common import PASSWORD, TODAY
from .factories import EmployeeFactory, OrganizationFactory, certified_employee
from .test_load_catalog import SMALL

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def loaded(db, tmp_path):
    """The small catalog, and an organization at Silver Application Development through two 70-480s."""
    call_command("load_catalog", str(SMALL), stdout=io.StringIO())
    org = OrganizationFactory(name="Fabrikam")
    certified_employee(org, "70-480")
    certified_employee(org, "70-480")
    statuses_refresh(organization_ids=[org.pk], day=TODAY - datetime.timedelta(days=1))
    return org


def level(org):
    return CompetencyStatus.objects.get(organization=org, competency__slug="application-development").effective_level


def with_web_count(tmp_path, count):
    doc = yaml.safe_load(SMALL.read_text())
    doc = copy.deepcopy(doc)
    doc["centers"][1]["competencies"][0]["levels"]["silver"]["options"][0]["requirements"][0]["count"] = count
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_it_re_evaluates_everyone_when_a_load_changes_a_requirement(loaded, tmp_path, django_capture_on_commit_callbacks):
    assert level(loaded) == "silver"
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_catalog", str(with_web_count(tmp_path, 3)), stdout=out)
    assert "re-evaluated as of 2026-11-23" in out.getvalue()
    assert level(loaded) == "none"
    change = StatusChange.objects.get(organization=loaded, day=TODAY)
    assert (change.cause, change.cause_params) == ("catalog_changed", {"kind": "catalog", "day": "2026-11-23"})


def test_loading_the_same_file_again_queues_nothing(loaded, django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_command("load_catalog", str(SMALL), stdout=out)
    assert callbacks == [] and "re-evaluated" not in out.getvalue()
    assert not StatusChange.objects.filter(day=TODAY).exists()


def test_an_agent_editing_a_credential_in_admin_re_evaluates_everyone(loaded, client, django_capture_on_commit_callbacks):
    agent = EmployeeFactory(email="ada@microsoft.example", is_staff=True)
    agent.groups.add(Group.objects.get(name="agent"))
    client.login(username=agent.email, password=PASSWORD)
    credential = Credential.objects.get(code="70-480")
    data = {"code": "70-480", "kind": credential.kind, "title": credential.title, "valid_days": "",
            "retired_on": "2025-01-01", "accepted_until": "2026-01-01", "_save": "Save"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/competencies/credential/{credential.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert level(loaded) == "none"  # no longer accepted since 2026-01-01
    assert StatusChange.objects.get(organization=loaded, day=TODAY).cause == "catalog_changed"
