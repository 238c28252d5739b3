"""The marketing profile editor: admins edit description, website, country and public or not."""

import pytest
from django.urls import reverse

from competencies.models import Organization

DATA = {
    "description": "Azure migrations for mid-size companies.",
    "website": "https://fabrikam.example",
    "country": "Germany",
    "public_profile": "",  # unchecked: private
}


def test_an_admin_edits_the_profile(client, admin, org):
    client.force_login(admin)
    response = client.post(reverse("dashboard:profile"), {"organization": org.mpn_id, **DATA})
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.description, org.website, org.country, org.public_profile) == (
        "Azure migrations for mid-size companies.", "https://fabrikam.example", "Germany", False,
    )
    assert "Your marketing profile is saved" in client.get(response.url).content.decode()


def test_an_admin_sees_the_form(client, admin, org):
    client.force_login(admin)
    body = client.get(reverse("dashboard:profile")).content.decode()
    assert 'name="description"' in body and 'name="public_profile"' in body


def test_a_teammate_sees_the_profile_but_cannot_edit_it(client, teammate, org):
    client.force_login(teammate)
    body = client.get(reverse("dashboard:profile")).content.decode()
    assert 'name="description"' not in body and "Only your organization" in body
    response = client.post(reverse("dashboard:profile"), {"organization": org.mpn_id, **DATA})
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.country == "United States" and org.public_profile


def test_another_organizations_id_gets_404(client, admin, org, other_org):
    client.force_login(admin)
    response = client.post(reverse("dashboard:profile"), {"organization": other_org.mpn_id, **DATA})
    assert response.status_code == 404
    other_org.refresh_from_db()
    assert other_org.country == "United States"


@pytest.mark.parametrize("website", ["not a url", "javascript:alert(1)", "ftp://fabrikam.example"])
def test_a_bad_website_is_refused_and_changes_nothing(client, admin, org, website):
    client.force_login(admin)
    response = client.post(reverse("dashboard:profile"), {"organization": org.mpn_id, **DATA, "website": website})
    assert response.status_code == 400
    assert Organization.objects.get(pk=org.pk).country == "United States"


def test_the_profile_editor_needs_a_sign_in(client, db):
    response = client.get(reverse("dashboard:profile"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
