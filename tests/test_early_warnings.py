"""Early warnings: 90, 30 and 7 days before the day a membership would stop qualifying for renewal, each at
most once, in-app and by email in each admin's language; cleared when the forecast no longer shows the drop."""

import datetime

import pytest
from django.utils import translation

from competencies.models import EarnedCredential
from memberships.early_warnings import early_warnings_refresh, warning_stage
from memberships.models import Notification, OutboundEmail
from memberships.wording import dashboard_notifications
from partnercenter.night import reevaluate

from .factories import MembershipFactory, build_competency, certified_employee

EXPIRY = datetime.date(2027, 2, 3)  # Jane Doe's 70-534 expires: Cloud Platform Gold → Silver


def before(days: int) -> datetime.date:
    return EXPIRY - datetime.timedelta(days=days)


@pytest.fixture
def gold_member(org, admin):
    """A Gold member until 1 Jun 2027 whose only Gold competency falls to Silver on 3 Feb 2027."""
    build_competency(
        "cloud-platform", name="Cloud Platform",
        silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]],
        gold=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]},
               {"kind": "certified_people", "count": 1, "any_of": ["70-534"]}]],
    )
    certified_employee(org, "70-533", name="John Roe")
    certified_employee(org, "70-534", name="Jane Doe", expires_on=EXPIRY)
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 6, 1))
    return org


def night_of(org, day):
    return reevaluate(organization_ids=[org.pk], day=day)


def warnings(org):
    return list(Notification.objects.filter(organization=org, kind=Notification.Kind.EARLY_WARNING).order_by("pk"))


@pytest.mark.parametrize(("days", "stage"), [(91, None), (90, 90), (31, 90), (30, 30), (8, 30), (7, 7), (1, 7), (0, None)])
def test_it_picks_the_stage_by_the_days_left(days, stage):
    assert warning_stage(decisive_day=EXPIRY, day=before(days)) == stage


@pytest.mark.parametrize(("days", "key"), [(91, None), (90, "90"), (30, "30"), (7, "7")])
def test_it_warns_on_the_boundary_days(gold_member, days, key):
    night_of(gold_member, before(days))
    found = warnings(gold_member)
    if key is None:
        assert found == []
    else:
        [warning] = found
        assert warning.key.endswith(f":{key}") and warning.payload["decisive_day"] == EXPIRY.isoformat()
        assert warning.payload["drops"][0]["cause"] == "expires"


def test_it_warns_at_most_once_per_stage_and_shows_the_latest(gold_member, admin):
    for days in (90, 89, 60, 31, 30, 29, 7, 6, 1):
        night_of(gold_member, before(days))
    night_of(gold_member, before(1))  # a night run twice
    assert [w.key.rsplit(":", 1)[1] for w in warnings(gold_member)] == ["90", "30", "7"]
    assert [w.key.rsplit(":", 1)[1] for w in warnings(gold_member) if w.cleared_on is None] == ["7"]
    assert OutboundEmail.objects.filter(key__startswith="early_warning:", to_email=admin.email).count() == 3


def test_it_clears_the_warning_when_the_drop_disappears(gold_member):
    night_of(gold_member, before(30))
    EarnedCredential.objects.filter(credential__code="70-534").update(expires_on=None)  # renewed
    result = night_of(gold_member, before(29))
    assert result["early_warnings_cleared"] == 1
    assert all(w.cleared_on == before(29) for w in warnings(gold_member))
    assert not [b for b in dashboard_notifications(gold_member, day=before(29)) if b["kind"] == "early_warning"]
    assert OutboundEmail.objects.filter(key__startswith="early_warning:").count() == 1  # no email on clearing


def test_it_shows_the_warning_on_the_dashboard_with_cause_and_remedy(gold_member):
    night_of(gold_member, before(30))
    with translation.override("en"):
        [banner] = [b for b in dashboard_notifications(gold_member, day=before(30)) if b["kind"] == "early_warning"]
    assert "cannot be renewed" in banner["text"] and "Gold" in banner["text"]
    [line] = banner["lines"]
    assert "Jane Doe's 70-534 expires" in line and "Remedy" in line


@pytest.mark.parametrize(("language", "words"), [("zh-hans", "续订"), ("zh-hant", "續約"), ("en", "renew")])
def test_it_emails_each_admin_in_their_language(gold_member, admin, language, words):
    admin.language = language
    admin.save(update_fields=["language"])
    night_of(gold_member, before(7))
    [email] = OutboundEmail.objects.filter(key__startswith="early_warning:")
    assert email.language == language and email.to_email == admin.email
    assert words in email.subject + email.body_text
    assert "70-534" in email.body_text


def test_it_is_not_for_organizations_without_a_membership(org, admin):
    build_competency("cloud-platform", silver=[[{"kind": "certified_people", "count": 1, "any_of": ["70-533"]}]])
    certified_employee(org, "70-533", expires_on=EXPIRY)
    assert early_warnings_refresh(organization_ids=[org.pk], day=before(30))["early_warnings_raised"] == 0
