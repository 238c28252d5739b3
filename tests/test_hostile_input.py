"""Hostile input never reaches a traceback (issue 19), walked from the URL resolver and the admin's filters.

Every URL pattern (a page added tomorrow is swept without editing this
file), every query parameter a page or Django admin's list reads, every
list filter of every registered model and every form field the product
reads get NUL, other control characters, overlong, non-numeric,
negative and Unicode-confusable values (fullwidth and Arabic-Indic digits,
a dotless ı, a right-to-left override), as anonymous visitors, an
employee, an agent and a superuser. Nothing answers 5xx; a control
character anywhere is 400 (partnercenter/middleware.py); an id that no
row can have is 404, in the product and in Django admin
(competencies/admin_base.py). A page that does not serve a method answers
405.
"""

import importlib
import io
import re
from urllib.parse import quote, urlencode

import pytest
import time_machine
from django.apps import apps
from django.contrib import admin as django_admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from competencies.models import Employee

from . import figures
from .common import NOW
from .test_isolation import url_patterns

HOSTILE = {
    "NUL": "\x00",
    "NUL after an id": "1000001\x00",
    "an escape sequence": "1\x1b[2J",
    "DEL": "1\x7f",
    "overlong number": "9" * 40,
    "overlong text": "x" * 3000,
    "not a number": "abc",
    "negative": "-1",
    "fullwidth digits": "１０００００１",
    "Arabic-Indic digits": "١٢٣",
    "a dotless ı": "lıam",
    "a right-to-left override": "\u202e1",
    "a quote": "1' OR '1'='1",
}
CONTROL = {"NUL", "NUL after an id", "an escape sequence", "DEL"}
# Percent-escapes of bytes that are not UTF-8, put in a path as they are (Django keeps them escaped).
RAW = {"invalid UTF-8": "%FF%FE", "an encoded surrogate": "%ED%A0%80"}
FEW = ["NUL", "overlong number", "not a number", "fullwidth digits"]
ODD_METHODS = ["put", "patch", "delete", "options", "trace"]
QUERY_KEYS = ["page", "competency", "level", "country", "q", "o", "p", "e", "next", "term", "app_label",
              "model_name", "field_name", "_changelist_filters", "_popup", "_to_field"]


@pytest.fixture
def demo(db):
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())
    Employee.objects.create_superuser("root@partnercenter.example", "a-long-root-password-1")


def personas() -> dict[str, Client]:
    clients = {"anonymous": Client()}
    for name, email in (("employee", "ava.chen@contoso.example"), ("agent", "agent@partnercenter.example"),
                        ("superuser", "root@partnercenter.example")):
        clients[name] = Client()
        clients[name].force_login(Employee.objects.get(email=email))
    return clients


def fill(route: str, values: dict[str, str]) -> str:
    """The pattern's URL with each parameter given (already escaped); the others a plain `1` or a real app."""
    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
    url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "competencies"), url)
    return "/" + url.replace("^", "").replace("$", "").replace("\\", "")


def parameters(pattern) -> list[str]:
    return [name for name, _converter in pattern.converters if name != "app_label"]


def hostile_urls(pattern, names):
    for parameter in parameters(pattern):
        for name in names:
            yield name, fill(pattern.route, {parameter: quote(HOSTILE[name], safe="")})
        if names is not FEW:
            for name, raw in RAW.items():
                yield name, fill(pattern.route, {parameter: raw})


class Sweep:
    """Counts requests and collects every answer that breaks a rule."""

    def __init__(self):
        self.problems, self.requests = [], 0

    def check(self, response, where: str, *, expected=None) -> None:
        self.requests += 1
        status = response.status_code
        if status >= 500:
            self.problems.append(f"{where}: {status}")
        elif expected is not None and status not in expected:
            self.problems.append(f"{where}: {status}, expected {sorted(expected)}")

    def assert_clean(self, figure: str) -> None:
        assert self.problems == [], "\n".join(self.problems[:60])
        figures.count(f"hostile_input.{figure}", self.requests)


def expected_for_a_path(pattern, persona: str, name: str):
    """What a hostile value in a URL parameter must get: 400 for a control character, else 404 (or sign in)."""
    if name in CONTROL:
        return {400}
    if pattern.is_admin:
        if persona in ("anonymous", "employee"):
            return {302}  # to the admin's sign-in, before anything reads the id
        if pattern.name == "" or pattern.name.endswith("_change") and "object_id" not in parameters(pattern):
            return {301, 302, 404}  # the admin's catch-all, and Django's redirect of an old change URL
        return {404}
    if pattern.route.startswith("api/"):
        return {401, 404, 405}  # the API asks for a token (401) before it reads any id; tests/test_api_isolation.py
    if persona == "anonymous" and not pattern.is_public:
        return {302, 404}
    return {404, 405}  # 405: a slug-shaped value reaches a page that does not serve the method


def test_a_hostile_value_in_any_url_parameter_is_400_or_404_never_a_traceback(demo):
    sweep, clients = Sweep(), personas()
    with time_machine.travel(NOW, tick=False):
        for pattern in url_patterns():
            if not parameters(pattern):
                continue
            for persona, client in clients.items():
                if pattern.is_admin != (persona in ("agent", "superuser")) and persona != "anonymous":
                    continue
                names = list(HOSTILE) if persona in ("superuser", "employee") else FEW
                for name, url in hostile_urls(pattern, names):
                    for method in ("get", "post"):
                        response = getattr(client, method)(url)
                        expected = expected_for_a_path(pattern, persona, name)
                        if name in RAW or method == "post" and pattern.is_admin and persona != "anonymous":
                            expected = None  # any clear answer will do (a form, a redirect, a 404)
                        if pattern.name == "password-set":
                            expected = None  # Django's set-password page says the link is invalid (its token is no id)
                        sweep.check(response, f"{persona} {method.upper()} {url[:120]!r} ({name})", expected=expected)
    assert sweep.requests > 1000
    sweep.assert_clean("url_parameters")


def simple_urls():
    """The pages whose URL takes no parameter, or only an app label: (pattern, url)."""
    for pattern in url_patterns():
        if not parameters(pattern) and pattern.route:
            yield pattern, fill(pattern.route, {})


def test_a_hostile_value_in_any_query_parameter_never_reaches_a_traceback(demo):
    sweep, clients = Sweep(), personas()
    with time_machine.travel(NOW, tick=False):
        for pattern, url in simple_urls():
            persona = "superuser" if pattern.is_admin else ("anonymous" if pattern.is_public else "employee")
            for name, value in HOSTILE.items():
                query = urlencode({key: value for key in QUERY_KEYS})
                response = clients[persona].get(f"{url}?{query}")
                sweep.check(response, f"{persona} GET {url}?…={name}", expected={400} if name in CONTROL else None)
    sweep.assert_clean("query_parameters")


def list_filter_parameters(client, model) -> tuple[str, list[str]]:
    """The changelist's URL and every query parameter its filters and date hierarchy read."""
    info = model._meta.app_label, model._meta.model_name
    url = reverse("admin:%s_%s_changelist" % info)
    changelist = client.get(url).context["cl"]
    names = [name for spec in changelist.filter_specs for name in spec.expected_parameters()]
    if changelist.date_hierarchy:
        names += [f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    return url, names


def test_a_hostile_value_in_any_list_filter_is_400_or_404_never_a_traceback(demo):
    sweep, clients = Sweep(), personas()
    filters = 0
    with time_machine.travel(NOW, tick=False):
        for model in django_admin.site._registry:
            for persona in ("superuser", "agent"):
                client = clients[persona]
                if client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
                              ).status_code != 200:
                    continue  # not the agent's to see (tests/test_isolation.py holds that)
                url, names = list_filter_parameters(client, model)
                filters += len(names)
                for parameter in names:
                    for name, value in HOSTILE.items():
                        response = client.get(url, {parameter: value})
                        expected = {400} if name in CONTROL else None
                        if parameter.endswith(("__id__exact", "__year", "__month", "__day")) and name in (
                                "not a number", "overlong text", "fullwidth digits"):
                            expected = {404}  # a value the field cannot hold (admin_base.MalformedIdIs404)
                        sweep.check(response, f"{persona} GET {url}?{parameter}={name}", expected=expected)
    assert filters > 30
    sweep.assert_clean("list_filters")


# Every field a form of the product reads, and what admin's forms and actions read.
FORM_FIELDS = ["organization", "mpn_id", "level", "benefit", "description", "website", "country", "public_profile",
               "name", "email", "need", "reason", "competency", "expires_on", "starts_on", "username", "password",
               "answer", "started", "language", "next", "action", "_selected_action", "post", "preview_token",
               "_preview", "select_across", "index"]


def test_a_hostile_value_in_any_form_field_never_reaches_a_traceback(demo):
    sweep, clients = Sweep(), personas()
    with time_machine.travel(NOW, tick=False):
        posts = [(p, u, "anonymous" if p.is_public else "employee") for p, u in simple_urls() if not p.is_admin]
        posts += [(None, reverse("partner", args=["1000001"]), "anonymous")]
        posts += [(None, reverse("admin:competencies_override_add"), "agent"),
                  (None, reverse("admin:competencies_override_changelist"), "agent")]
        for _pattern, url, persona in posts:
            for name, value in HOSTILE.items():
                response = clients[persona].post(url, {field: value for field in FORM_FIELDS})
                # A form's text may hold other control characters (its fields judge them); never a NUL.
                sweep.check(response, f"{persona} POST {url} ({name})", expected={400} if "\x00" in value else None)
    sweep.assert_clean("form_posts")


def test_a_page_answers_405_to_a_method_it_does_not_serve(demo):
    """PUT, PATCH, DELETE, OPTIONS and TRACE: 405 on every page of the product that shows something on GET."""
    sweep, clients = Sweep(), personas()
    pages = 0
    with time_machine.travel(NOW, tick=False):
        # The API's schema and docs are DRF views: OPTIONS describes them, as an API's clients expect.
        urls = [(p, u) for p, u in simple_urls() if not p.is_admin and not p.route.startswith("api/")]
        urls += [(None, reverse("partner", args=["1000001"])), (None, reverse("dashboard:member-remove", args=[
            Employee.objects.get(email="ava.chen@contoso.example").pk]))]
        for _pattern, url in urls:
            for persona in ("anonymous", "employee"):
                client = clients[persona]
                if client.get(url).status_code != 200:
                    continue
                pages += 1
                for method in ODD_METHODS:
                    sweep.check(getattr(client, method)(url), f"{persona} {method.upper()} {url}", expected={405})
    assert pages >= 12  # people, profile, remove, partner and the other pages
    sweep.assert_clean("odd_methods")
