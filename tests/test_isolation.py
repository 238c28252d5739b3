"""Isolation, walked from the URL resolver: a page added tomorrow is covered without editing this file.

- An admin of organization A asks every URL pattern of the product, by GET
  and by POST, with every id, slug and MPN ID of the other organizations
  (in the URL and in every form field the product reads): nothing of
  theirs is shown, nothing changes, and a request that names one of their
  rows gets 404.
- Anonymous users reach only the sign-in pages, the public directory and
  the partner profiles: everything else sends them to sign in.
- Employees cannot reach Django admin (every admin URL sends them to the
  admin sign-in).
- Agents reach exactly what the "agent" group grants (docs/rules.md,
  "Overrides (agents)"); a model registered in admin tomorrow is refused
  to them until the rule names it.
"""

import importlib
import io
import itertools
import re
from dataclasses import dataclass

import pytest
import time_machine
from django.apps import apps
from django.contrib import admin as django_admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db.models import ForeignKey
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter, PathConverter, SlugConverter, StringConverter

from competencies.models import Competency, Employee, Invitation, Organization
from competencies.selectors import organization_of
from memberships import services
from memberships.models import Benefit, Order, Redemption, Referral

from . import figures
from .common import NOW
from .common import TODAY as D
from .snapshot import changes, database_snapshot

DEMO_PASSWORD = "demo-partner-2026"

# The pages anyone may reach: sign-in and sign-out, the language switch, the directory and its profiles.
PUBLIC = {"login", "logout", "set_language", "partners", "partner", "admin:login", "admin:logout", "admin:jsi18n",
          "favicon", "password-set", "password-set-done"}
# The root only redirects to the dashboard.
ROOT = ""


@dataclass(frozen=True)
class Pattern:
    route: str  # the pattern's text, prefixes included
    name: str  # namespaced name, "" when it has none
    converters: tuple  # (parameter name, converter or "regex")

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin:") or self.route.startswith("admin/")

    @property
    def is_public(self) -> bool:
        return self.name in PUBLIC

    @property
    def is_token_api(self) -> bool:
        """The REST API takes tokens, not sessions: tests/test_api_isolation.py sweeps it with the others' tokens."""
        return self.route.startswith("api/v1/")


def url_patterns() -> list[Pattern]:
    """Every pattern the URL resolver knows, with its parameters."""
    found = []

    def walk(resolver, prefix, namespace):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = ":".join(part for part in (namespace, entry.namespace) if part)
                walk(entry, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
                converters = dict(getattr(entry.pattern, "converters", {}))
                for group in re.findall(r"\(\?P<(\w+)>", str(entry.pattern)):
                    converters.setdefault(group, "regex")
                found.append(Pattern(route, name, tuple(sorted(converters.items(), key=lambda kv: kv[0]))))

    walk(get_resolver(), "", "")
    return found


def build_url(pattern: Pattern, values: dict) -> str:
    if pattern.name:
        return reverse(pattern.name, kwargs=values or None)
    if pattern.route == ROOT:
        return "/"
    # The admin's catch-all: any path under /admin/.
    return "/" + re.sub(r"\(\?P<\w+>[^)]*\)\$?", values.get("url", "nowhere/"), pattern.route).replace("^", "")


# ---------------------------------------------------------------------------
# The world: the demo organizations, with purchases, redemptions and referrals of their own


@dataclass
class World:
    own: Organization
    employee: Employee
    others: list[Organization]
    other_int_ids: list[int]  # ids of every row of the other organizations, none of which is an id of A's
    shared_int_ids: list[int]  # ids of the others' rows that are also an id of some row of A's
    markers: list[str]  # words that only a page of another organization would show
    slugs: list[str]


def organization_rows(organization_ids):
    """(model, pk) of every row that belongs to these organizations (a foreign key to Organization)."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, ForeignKey) and field.related_model is Organization:
                for pk in model.objects.filter(**{f"{field.name}_id__in": organization_ids}).values_list("pk", flat=True):
                    yield model, pk


@pytest.fixture
def world(db):
    importlib.import_module("competencies.migrations.0003_agent_group").agent_group_sync(apps)
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=io.StringIO())
        organizations = {o.mpn_id: o for o in Organization.objects.all()}
        own, others = organizations["1000001"], [o for mpn, o in sorted(organizations.items()) if mpn != "1000001"]
        for organization in [own, *others]:
            admin = organization.admins.first()
            try:
                services.maps_buy(organization=organization, by=admin, day=D)
            except services.Refused:
                pass
            for benefit in Benefit.objects.filter(price_usd__isnull=True):
                try:
                    services.benefit_redeem(organization=organization, benefit=benefit, by=admin, day=D)
                except services.Refused:
                    pass
            services.referral_create(organization=organization, name=f"Customer of {organization.name}",
                                     email=f"buyer@customer-of-{organization.mpn_id}.example", need="Azure help", day=D)
        employee = Employee.objects.get(email="ava.chen@contoso.example")

    other_ids = [o.pk for o in others]
    # An organization's people are its rows too (the People pages take their ids).
    home = {e.pk: o.pk for e in Employee.objects.all() if (o := organization_of(e, day=D)) is not None}
    own_rows = {pk for _model, pk in organization_rows([own.pk])} | {own.pk} | {e for e, o in home.items() if o == own.pk}
    other_rows = {pk for _model, pk in organization_rows(other_ids)} | set(other_ids)
    other_rows |= {e for e, o in home.items() if o in other_ids}
    members = [e for e in Employee.objects.all() if home.get(e.pk) in other_ids]
    markers = [o.name for o in others] + [o.mpn_id for o in others] + [o.description for o in others if o.description]
    markers += [e.email for e in members] + [e.name for e in members]
    markers += list(Order.objects.filter(organization__in=others).values_list("reference", flat=True))
    markers += list(Redemption.objects.filter(organization__in=others).values_list("code", flat=True))
    markers += [r.email for r in Referral.objects.filter(organization__in=others)]
    assert Order.objects.filter(organization__in=others).exists() and Redemption.objects.filter(organization__in=others).exists()
    slugs = sorted(set(Competency.objects.values_list("slug", flat=True)) | set(Benefit.objects.values_list("slug", flat=True)))
    return World(own=own, employee=employee, others=others, other_int_ids=sorted(other_rows - own_rows),
                 shared_int_ids=sorted(other_rows & own_rows), markers=[m for m in markers if m], slugs=slugs)


def candidate_values(pattern: Pattern, world: World, *, few: bool) -> list[dict]:
    """Every assignment of the pattern's parameters to ids, slugs and MPN IDs of the other organizations."""
    other = world.others
    choices = {}
    for name, converter in pattern.converters:
        if isinstance(converter, IntConverter):
            if name == "content_type_id":
                values = [ContentType.objects.get_for_model(Organization).pk]
            else:
                values = world.other_int_ids + world.shared_int_ids
        elif isinstance(converter, SlugConverter):
            values = world.slugs + [o.name.lower().replace(" ", "-") for o in other]
        elif isinstance(converter, (StringConverter, PathConverter)):
            values = [o.mpn_id for o in other] + [str(pk) for pk in world.other_int_ids]
        elif name == "app_label":
            values = sorted({m._meta.app_label for m in django_admin.site._registry})
        else:
            values = ["nowhere/"]
        choices[name] = values[:2] if few else values
    names = list(choices)
    return [dict(zip(names, combo)) for combo in itertools.product(*(choices[n] for n in names))]


def names_a_row_of_the_others(values: dict, world: World) -> bool:
    """True when a URL parameter is an id or MPN ID of another organization's row and of none of A's."""
    others = {str(pk) for pk in world.other_int_ids} | {o.mpn_id for o in world.others}
    return any(str(v) in others for v in values.values())


def form_naming_the_others(world: World) -> dict:
    """Every form field the product reads, set to another organization (and nonsense where that is all it takes)."""
    target = world.others[0]
    return {
        "organization": target.mpn_id, "mpn_id": target.mpn_id, "level": "silver", "benefit": "maps",
        "description": "Written by an outsider", "website": "https://outsider.example", "country": "Nowhere",
        "public_profile": "on", "name": "Mallory", "email": "mallory@outsider.example", "need": "Let me in",
        "reason": "outsider", "competency": target.pk, "expires_on": "2027-01-01", "starts_on": "2026-11-23",
    }


def shown(response, markers) -> list[str]:
    body = response.content.decode(errors="replace") if hasattr(response, "content") else ""
    return [m for m in markers if m in body]


# ---------------------------------------------------------------------------


def test_the_sweep_sees_every_page_of_the_product():
    names = {p.name for p in url_patterns()}
    # The pages of docs/interfaces.md, and the admin's, are all found (the walk itself cannot silently miss them).
    for name in ["login", "dashboard:home", "dashboard:membership", "dashboard:competencies", "dashboard:competency",
                 "dashboard:benefits", "dashboard:certifications", "dashboard:order", "dashboard:redemption",
                 "dashboard:redeem", "partners", "partner", "admin:index", "admin:competencies_override_revoke"]:
        assert name in names


def test_an_employee_of_one_organization_sees_and_changes_nothing_of_another(world):
    client = Client()
    client.force_login(world.employee)
    before = database_snapshot()
    form = form_naming_the_others(world)
    problems, requests, not_found = [], 0, {}
    with time_machine.travel(NOW, tick=False):
        for pattern in url_patterns():
            if pattern.is_public or pattern.route == ROOT or pattern.is_token_api:
                continue  # public pages show any partner's public profile: the anonymous sweep covers them
            for values in candidate_values(pattern, world, few=pattern.is_admin):
                url = build_url(pattern, values)
                for method in ("get", "post"):
                    # The others' ids go in the URL and, posted, in every form field (no view reads a query string).
                    response = client.post(url, form) if method == "post" else client.get(url)
                    requests += 1
                    where = f"{method.upper()} {url} ({pattern.name or pattern.route})"
                    if response.status_code >= 500:
                        problems.append(f"{where}: {response.status_code}")
                    if leaked := shown(response, world.markers):
                        problems.append(f"{where}: shows {leaked[:3]}")
                    if pattern.is_admin:
                        if not (response.status_code == 302 and response["Location"].startswith("/admin/login/")):
                            problems.append(f"{where}: an employee reached admin ({response.status_code})")
                        continue
                    named = names_a_row_of_the_others(values, world) or method == "post"
                    if named and response.status_code not in (404, 405):
                        problems.append(f"{where}: {response.status_code}, not 404")
                    if named and response.status_code == 404:
                        not_found[pattern.name] = not_found.get(pattern.name, 0) + 1
                    if method == "post" and response.status_code == 405 and client.get(url).status_code == 405:
                        problems.append(f"{where}: 405 on a page that does not answer GET either")
        after = database_snapshot()
    assert problems == [], "\n".join(problems)
    assert changes(before, after) == {}
    # Still signed in as A's admin at the end: the sweep never ran anonymously by accident.
    assert world.own.name in client.get(reverse("dashboard:home")).content.decode()
    # Every dashboard action and every page with a parameter answered 404 to the other organizations' ids.
    dashboard = {p.name for p in url_patterns() if p.name.startswith("dashboard:")}
    posting = {"dashboard:membership-buy", "dashboard:membership-upgrade", "dashboard:membership-renew",
               "dashboard:maps-buy", "dashboard:redeem", "dashboard:profile", "dashboard:associate",
               "dashboard:people-add", "dashboard:mcp-id"}
    # (A slug names a catalog entry, which belongs to no organization: those pages show A's own evaluation of it.)
    with_parameter = {p.name for p in url_patterns() if p.name.startswith("dashboard:")
                      and any(not isinstance(c, SlugConverter) for _n, c in p.converters)}
    assert posting <= dashboard and (posting | with_parameter) - set(not_found) == set()
    assert requests > 300
    figures.count("isolation.requests_naming_another_organization", requests)


def test_anonymous_users_reach_only_sign_in_the_directory_and_profiles(world):
    client = Client()
    before = database_snapshot()
    reached = set()
    problems, requests = [], 0
    with time_machine.travel(NOW, tick=False):
        for pattern in (p for p in url_patterns() if not p.is_token_api):
            for values in candidate_values(pattern, world, few=True):
                url = build_url(pattern, values)
                for method in ("get", "post"):
                    response = getattr(client, method)(url, form_naming_the_others(world) if method == "post" else {})
                    requests += 1
                    to_sign_in = response.status_code == 302 and response["Location"].split("?")[0] in (
                        reverse("login"), reverse("admin:login"))
                    if response.status_code >= 500:
                        problems.append(f"{method.upper()} {url}: {response.status_code}")
                    if pattern.route == ROOT:
                        if response.status_code != 302 or response["Location"] != reverse("dashboard:home"):
                            problems.append(f"{method.upper()} {url}: the root should only redirect to the dashboard")
                        continue
                    if not pattern.is_public and not to_sign_in:
                        problems.append(f"{method.upper()} {url} ({pattern.name}): {response.status_code}, not sent to sign in")
                    if pattern.is_public and response.status_code == 200:
                        reached.add(pattern.name)
        after = database_snapshot()
    assert problems == [], "\n".join(problems)
    assert changes(before, after) == {}
    assert {"login", "partners", "partner", "admin:login"} <= reached
    figures.count("isolation.anonymous_requests", requests)


# ---------------------------------------------------------------------------
# Agents: exactly what the "agent" group grants

# docs/rules.md, "Overrides (agents)": view organizations, statuses, status changes and memberships; add, change
# and view overrides; view the override audit; add, change and view the catalog. No delete permission at all.
CATALOG = ["competencies.credential", "competencies.centerofexcellence", "competencies.competency",
           "competencies.attainmentoption", "competencies.requirement", "competencies.metric",
           "memberships.membershipplan", "memberships.benefit"]
AGENT_MAY = {
    **{label: {"view"} for label in ["competencies.organization", "competencies.competencystatus",
                                     "competencies.statuschange", "memberships.membership",
                                     "competencies.overrideaudit"]},
    "competencies.override": {"add", "change", "view"},
    **{label: {"add", "change", "view"} for label in CATALOG},
}


def admin_urls(model, obj_pk):
    info = model._meta.app_label, model._meta.model_name
    yield "view", reverse("admin:%s_%s_changelist" % info)
    yield "view", reverse("admin:%s_%s_change" % info, args=[obj_pk])
    yield "view", reverse("admin:%s_%s_history" % info, args=[obj_pk])
    yield "add", reverse("admin:%s_%s_add" % info)
    yield "delete", reverse("admin:%s_%s_delete" % info, args=[obj_pk])


def test_agents_reach_exactly_what_their_group_grants(world):
    agent = Employee.objects.get(email="agent@partnercenter.example")
    assert agent.is_staff and not agent.is_superuser and list(agent.groups.all()) == [Group.objects.get(name="agent")]
    client = Client()
    client.force_login(agent)
    before = database_snapshot()
    problems, empty = [], set()
    with time_machine.travel(NOW, tick=False):
        assert client.get(reverse("admin:index")).status_code == 200
        for model, _model_admin in django_admin.site._registry.items():
            label = model._meta.label_lower
            may = AGENT_MAY.get(label, set())
            obj = model._base_manager.order_by("pk").first()
            if obj is None:
                empty.add(label)
            obj_pk = obj.pk if obj is not None else 999999
            for action, url in admin_urls(model, obj_pk):
                if obj is None and str(obj_pk) in url:
                    continue  # no row to ask about (the admin would only say it does not exist)
                allowed = action in may or (action == "view" and "change" in may)
                status = client.get(url).status_code
                figures.count("isolation.agent_admin_requests")
                if allowed and status != 200 or not allowed and status != 403:
                    problems.append(f"GET {url}: {status}, expected {200 if allowed else 403}")
            # Writing: a view-only model refuses a change outright; nothing is deleted by anyone.
            info = model._meta.app_label, model._meta.model_name
            if obj is None:
                continue
            if "change" not in may:
                status = client.post(reverse("admin:%s_%s_change" % info, args=[obj_pk]), {}).status_code
                if status != 403:
                    problems.append(f"POST change {label}: {status}, expected 403")
            status = client.post(reverse("admin:%s_%s_delete" % info, args=[obj_pk]), {"post": "yes"}).status_code
            if status != 403:
                problems.append(f"POST delete {label}: {status}, expected 403")
        # The override's own page (revoke) needs the change permission, which agents hold.
        override = apps.get_model("competencies", "Override").objects.get()
        assert client.get(reverse("admin:competencies_override_revoke", args=[override.pk])).status_code == 200
        after = database_snapshot()
    assert problems == [], "\n".join(problems)
    assert changes(before, after) == {}
    assert empty <= {"axes.accessfailurelog", "axes.accessattempt"}  # every product model was asked about a row
    # The rule names only models that exist and every one it names (but requirements, edited inline) is in admin.
    registered = {m._meta.label_lower for m in django_admin.site._registry}
    assert set(AGENT_MAY) - registered == {"competencies.requirement"}


def test_the_what_if_plan_naming_another_organizations_people_is_not_found(world):
    """The planner reads its plan from the query string (the sweep sends none): each person and invitation id of
    another organization, in each parameter that names one, answers 404 and shows nothing of theirs."""
    client = Client()
    client.force_login(world.employee)
    others = [o.pk for o in world.others]
    people = [e.pk for e in Employee.objects.all() if (o := organization_of(e, day=D)) is not None and o.pk in others]
    invitations = list(Invitation.objects.filter(organization_id__in=others).values_list("pk", flat=True))
    url = reverse("dashboard:what-if")
    problems = []
    with time_machine.travel(NOW, tick=False):
        assert client.get(url).status_code == 200
        for query in ([f"leave={pk}" for pk in people[:20]] + [f"invite={pk}" for pk in invitations]
                      + [f"earn_who={pk}&earn_code=AZ-900&earn_on={D}" for pk in people[:5]]):
            response = client.get(f"{url}?{query}")
            if response.status_code != 404 or shown(response, world.markers):
                problems.append(f"{query}: {response.status_code} {shown(response, world.markers)[:3]}")
    assert people and problems == []
