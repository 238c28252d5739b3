"""A page per Center of Excellence: what it covers, its competencies and the organization's level in each."""

import datetime

import pytest
from django.urls import reverse

from competencies.catalog import DEFAULT_CATALOG_PATH, load_catalog_file
from competencies.models import CenterOfExcellence, Credential

from .factories import EarnedCredentialFactory

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def catalog(db):
    load_catalog_file(DEFAULT_CATALOG_PATH)


def test_it_lists_the_centers_competencies_with_the_organizations_level(client, teammate, catalog):
    EarnedCredentialFactory(employee=teammate, credential=Credential.objects.get(code="70-480"),
                            earned_on=datetime.date(2026, 1, 5))
    client.force_login(teammate)
    body = client.get(reverse("dashboard:center", args=["application-development"])).content.decode()
    assert "Building, integrating and shipping applications" in body  # what it covers
    for name in ("Application Development", "Application Integration", "DevOps"):
        assert name in body
    assert "Cloud Productivity" not in body  # another center's
    assert 'class="badge none">Not attained' in body


def test_it_speaks_the_readers_language(client, teammate, catalog):
    client.force_login(teammate)
    body = client.get(reverse("dashboard:center", args=["mobility"]), HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "<h1>行動力</h1>" in body and "企業行動管理" in body and "Windows 與裝置" in body
    assert "Enterprise Mobility Management" not in body


def test_the_competencies_list_links_each_center(client, teammate, catalog):
    client.force_login(teammate)
    body = client.get(reverse("dashboard:competencies")).content.decode()
    for slug in CenterOfExcellence.objects.values_list("slug", flat=True):
        assert reverse("dashboard:center", args=[slug]) in body


def test_an_unknown_center_is_404_and_signed_out_goes_to_sign_in(client, teammate, catalog):
    assert client.get(reverse("dashboard:center", args=["productivity"])).status_code == 302
    client.force_login(teammate)
    assert client.get(reverse("dashboard:center", args=["nowhere"])).status_code == 404
