"""The API's isolation sweep, walked from the URL resolver: every /api/v1/ route, by GET and POST, with a token of
organization A and every id and slug of organization B (in the path and as `?organization=`): nothing of B's is
shown, nothing changes, a request naming B's rows gets 404; B's token reads only B; no token gets 401."""

import datetime

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from api.tokens import token_create
from competencies.models import Competency
from competencies.selectors import members_of
from memberships import services
from memberships.models import Order, Redemption

from .common import NOW
from .common import TODAY as D
from .factories import BenefitFactory, MembershipFactory, build_competency, certified_employee
from .snapshot import changes, database_snapshot
from .test_isolation import url_patterns

PUBLIC_API = {"api:schema", "api:docs"}


@pytest.fixture
def world(org, admin, other_org, outsider):
    build_competency("cloud", name="Cloud", silver=[[{"kind": "certified_people", "count": 1, "any_of": ["AZ-104"]}]])
    certified_employee(org, "AZ-104", name="Carl Cert", email="carl@x.example")
    certified_employee(other_org, "AZ-104", name="Nina Northwind", email="nina@northwind.example")
    for organization in (org, other_org):
        MembershipFactory(organization=organization, level="silver", purchased_on=datetime.date(2026, 3, 1))
    benefit = BenefitFactory(slug="support", membership_level="silver", quantity=3)
    redemption = services.benefit_redeem(organization=other_org, benefit=benefit, by=outsider, day=D)
    return redemption


def their_ids(other_org) -> dict[str, list[int]]:
    """B's rows by the route that names them (ids of different tables may coincide)."""
    return {
        "people/": sorted(r["employee"].pk for r in members_of(other_org, day=D)),
        "redemptions/": list(Redemption.objects.filter(organization=other_org).values_list("pk", flat=True)),
        "orders/": list(Order.objects.filter(organization=other_org).values_list("pk", flat=True)),
    }


def urls(pattern, ids, slugs):
    params = [name for name, _c in pattern.converters]
    if not params:
        return [("/" + pattern.route, False)]
    if isinstance(ids, dict) and params == ["pk"]:
        ids = next(v for prefix, v in ids.items() if pattern.route.startswith("api/v1/" + prefix))
    values = ids if params == ["pk"] else slugs
    return [("/" + pattern.route.replace(f"<int:{params[0]}>", str(v)).replace(f"<slug:{params[0]}>", str(v)),
             params == ["pk"]) for v in values]


def test_a_token_of_one_organization_reaches_nothing_of_another(world, org, admin, other_org, outsider):
    token = token_create(organization=org, name="A", scope="write", by=admin)[1]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    markers = ["Nina", "northwind.example", world.code, other_org.name]
    slugs = list(Competency.objects.values_list("slug", flat=True))  # the catalog's: no organization's
    api = [p for p in url_patterns() if p.is_token_api and p.name not in PUBLIC_API]
    assert len(api) >= 14
    problems, requests = [], 0
    with time_machine.travel(NOW, tick=False):
        before = database_snapshot()
        for pattern in api:
            for url, names_theirs in urls(pattern, their_ids(other_org), slugs):
                for method in ("get", "post"):
                    cache.clear()
                    for target in (url, f"{url}?organization={other_org.mpn_id}"):
                        response = getattr(client, method)(target, {}, content_type="application/json")
                        requests += 1
                        body = response.content.decode()
                        if response.status_code >= 500 or any(m in body for m in markers):
                            problems.append(f"{method} {target}: {response.status_code} {body[:200]}")
                        if (names_theirs or "?organization" in target) and response.status_code not in (404, 405):
                            problems.append(f"{method} {target}: {response.status_code}, not 404")
        after = database_snapshot()
    assert problems == [], "\n".join(problems)
    assert changes(before, after) == {} or set(changes(before, after)) <= {"api.apitoken"}
    assert requests > 50


def test_without_a_token_every_api_route_answers_401_but_the_schema(world):
    client = Client()
    for pattern in url_patterns():
        if not pattern.is_token_api:
            continue
        for url, _names in urls(pattern, [1], ["cloud"]):
            expected = 200 if pattern.name in PUBLIC_API else 401
            assert client.get(url).status_code == expected, url
            if pattern.name not in PUBLIC_API:
                assert client.post(url, {}, content_type="application/json").status_code == 401, url
