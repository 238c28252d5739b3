"""Sign-in throttling (django-axes): five failures for one email from one address lock it out for 15 minutes.

Neither the failure message nor the lockout page says which part was
wrong, or whether the email exists.
"""

import datetime
import re

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from partnercenter.settings import base

from .common import PASSWORD, sign_in

LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")
NOW = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)
FAILED = "Please enter a correct email and password"
LOCKED = "Too many failed sign-ins. Please wait 15 minutes and try again."


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def fail(client, email, times, **kwargs):
    for _ in range(times):
        response = sign_in(client, email, "not the password", **kwargs)
        assert response.status_code in (200, 429)
    return response


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_production_checks_every_sign_in_against_the_throttle_first():
    assert base.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert base.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert (settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME) == (5, datetime.timedelta(minutes=15))


def test_a_failed_sign_in_does_not_say_which_part_was_wrong(client, admin):
    wrong_password = sign_in(client, admin.email, "not the password")
    unknown_email = sign_in(client, "nobody@fabrikam.example", PASSWORD)
    for response in (wrong_password, unknown_email):
        assert response.status_code == 200
        assert FAILED in response.content.decode()
    assert not signed_in(client)


def test_four_failures_still_let_the_right_password_in(client, admin):
    fail(client, admin.email, 4)
    response = sign_in(client, admin.email, PASSWORD)
    assert response.status_code == 302 and signed_in(client)


def test_after_five_failures_even_the_right_password_is_refused_for_15_minutes(client, admin, now):
    last = fail(client, admin.email, 5)
    assert last.status_code == 429 and LOCKED in last.content.decode()
    refused = sign_in(client, admin.email, PASSWORD)
    assert refused.status_code == 429 and LOCKED in refused.content.decode()
    assert FAILED not in refused.content.decode() and "password" not in refused.content.decode().lower()
    assert not signed_in(client)

    now.shift(datetime.timedelta(minutes=14))
    assert sign_in(client, admin.email, PASSWORD).status_code == 429
    now.shift(datetime.timedelta(minutes=2))
    assert sign_in(client, admin.email, PASSWORD).status_code == 302 and signed_in(client)


def test_the_lockout_page_is_the_same_whether_the_email_exists_or_not(client, admin):
    known = fail(client, admin.email, 5)
    unknown = fail(client, "nobody@fabrikam.example", 5)
    assert known.status_code == unknown.status_code == 429

    def words(response):
        page = response.content.decode().replace(admin.email, "EMAIL").replace("nobody@fabrikam.example", "EMAIL")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)

    assert words(known) == words(unknown)


def test_changing_the_case_of_the_email_is_not_a_fresh_start(client, admin):
    for email in ["alice@fabrikam.example", "Alice@Fabrikam.example", "ALICE@FABRIKAM.EXAMPLE", " alice@fabrikam.example",
                  "alice@FABRIKAM.example"]:
        sign_in(client, email, "not the password")
    assert sign_in(client, "aLiCe@fabrikam.example", PASSWORD).status_code == 429


def test_the_lock_holds_one_email_from_one_address(client, admin, teammate):
    fail(client, admin.email, 5)
    assert sign_in(client, admin.email, PASSWORD).status_code == 429
    # Another employee from the same network, and the same employee from another address, still sign in.
    assert sign_in(client, teammate.email, PASSWORD).status_code == 302
    client.logout()
    assert sign_in(client, admin.email, PASSWORD, address="203.0.113.7").status_code == 302


def test_a_success_resets_the_count(client, admin):
    fail(client, admin.email, 4)
    assert sign_in(client, admin.email, PASSWORD).status_code == 302
    client.logout()
    fail(client, admin.email, 4)
    assert sign_in(client, admin.email, PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too(client, db):
    from .factories import EmployeeFactory

    agent = EmployeeFactory(email="ada@microsoft.example", is_staff=True)
    fail(client, agent.email, 5, url=ADMIN_LOGIN)
    response = sign_in(client, agent.email, PASSWORD, url=ADMIN_LOGIN)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert not signed_in(client)
