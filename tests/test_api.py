"""The REST API: tokens (hashed, scoped, counted, revoked, rate-limited), problem details, reads equal to the
pages', writes through the pages' services, and another organization's ids and tokens reaching nothing."""

import datetime

import pytest
from django.test import Client, override_settings

from api.models import ApiToken
from api.tokens import token_create, token_digest, token_revoke
from competencies.models import Invitation
from competencies.selectors import competency_overview, members_of
from memberships import services
from memberships.eligibility import membership_state
from memberships.models import Redemption

from .common import TODAY as D
from .factories import BenefitFactory, MembershipFactory, build_competency, certified_employee

CERTS = {"kind": "certified_people", "count": 1, "any_of": ["AZ-104"]}


pytestmark = pytest.mark.usefixtures("empty_cache", "frozen")


@pytest.fixture
def world(org, admin, other_org, outsider):
    """Two organizations with a competency, people, a membership and a redemption each."""
    build_competency("cloud", name="Cloud", silver=[[CERTS]])
    for organization, name in ((org, "Carl Cert"), (other_org, "Nina North")):
        certified_employee(organization, "AZ-104", name=name, email=f"{name.split()[0].lower()}@x.example")
        MembershipFactory(organization=organization, level="silver", purchased_on=datetime.date(2026, 3, 1))
    BenefitFactory(slug="support", membership_level="silver", quantity=3)
    theirs = services.benefit_redeem(organization=other_org, benefit=BenefitFactory(slug="support"), by=outsider, day=D)
    return {"their_redemption": theirs}


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def read_token(org, admin):
    return token_create(organization=org, name="Reports", scope="read", by=admin)[1]


@pytest.fixture
def write_token(org, admin):
    return token_create(organization=org, name="HR sync", scope="write", by=admin)[1]


def test_it_stores_only_a_keyed_hash_of_the_token_shown_once(org, admin):
    token, raw = token_create(organization=org, name="CRM", scope="read", by=admin)
    assert raw.startswith(f"pc_{token.prefix}_")
    assert raw not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert token.digest == token_digest(raw)


def test_it_answers_401_problem_details_without_a_valid_token(world, read_token, org, admin):
    client = Client()
    for headers in ({}, bearer("pc_nope_nope"), bearer(read_token + "x")):
        response = client.get("/api/v1/organization/", **headers)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 401
    token = ApiToken.objects.get(organization=org)
    token_revoke(token=token)
    assert client.get("/api/v1/organization/", **bearer(read_token)).status_code == 401


def test_it_counts_each_request_on_its_token(world, read_token):
    for _ in range(3):
        assert Client().get("/api/v1/organization/", **bearer(read_token)).status_code == 200
    token = ApiToken.objects.get(name="Reports")
    assert token.request_count == 3 and token.last_used_at is not None


@override_settings(API_RATE_LIMIT=2)
def test_it_rate_limits_each_token_with_429_and_retry_after(world, read_token, write_token):
    client = Client()
    assert [client.get("/api/v1/organization/", **bearer(read_token)).status_code for _ in range(3)] == [200, 200, 429]
    limited = client.get("/api/v1/organization/", **bearer(read_token))
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["type"].endswith("rate-limited")
    assert client.get("/api/v1/organization/", **bearer(write_token)).status_code == 200  # another token's own count


def test_a_read_token_cannot_write(world, read_token):
    response = Client().post("/api/v1/invitations/", {"email": "new@x.example"}, content_type="application/json",
                             **bearer(read_token))
    assert response.status_code == 403
    assert not Invitation.objects.filter(email="new@x.example").exists()


def test_the_api_levels_contributors_and_membership_equal_the_pages(world, org, read_token):
    client = Client()
    api = {row["slug"]: row for row in client.get("/api/v1/competencies/", **bearer(read_token)).json()["results"]}
    for group in competency_overview(org, day=D):
        for row in group["rows"]:
            assert api[row["competency"].slug]["effective_level"] == row["result"].effective_level
            assert api[row["competency"].slug]["evaluated_level"] == row["result"].evaluated_level
    people = client.get("/api/v1/people/", **bearer(read_token)).json()["results"]
    page = members_of(org, day=D)
    assert [p["id"] for p in people] == [r["employee"].pk for r in page]
    assert [p["credentials"] for p in people] == [r["credentials"] for r in page]
    carl = next(p for p in people if p["name"] == "Carl Cert")
    assert carl["counts_toward"] == ["cloud"]
    detail = client.get("/api/v1/competencies/cloud/", **bearer(read_token)).json()
    assert detail["effective_level"] == "silver"
    contributors = detail["options"][0]["requirements"][0]["contributors"]
    assert [c["name"] for c in contributors] == ["Carl Cert"]
    membership = client.get("/api/v1/membership/", **bearer(read_token)).json()
    state = membership_state(org, day=D)
    assert membership["active"]["level"] == state.active.level
    assert membership["active"]["ends_on"] == state.active.ends_on.isoformat()


def test_it_invites_through_the_peoples_rule_and_refuses_bad_input_changing_nothing(world, write_token):
    client = Client()
    created = client.post("/api/v1/invitations/", {"email": "New@X.example"}, content_type="application/json",
                          **bearer(write_token))
    assert created.status_code == 201 and created.json()["email"] == "new@x.example"
    before = Invitation.objects.count()
    refused = client.post("/api/v1/invitations/", {"email": "not an email"}, content_type="application/json",
                          **bearer(write_token), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refused.status_code == 422
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["detail"] != "Enter a valid email address."  # worded in the caller's language
    assert Invitation.objects.count() == before


def test_it_redeems_and_ends_an_association_with_the_pages_services(world, org, write_token):
    client = Client()
    redeemed = client.post("/api/v1/benefits/support/redeem/", **bearer(write_token))
    assert redeemed.status_code == 201
    assert Redemption.objects.get(organization=org).code == redeemed.json()["code"]
    carl = next(p for p in members_of(org, day=D) if p["employee"].name == "Carl Cert")["employee"]
    assert client.post(f"/api/v1/people/{carl.pk}/end/", **bearer(write_token)).status_code == 204
    assert carl.pk not in [r["employee"].pk for r in members_of(org, day=D)]


def test_another_organizations_ids_answer_404_and_its_data_never_shows(world, org, other_org, outsider, write_token):
    client = Client()
    theirs = world["their_redemption"]
    nina = next(r["employee"] for r in members_of(other_org, day=D))
    for url in (f"/api/v1/people/{nina.pk}/", f"/api/v1/redemptions/{theirs.pk}/", f"/api/v1/orders/{theirs.pk}/",
                f"/api/v1/organization/?organization={other_org.mpn_id}"):
        assert client.get(url, **bearer(write_token)).status_code == 404, url
    assert client.post(f"/api/v1/people/{nina.pk}/end/", **bearer(write_token)).status_code == 404
    assert nina.pk in [r["employee"].pk for r in members_of(other_org, day=D)]
    for url in ("/api/v1/people/", "/api/v1/redemptions/", "/api/v1/orders/", "/api/v1/history/"):
        text = client.get(url, **bearer(write_token)).content.decode()
        assert "Nina" not in text and theirs.code not in text
    their_token = token_create(organization=other_org, name="Theirs", scope="read", by=outsider)[1]
    assert client.get("/api/v1/organization/", **bearer(their_token)).json()["mpn_id"] == other_org.mpn_id


def test_an_agents_staff_token_reads_the_organization_it_names(world, org, other_org):
    from .factories import EmployeeFactory

    agent = EmployeeFactory(email="agent@microsoft.example", is_staff=True)
    raw = token_create(organization=None, name="Agent", scope="read", by=agent)[1]
    client = Client()
    assert client.get("/api/v1/organization/", **bearer(raw)).status_code == 400
    answer = client.get(f"/api/v1/organization/?organization={other_org.mpn_id}", **bearer(raw))
    assert answer.json()["mpn_id"] == other_org.mpn_id


def test_the_schema_and_its_documentation_page_are_served(db):
    client = Client()
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/v1/competencies/" in schema.json()["paths"]
    assert client.get("/api/v1/docs/").status_code == 200


def test_an_admin_creates_and_revokes_tokens_on_the_page_and_a_teammate_cannot(world, org, admin, teammate, other_org,
                                                                              outsider):
    client = Client()
    client.force_login(admin)
    created = client.post("/dashboard/api-tokens/", {"organization": org.mpn_id, "name": "BI", "scope": "read"})
    assert created.status_code == 200
    token = ApiToken.objects.get(name="BI")
    assert f"pc_{token.prefix}_" in created.content.decode()
    assert f"pc_{token.prefix}_" not in client.get("/dashboard/api-tokens/").content.decode().replace(
        f"pc_{token.prefix}_…", "")
    assert client.post("/dashboard/api-tokens/", {"organization": org.mpn_id, "name": "", "scope": "read"}
                       ).status_code == 400
    theirs = token_create(organization=other_org, name="Theirs", scope="read", by=outsider)[0]
    assert client.post(f"/dashboard/api-tokens/{theirs.pk}/revoke/", {"organization": org.mpn_id}).status_code == 404
    client.post(f"/dashboard/api-tokens/{token.pk}/revoke/", {"organization": org.mpn_id})
    token.refresh_from_db()
    theirs.refresh_from_db()
    assert token.revoked_at is not None and theirs.revoked_at is None
    client.force_login(teammate)
    assert client.get("/dashboard/api-tokens/").status_code == 403


def staff_token(scope: str, *, may_override: bool) -> str:
    from django.contrib.auth.models import Permission

    from .factories import EmployeeFactory

    agent = EmployeeFactory(email=f"agent-{scope}-{str(may_override).lower()}@microsoft.example", is_staff=True)
    if may_override:
        agent.user_permissions.add(Permission.objects.get(codename="add_override"))
    return token_create(organization=None, name="Agent", scope=scope, by=agent)[1]


def test_an_agent_previews_then_places_an_override_with_its_audit(world, other_org, write_token):
    from competencies.models import Override, OverrideAudit

    client = Client()
    raw = staff_token("write", may_override=True)
    body = {"organization": other_org.mpn_id, "competency": "cloud", "level": "gold", "reason": "Audit pending"}
    preview = client.post("/api/v1/overrides/", {**body, "preview": True}, content_type="application/json",
                          **bearer(raw))
    assert preview.status_code == 200
    assert preview.json()["effective_before"] == "silver" and preview.json()["effective_after"] == "gold"
    assert not Override.objects.exists()
    placed = client.post("/api/v1/overrides/", body, content_type="application/json", **bearer(raw))
    assert placed.status_code == 201
    override = Override.objects.get()
    assert override.reason == "Audit pending" and OverrideAudit.objects.filter(override=override).exists()
    again = client.post("/api/v1/overrides/", body, content_type="application/json", **bearer(raw))
    assert again.status_code == 422 and Override.objects.count() == 1
    no_reason = client.post("/api/v1/overrides/", {**body, "reason": " "}, content_type="application/json",
                            **bearer(raw))
    assert no_reason.status_code in (400, 422)
    for token, expected in ((staff_token("write", may_override=False), 403), (staff_token("read", may_override=True),
                            403), (write_token, 404)):
        assert client.post("/api/v1/overrides/", body, content_type="application/json",
                           **bearer(token)).status_code == expected
    assert Override.objects.count() == 1


def test_an_admin_reaches_the_tokens_page_from_people_and_a_teammate_sees_no_link(org, admin, teammate):
    from django.urls import reverse

    client = Client()
    client.force_login(admin)
    assert reverse("api:tokens") in client.get(reverse("dashboard:people")).content.decode()
    client.force_login(teammate)
    assert reverse("api:tokens") not in client.get(reverse("dashboard:people")).content.decode()
