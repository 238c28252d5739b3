"""Alerts that tell the truth now: a change of the day that clears or changes an at-risk item updates the
notification in the same on-commit re-evaluation (the eager Celery task), not at the next night."""

import datetime
import json

import pytest
import time_machine
from django.core.management import call_command

from competencies.associations import association_start
from competencies.overrides import override_apply
from competencies.statuses import statuses_refresh
from memberships.models import Notification, OutboundEmail
from memberships.services import membership_buy, membership_renew, membership_upgrade
from memberships.wording import dashboard_notifications
from partnercenter.night import run_nightly

from .common import DAY, PASSWORD, D, people
from .factories import EmployeeFactory, MembershipFactory, MembershipPlanFactory, build_competency, certified_employee


@pytest.fixture
def world(org, other_org, admin):
    """Fabrikam, a Silver member since 1 January: Cloud Platform Gold (Jane, John), Data Platform Silver (Dana)."""
    MembershipPlanFactory(level="silver")
    MembershipPlanFactory(level="gold")
    cloud = build_competency("cloud-platform", name="Cloud Platform", silver=[[people(1, ["70-533", "70-535"])]],
                             gold=[[people(2, ["70-533", "70-535"])]])
    data = build_competency("data-platform", name="Data Platform", silver=[[people(1, ["70-764"])]],
                            gold=[[people(2, ["70-764"])]])
    jane = certified_employee(org, "70-533", name="Jane Doe")
    john = certified_employee(org, "70-535", name="John Roe")
    dana = certified_employee(org, "70-764", name="Dana Lee")
    membership = MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 1, 1))
    statuses_refresh(organization_ids=[org.pk, other_org.pk], day=datetime.date(2026, 1, 1))
    run_nightly(day=D - DAY)
    return {"org": org, "other": other_org, "admin": admin, "jane": jane, "john": john, "dana": dana,
            "membership": membership, "cloud": cloud, "data": data, "agent": EmployeeFactory(is_staff=True)}


def open_at_risk(org):
    return list(Notification.objects.filter(organization=org, kind="at_risk", cleared_on__isnull=True))


def banner_text(org, day=D):
    return " ".join(
        " ".join([b["text"], *b["lines"], b["footer"], *(i["fix_by"] for i in b.get("items", []))])
        for b in dashboard_notifications(org, day=day)
    )


def lose_data_platform(world, capture):
    """Dana leaves on D: Data Platform drops from Silver to no level, at risk at once."""
    with capture(execute=True):
        association_start(employee=world["dana"], organization=world["other"], on=D)
    [notification] = open_at_risk(world["org"])
    assert [(i["competency"], i["level"], i["now"]) for i in notification.payload["items"]] == [
        ("Data Platform", "silver", "none")]
    return notification


def test_it_raises_the_at_risk_notification_on_commit_of_the_departure(world, django_capture_on_commit_callbacks):
    lose_data_platform(world, django_capture_on_commit_callbacks)
    assert "Data Platform: Silver lost (now Not attained)." in banner_text(world["org"])


def test_an_override_clears_the_at_risk_item_at_once(world, django_capture_on_commit_callbacks):
    notification = lose_data_platform(world, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        override_apply(organization=world["org"], competency=world["data"], level="silver", reason="Audit pending",
                       starts_on=D, expires_on=datetime.date(2027, 3, 2), actor=world["agent"], day=D)
    notification.refresh_from_db()
    assert (notification.cleared_on, notification.payload["cleared_because"]) == (D, "recovered")
    assert "Silver lost" not in banner_text(world["org"])


def test_a_re_association_clears_the_at_risk_item_at_once(world, django_capture_on_commit_callbacks):
    notification = lose_data_platform(world, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        association_start(employee=world["dana"], organization=world["org"], on=D + DAY)
    notification.refresh_from_db()
    assert notification.cleared_on == D + DAY


def test_a_new_credential_imported_clears_the_at_risk_item_at_once(world, django_capture_on_commit_callbacks, tmp_path):
    notification = lose_data_platform(world, django_capture_on_commit_callbacks)
    nia = certified_employee(world["org"], name="Nia New", email="nia@fabrikam.example", starts_on=D)
    records = tmp_path / "activity.jsonl"
    records.write_text(json.dumps({"type": "credential", "email": nia.email, "code": "70-764",
                                   "earned_on": D.isoformat()}) + "\n")
    with time_machine.travel(datetime.datetime(2026, 11, 20, 9, tzinfo=datetime.UTC), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_activity", str(records))
    notification.refresh_from_db()
    assert (notification.cleared_on, notification.payload["cleared_because"]) == (D, "recovered")


def test_a_further_drop_updates_the_open_item_instead_of_keeping_the_old_words(world, django_capture_on_commit_callbacks):
    org = world["org"]
    world["membership"].level = "gold"
    world["membership"].save()
    with django_capture_on_commit_callbacks(execute=True):
        association_start(employee=world["jane"], organization=world["other"], on=D)
    [notification] = open_at_risk(org)
    assert notification.payload["items"][0]["now"] == "silver"
    with django_capture_on_commit_callbacks(execute=True):
        association_start(employee=world["john"], organization=world["other"], on=D)
    notification.refresh_from_db()
    [item] = notification.payload["items"]
    assert (item["level"], item["now"], item["cause_params"]["name"]) == ("gold", "none", "John Roe")
    assert "Cloud Platform: Gold lost (now Not attained)." in banner_text(org)
    assert len(open_at_risk(org)) == 1


def test_an_upgrade_replaces_the_old_terms_alerts(world, django_capture_on_commit_callbacks):
    org = world["org"]
    lose_data_platform(world, django_capture_on_commit_callbacks)
    old_end = world["membership"].ends_on
    with django_capture_on_commit_callbacks(execute=True):
        membership_upgrade(organization=org, by=world["admin"], day=D)
    old = Notification.objects.get(organization=org, kind="at_risk", membership=world["membership"])
    assert (old.cleared_on, old.payload["cleared_because"]) == (D, "term_ended")
    # Lost on the Gold term's first day, Data Platform's Silver is at risk in the new term: its end is said.
    [new] = open_at_risk(org)
    assert new.payload["term_ends_on"] == "2027-11-20"
    assert "Dec. 31, 2026" not in banner_text(org) and "Nov. 19, 2027" in banner_text(org)
    assert old_end.isoformat() == "2027-01-01"


def test_an_upgrade_moves_the_expiring_warning_to_the_new_terms_end(world, django_capture_on_commit_callbacks):
    org = world["org"]
    with django_capture_on_commit_callbacks(execute=True):
        association_start(employee=world["dana"], organization=world["other"], on=D)
        override_apply(organization=org, competency=world["data"], level="silver", reason="Audit pending",
                       starts_on=D, expires_on=datetime.date(2026, 12, 20), actor=world["agent"], day=D)
    [warning] = Notification.objects.filter(organization=org, kind="expiring_soon", cleared_on__isnull=True)
    assert warning.payload["term_ends_on"] == "2027-01-01"
    with django_capture_on_commit_callbacks(execute=True):
        membership_upgrade(organization=org, by=world["admin"], day=D)
    [warning] = Notification.objects.filter(organization=org, kind="expiring_soon", cleared_on__isnull=True)
    assert warning.payload["term_ends_on"] == "2027-11-20"
    assert "Jan. 1, 2027" not in banner_text(org)
    assert "Nov. 19, 2027" in banner_text(org)  # until the term's last day


def test_a_renewal_clears_the_renewal_at_risk_alert(world, django_capture_on_commit_callbacks):
    org = world["org"]
    notification = lose_data_platform(world, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        membership_renew(organization=org, by=world["admin"], day=D)
    notification.refresh_from_db()
    assert (notification.cleared_on, notification.payload["cleared_because"]) == (D, "renewed")
    assert open_at_risk(org) == [] and "at risk" not in banner_text(org)


def test_a_membership_bought_on_an_override_that_lapses_before_its_term_ends_warns(org, admin, db,
                                                                                 django_capture_on_commit_callbacks):
    MembershipPlanFactory(level="silver")
    cloud = build_competency("cloud-platform", name="Cloud Platform", silver=[[people(1, ["70-533"])]])
    with django_capture_on_commit_callbacks(execute=True):
        override_apply(organization=org, competency=cloud, level="silver", reason="Migration", starts_on=D,
                       expires_on=datetime.date(2027, 3, 2), actor=EmployeeFactory(is_staff=True), day=D)
    with django_capture_on_commit_callbacks(execute=True):
        membership_buy(organization=org, level="silver", by=admin, day=D)
    [warning] = Notification.objects.filter(organization=org, kind="expiring_soon", cleared_on__isnull=True)
    assert warning.payload["lapses"] == [{"kind": "override", "what": "silver", "last_day": "2027-03-01"}]
    assert "The Silver override, until March 1, 2027." in banner_text(org)


def test_each_at_risk_item_links_to_its_competency_names_the_credential_and_the_next_steps(
    world, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://partner.example"
    world["org"].admins.add(world["admin"])
    lose_data_platform(world, django_capture_on_commit_callbacks)
    [banner] = [b for b in dashboard_notifications(world["org"], day=D) if b["kind"] == "at_risk"]
    [item] = banner["items"]
    assert item["competency_url"] == "/dashboard/membership/competencies/data-platform/"
    assert item["people_url"] == "/dashboard/people/"
    assert item["fix_by"] == "Dec. 31, 2026"  # the term's last day
    assert "Cause: Dana Lee associated with another organization on Nov. 20, 2026." in item["text"]
    assert "Dana Lee held 70-764 Exam 70-764." in item["text"]  # the credential's code and title

    email = OutboundEmail.objects.get(key__startswith="at_risk:", to_email=world["admin"].email)
    for text in ("https://partner.example/dashboard/membership/competencies/data-platform/",
                 "https://partner.example/dashboard/people/", "Fix by Dec. 31, 2026", "Dana Lee held 70-764 Exam 70-764."):
        assert text in email.body_text and text in email.body_html, text


def test_the_banner_on_the_dashboard_links_to_the_competency(world, django_capture_on_commit_callbacks, client):
    lose_data_platform(world, django_capture_on_commit_callbacks)
    client.login(username=world["admin"].email, password=PASSWORD)
    with time_machine.travel(datetime.datetime(2026, 11, 20, 9, tzinfo=datetime.UTC), tick=False):
        page = client.get("/dashboard/").content.decode()
    assert 'href="/dashboard/membership/competencies/data-platform/"' in page
    assert 'href="/dashboard/people/"' in page and "Invite someone" in page
