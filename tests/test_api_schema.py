"""Schemathesis against the live schema: every operation, generated inputs, with a read and a write token. No 5xx,
no undocumented status or content type, no response body or header that contradicts the schema."""

import datetime

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.tokens import token_create
from memberships import services

from .factories import BenefitFactory, MembershipFactory, StatusChangeFactory, build_competency, certified_employee

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.fixture
def api_schema(db):
    """The schema as the live application serves it, called through WSGI in the test's transaction (as Django's
    test client does: a request's end must not close the test's database connection)."""
    from partnercenter.wsgi import application

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def tokens(org, admin, other_org, outsider):
    """An organization with data on every page, its read and write tokens."""
    cloud = build_competency("cloud", name="Cloud",
                             silver=[[{"kind": "certified_people", "count": 1, "any_of": ["AZ-104"]}]])
    certified_employee(org, "AZ-104", name="Carl Cert", email="carl@x.example")
    certified_employee(other_org, "AZ-104", name="Nina North", email="nina@x.example")
    day = datetime.date.today()
    MembershipFactory(organization=org, level="silver", purchased_on=day - datetime.timedelta(days=30))
    StatusChangeFactory(organization=org, competency=cloud, day=day)
    benefit = BenefitFactory(slug="support", membership_level="silver", quantity=1000)
    services.benefit_redeem(organization=org, benefit=benefit, by=admin, day=day)
    return {scope: token_create(organization=org, name=scope, scope=scope, by=admin)[1] for scope in ("read", "write")}


def run_every_operation(api_schema, token: str) -> int:
    """Each operation of the schema, with generated inputs (hypothesis), checked; returns how many were run."""
    operations = [result.ok() for result in api_schema.get_all_operations()]

    @hypothesis_settings(max_examples=10, suppress_health_check=list(HealthCheck), deadline=None)
    @given(data=st.data())
    def run(data, operation):
        cache.clear()
        case = data.draw(operation.as_strategy())
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    for operation in operations:
        run(operation=operation)
    return len(operations)


def test_every_operation_answers_what_the_schema_says_to_a_read_token(api_schema, tokens, settings):
    settings.API_RATE_LIMIT = 1_000_000  # the rate limit has its own test
    assert run_every_operation(api_schema, tokens["read"]) >= 17


def test_every_operation_answers_what_the_schema_says_to_a_write_token(api_schema, tokens, settings):
    settings.API_RATE_LIMIT = 1_000_000
    assert run_every_operation(api_schema, tokens["write"]) >= 17
