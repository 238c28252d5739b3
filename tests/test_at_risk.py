"""At-risk notifications (docs/design.md, "At risk"), "expiring soon" warnings and renewal reminders."""

import datetime

import pytest
import time_machine
from django.core import mail

from competencies.associations import association_start
from competencies.models import Override
from competencies.overrides import override_apply
from competencies.statuses import statuses_refresh
from memberships.at_risk import achievements_at_risk, at_risk_flags, at_risk_refresh
from memberships.displayed import displayed_levels
from memberships.expiring import expiring_soon_refresh
from memberships.models import Notification, OutboundEmail
from memberships.reminders import renewal_reminders_send
from memberships.wording import AT_RISK_SENTENCE, dashboard_notifications
from partnercenter.night import run_nightly

from .common import DAY, PASSWORD, D, people
from .factories import (
    EmployeeFactory,
    MembershipFactory,
    build_competency,
    certified_employee,
)

SENTENCE = "A recent change to your competency achievement has put your membership renewal eligibility at risk."


@pytest.fixture
def data(db):
    return build_competency("data-platform", name="Data Platform", silver=[[people(1, ["70-764"])]],
                            gold=[[people(2, ["70-764"])]])


@pytest.fixture
def world(org, other_org, admin, cloud, data):
    """Fabrikam, a Gold member since 1 January, Gold in Cloud Platform through Jane and John, Silver in Data Platform."""
    jane = certified_employee(org, "70-533", name="Jane Doe")
    john = certified_employee(org, "70-535", name="John Roe")
    dana = certified_employee(org, "70-764", name="Dana Lee")
    membership = MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 1, 1))
    statuses_refresh(organization_ids=[org.pk, other_org.pk], day=datetime.date(2026, 1, 1))
    return {"org": org, "other": other_org, "admin": admin, "jane": jane, "john": john, "dana": dana,
            "membership": membership, "cloud": cloud, "data": data}


def night(day):
    return run_nightly(day=day)


def at_risk(org):
    return list(Notification.objects.filter(organization=org, kind="at_risk").order_by("id"))


def counts():
    """Notifications and their emails (a departure's own email is tests/test_activity_feed.py's)."""
    return (Notification.objects.count(), OutboundEmail.objects.exclude(key__startswith="departure:").count())


# --- the rule ----------------------------------------------------------------------------------


def test_an_employee_leaving_puts_the_achievement_at_risk_with_what_was_lost_and_why(world):
    org, cloud = world["org"], world["cloud"]
    night(D - DAY)
    assert at_risk(org) == []
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)

    [notification] = at_risk(org)
    assert (notification.raised_on, notification.cleared_on, notification.membership) == (D, None, world["membership"])
    [item] = notification.payload["items"]
    assert (item["competency"], item["level"], item["now"]) == ("Cloud Platform", "gold", "silver")
    assert item["short"]["en"] == ["1 more person with one of 70-533, 70-535"]
    assert item["cause_params"] == {
        "kind": "moved", "employee_id": world["jane"].pk, "name": "Jane Doe", "day": "2026-11-20"}
    assert (notification.payload["renewable"], notification.payload["renewable_through"]) == (False, [])
    assert at_risk_flags(organization_ids=[org.pk], day=D) == {(org.pk, cloud.pk)}
    # "competency still displayed until the term ends"
    assert displayed_levels(organization_ids=[org.pk], day=D)[(org.pk, cloud.pk)] == "gold"


def test_it_emails_the_admins_once_in_their_language_plain_text_and_html(world, django_capture_on_commit_callbacks):
    org, admin = world["org"], world["admin"]
    second = EmployeeFactory(email="zhang@fabrikam.example", name="Zhang Wei", language="zh-hans")
    org.admins.add(second)
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    with django_capture_on_commit_callbacks(execute=True):
        night(D)

    emails = OutboundEmail.objects.filter(key__startswith="at_risk:").order_by("to_email")
    assert [(e.to_email, e.language, e.status) for e in emails] == [
        (admin.email, "en", "sent"), (second.email, "zh-hans", "sent")]
    english = emails[0]
    assert english.subject == "Fabrikam: membership renewal eligibility at risk"
    assert SENTENCE in english.body_text and SENTENCE in english.body_html
    assert "Cloud Platform: Gold lost (now Silver). Short: 1 more person with one of 70-533, 70-535. " \
           "Cause: Jane Doe associated with another organization on Nov. 20, 2026." in english.body_text
    assert "No other competency qualifies for a Gold renewal" in english.body_text
    assert sorted(m.to[0] for m in mail.outbox) == [admin.email, second.email]
    assert mail.outbox[0].alternatives[0].mimetype == "text/html"

    for day in (D, D, D + DAY, D + 2 * DAY):  # the same situation: nothing more
        with django_capture_on_commit_callbacks(execute=True):
            night(day)
    assert counts() == (1, 2) and len(mail.outbox) == 2


def test_it_shows_on_every_dashboard_page_of_the_organization_until_recovered(world, client, teammate, outsider):
    org = world["org"]
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)
    with time_machine.travel(datetime.datetime(2026, 11, 20, 9, tzinfo=datetime.UTC), tick=False):
        client.login(username=teammate.email, password=PASSWORD)
        for url in ("/dashboard/", "/dashboard/membership/", "/dashboard/membership/competencies/",
                    "/dashboard/certifications/"):
            page = client.get(url).content.decode()
            assert SENTENCE in page, url
            assert "Jane Doe associated with another organization on Nov. 20, 2026" in page
        client.logout()
        client.login(username=outsider.email, password=PASSWORD)
        assert SENTENCE not in client.get("/dashboard/").content.decode()
        client.logout()
    # Met again the next day: the banner is gone.
    certified_employee(org, "70-533", name="Nia New", starts_on=D + DAY)
    night(D + DAY)
    with time_machine.travel(datetime.datetime(2026, 11, 21, 9, tzinfo=datetime.UTC), tick=False):
        client.login(username=teammate.email, password=PASSWORD)
        assert SENTENCE not in client.get("/dashboard/").content.decode()


def test_a_new_loss_raises_a_new_notification_and_recovery_clears_it_with_a_back_on_track_email(world):
    org, admin = world["org"], world["admin"]
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)
    # Another competency lost two days later: a new loss, a new notification and email.
    association_start(employee=world["dana"], organization=world["other"], on=D + 2 * DAY)
    night(D + 2 * DAY)
    first, second = at_risk(org)
    assert [i["competency"] for i in second.payload["items"]] == ["Data Platform"]
    assert (second.payload["items"][0]["level"], second.payload["items"][0]["now"]) == ("silver", "none")
    assert OutboundEmail.objects.filter(key__startswith="at_risk:").count() == 2

    # Cloud Platform dropping further (Gold → none) is the same achievement at risk: nothing new.
    association_start(employee=world["john"], organization=world["other"], on=D + 3 * DAY)
    night(D + 3 * DAY)
    assert len(at_risk(org)) == 2

    # Two new people: Cloud Platform is Gold again. The first notification is cleared, a "back on track" email goes out.
    certified_employee(org, "70-533", name="Nia New", starts_on=D + 4 * DAY)
    certified_employee(org, "70-535", name="Omar New", starts_on=D + 4 * DAY)
    night(D + 4 * DAY)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.cleared_on, first.payload["cleared_because"]) == (D + 4 * DAY, "recovered")
    assert second.cleared_on is None
    back = OutboundEmail.objects.get(key__startswith="back_on_track:")
    assert back.to_email == admin.email and "Cloud Platform" in back.body_text
    banners = dashboard_notifications(org, day=D + 4 * DAY)
    assert len(banners) == 1 and "Data Platform: Silver lost (now Not attained)." in banners[0]["lines"][0]

    # Losing Cloud Platform Gold again later is a new loss: a third notification, a third email.
    nia = org.associations.get(employee__name="Nia New").employee
    association_start(employee=nia, organization=world["other"], on=D + 6 * DAY)
    night(D + 6 * DAY)
    third = at_risk(org)[2]
    assert [(i["competency"], i["level"], i["now"]) for i in third.payload["items"]] == [("Cloud Platform", "gold", "silver")]
    assert third.payload["items"][0]["cause_params"] == {
        "kind": "moved", "employee_id": nia.pk, "name": "Nia New", "day": "2026-11-26"}
    assert OutboundEmail.objects.filter(key__startswith="at_risk:").count() == 3


def test_the_notification_ends_with_the_term_and_sends_nothing(world):
    org = world["org"]
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)
    end = world["membership"].ends_on
    night(end - DAY)
    assert at_risk(org)[0].cleared_on is None
    def risk_banners(day):
        return [b for b in dashboard_notifications(org, day=day) if b["kind"] == "at_risk"]

    assert len(risk_banners(end - DAY)) == 1
    assert risk_banners(end) == []  # the term ended today: hidden even before the night
    before = counts()
    night(end)
    [notification] = at_risk(org)
    assert (notification.cleared_on, notification.payload["cleared_because"]) == (end, "term_ended")
    assert counts() == before
    assert achievements_at_risk(organization_ids=[org.pk], day=end) == {}


def test_it_says_when_the_membership_can_still_be_renewed_through_another_competency(world):
    org = world["org"]
    certified_employee(org, "70-764", name="Second Dba")  # Data Platform is Gold too
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)
    [notification] = at_risk(org)
    assert (notification.payload["renewable"], notification.payload["renewable_through"]) == (True, ["Data Platform"])
    assert "You can still renew your Gold membership through Data Platform." == dashboard_notifications(org, day=D)[0]["footer"]


def test_a_silver_member_losing_gold_for_silver_has_nothing_at_risk(world):
    org = world["org"]
    world["membership"].level = "silver"
    world["membership"].save()
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)
    assert at_risk(org) == []
    association_start(employee=world["john"], organization=world["other"], on=D + DAY)
    night(D + DAY)
    [notification] = at_risk(org)
    assert [(i["level"], i["now"]) for i in notification.payload["items"]] == [("silver", "none")]


def test_nothing_is_at_risk_without_an_active_membership(world):
    org = world["org"]
    world["membership"].delete()
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)
    assert at_risk(org) == [] and counts()[1] == 0


def test_a_loss_on_the_term_first_day_counts_what_the_organization_held_entering_it(cloud, org, other_org, admin):
    jane = certified_employee(org, "70-533", name="Jane Doe")
    statuses_refresh(organization_ids=[org.pk], day=D - DAY)  # Silver before the term
    MembershipFactory(organization=org, level="silver", purchased_on=D)
    association_start(employee=jane, organization=other_org, on=D)
    night(D)
    [notification] = at_risk(org)
    assert notification.payload["items"][0]["level"] == "silver"


def test_an_organization_not_yet_evaluated_for_the_day_is_left_for_its_batch(world):
    org = world["org"]
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    # Only the notification step, before the organization's evaluation of D: nothing is decided from a stale status.
    result = at_risk_refresh(organization_ids=[org.pk], day=D + DAY)
    assert result.skipped_stale == 1 and at_risk(org) == []


# --- expiring soon (banner only) ---------------------------------------------------------------


def test_an_override_holding_an_achievement_up_that_lapses_before_the_term_ends_warns(world):
    org, cloud = world["org"], world["cloud"]
    association_start(employee=world["jane"], organization=world["other"], on=datetime.date(2026, 3, 1))
    statuses_refresh(organization_ids=[org.pk], day=datetime.date(2026, 3, 1))
    agent = EmployeeFactory(is_staff=True)
    override_apply(organization=org, competency=cloud, level="gold", reason="r", starts_on=D,
                   expires_on=datetime.date(2026, 12, 20), actor=agent, day=D)
    result = expiring_soon_refresh(organization_ids=[org.pk], day=D)
    assert result.expiring_soon_raised == 1
    [banner] = [b for b in dashboard_notifications(org, day=D) if b["kind"] == "expiring_soon"]
    assert banner["css"] == "warn"
    assert banner["text"] == (
        "Cloud Platform (Gold) relies on something that lapses before Dec. 31, 2026, your membership term's last day.")
    assert banner["lines"] == ["The Gold override, until Dec. 19, 2026."]
    assert expiring_soon_refresh(organization_ids=[org.pk], day=D).expiring_soon_raised == 0  # idempotent
    # Extended past the term's end: it no longer lapses before it, the warning is cleared.
    Override.objects.update(expires_on=datetime.date(2027, 2, 1))
    assert expiring_soon_refresh(organization_ids=[org.pk], day=D).expiring_soon_cleared == 1
    assert [b for b in dashboard_notifications(org, day=D) if b["kind"] == "expiring_soon"] == []


def test_a_credential_holding_an_achievement_up_that_expires_before_the_term_ends_warns(cloud, org, admin):
    certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, "70-535", name="John Roe", expires_on=datetime.date(2026, 12, 15))
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 1, 1))
    expiring_soon_refresh(organization_ids=[org.pk], day=D - DAY)
    [notification] = Notification.objects.filter(kind="expiring_soon")
    assert notification.payload["lapses"] == [
        {"kind": "credential", "what": "John Roe: 70-535", "last_day": "2026-12-14"}]
    assert notification.payload["drops_to"] == "silver"
    assert OutboundEmail.objects.count() == 0  # banner only


def test_a_credential_expiring_after_the_term_or_not_needed_does_not_warn(cloud, org, admin):
    certified_employee(org, "70-533", name="Jane Doe")
    certified_employee(org, "70-535", name="John Roe", expires_on=datetime.date(2027, 1, 1))  # the term's end
    certified_employee(org, "70-533", name="Spare Sam", expires_on=datetime.date(2026, 12, 1))  # not needed: 3 people
    MembershipFactory(organization=org, level="gold", purchased_on=datetime.date(2026, 1, 1))
    assert expiring_soon_refresh(organization_ids=[org.pk], day=D).expiring_soon_raised == 0


# --- renewal reminders -------------------------------------------------------------------------


@pytest.fixture
def member(org, admin):
    return MembershipFactory(organization=org, level="silver", purchased_on=datetime.date(2026, 1, 1))


def reminders(org):
    return list(Notification.objects.filter(organization=org, kind="renewal_reminder").order_by("id"))


def test_it_reminds_15_days_before_the_anniversary_once(member, org, admin):
    anniversary = member.ends_on  # 2027-01-01
    renewal_reminders_send(organization_ids=[org.pk], day=anniversary - 16 * DAY)
    assert reminders(org) == []
    renewal_reminders_send(organization_ids=[org.pk], day=anniversary - 15 * DAY)
    [reminder] = reminders(org)
    assert reminder.payload["when"] == "before" and reminder.raised_on == anniversary - 15 * DAY
    email = OutboundEmail.objects.get()
    assert email.to_email == admin.email and email.subject == "Fabrikam: renew your Silver membership"
    assert "reaches its anniversary on Jan. 1, 2027" in email.body_text
    renewal_reminders_send(organization_ids=[org.pk], day=anniversary - 14 * DAY)
    renewal_reminders_send(organization_ids=[org.pk], day=anniversary - 15 * DAY)
    assert len(reminders(org)) == 1 and OutboundEmail.objects.count() == 1
    assert dashboard_notifications(org, day=anniversary - 14 * DAY)[0]["css"] == "info"
    renewal_reminders_send(organization_ids=[org.pk], day=anniversary)  # the window is over: cleared
    assert reminders(org)[0].cleared_on == anniversary


def test_it_reminds_23_days_after_the_anniversary_during_the_grace(member, org):
    anniversary = member.ends_on
    for day in (anniversary, anniversary + 22 * DAY):
        renewal_reminders_send(organization_ids=[org.pk], day=day)
    assert reminders(org) == []
    renewal_reminders_send(organization_ids=[org.pk], day=anniversary + 23 * DAY)
    [reminder] = reminders(org)
    assert reminder.payload["when"] == "after"
    assert "Benefits continue until Jan. 30, 2027" in OutboundEmail.objects.get().body_text
    renewal_reminders_send(organization_ids=[org.pk], day=anniversary + 30 * DAY)  # lapsed: no row changes but this
    assert reminders(org)[0].cleared_on == anniversary + 30 * DAY
    assert OutboundEmail.objects.count() == 1


def test_a_night_that_missed_the_exact_day_still_reminds_once(member, org):
    renewal_reminders_send(organization_ids=[org.pk], day=member.ends_on - 3 * DAY)
    assert [r.payload["when"] for r in reminders(org)] == ["before"]


def test_a_renewed_membership_gets_no_reminder_and_a_renewal_clears_one(member, org):
    renewal_reminders_send(organization_ids=[org.pk], day=member.ends_on - 15 * DAY)
    MembershipFactory(organization=org, level="silver", purchased_on=member.ends_on - 10 * DAY,
                      starts_on=member.ends_on, source="renewal")
    renewal_reminders_send(organization_ids=[org.pk], day=member.ends_on - 10 * DAY)
    assert reminders(org)[0].cleared_on == member.ends_on - 10 * DAY
    renewal_reminders_send(organization_ids=[org.pk], day=member.ends_on + 23 * DAY)
    assert len(reminders(org)) == 1


def test_the_banner_uses_the_seed_sentence(world):
    assert str(AT_RISK_SENTENCE) == SENTENCE


# --- every email in its recipient's language -------------------------------------------------------


def test_the_at_risk_email_arrives_in_each_admins_language(world, django_capture_on_commit_callbacks):
    org = world["org"]
    org.admins.add(EmployeeFactory(email="zhang@fabrikam.example", name="Zhang Wei", language="zh-hans"),
                   EmployeeFactory(email="chen@fabrikam.example", name="Chen Mei", language="zh-hant"))
    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    with django_capture_on_commit_callbacks(execute=True):
        night(D)

    sent = {m.to[0]: m for m in mail.outbox}
    hans, hant = sent["zhang@fabrikam.example"], sent["chen@fabrikam.example"]
    assert hans.subject == "Fabrikam：成员身份续订资格面临风险"
    assert hant.subject == "Fabrikam：會員資格的續約資格面臨風險"
    for message, words in (
        (hans, ["Zhang Wei，你好：", "你的能力成就的最新变化已使你的成员身份续订资格面临风险。",
                "Cloud Platform：已失去金牌（当前为银牌）。尚缺：还需 1 人持有 70-533, 70-535 之一。",
                "原因：Jane Doe 于 2026年11月20日 关联到另一个组织。",
                "没有其他能力符合金牌续订条件：请最晚于 2026年12月31日（你的期限的最后一天）再次达成此成就。",
                "— 合作伙伴中心"]),
        (hant, ["Chen Mei 您好：", "您的專長認證成就最近的變更，已經對您的會員續約資格產生風險。",
                "Cloud Platform：已失去金級（目前為銀級）。尚缺：尚需 1 人持有 70-533, 70-535 其中之一。",
                "原因：Jane Doe 於 2026年11月20日 關聯至另一個組織。",
                "沒有其他專長認證符合金級續約條件：請最晚於 2026年12月31日（您的期間的最後一天）再次達成此成就。",
                "— 合作夥伴中心"]),
    ):
        html = message.alternatives[0].content
        for text in words:
            assert text in message.body and text in html, text
        assert "Gold" not in message.body and "Cause" not in message.body
    assert "Cause: Jane Doe associated with another organization on Nov. 20, 2026." in sent[world["admin"].email].body


def test_back_on_track_and_reminder_emails_follow_the_recipients_language(world):
    org, admin = world["org"], world["admin"]
    admin.language = "zh-hant"
    admin.save(update_fields=["language"])
    renewal_reminders_send(organization_ids=[org.pk], day=world["membership"].ends_on - 15 * DAY)
    reminder = OutboundEmail.objects.get(key__startswith="renewal_reminder:")
    assert (reminder.language, reminder.subject) == ("zh-hant", "Fabrikam：請續約您的金級會員資格")
    assert "您的金級會員資格將於 2027年1月1日 屆滿週年：請在「會員資格」頁面續約。" in reminder.body_text

    night(D - DAY)
    association_start(employee=world["jane"], organization=world["other"], on=D)
    night(D)
    certified_employee(org, "70-533", name="Nia New", starts_on=D + DAY)
    night(D + DAY)
    back = OutboundEmail.objects.get(key__startswith="back_on_track:")
    assert back.subject == "Fabrikam：已恢復正常"
    assert "好消息：我們先前提醒您的專長認證成就已再次達成（Cloud Platform）。" in back.body_text
