import datetime
import io

from django.core.management import call_command

from competencies.models import CompetencyStatus, Organization, StatusChange
from memberships.models import Notification, OutboundEmail

DAY = "2026-11-23"


def levels():
    return {
        (s.organization.mpn_id, s.competency.slug): (s.evaluated_level, s.effective_level)
        for s in CompetencyStatus.objects.select_related("organization", "competency").exclude(effective_level="none")
    }


def test_it_builds_a_gold_member_an_at_risk_member_an_override_and_an_empty_one(db):
    out = io.StringIO()
    call_command("seed_demo", "--date", DAY, stdout=out)
    assert Organization.objects.count() == 4
    assert levels() == {
        ("1000001", "application-development"): ("silver", "silver"),
        ("1000001", "cloud-platform"): ("gold", "gold"),
        ("1000001", "devops"): ("silver", "silver"),  # its Azure engineers count for DevOps too
        ("1000003", "data-platform"): ("silver", "gold"),
    }
    assert StatusChange.objects.filter(organization__mpn_id="1000001", competency__slug="cloud-platform",
                                       day=datetime.date(2026, 7, 26), new_effective="gold").exists()
    at_risk = Notification.objects.get(kind="at_risk")
    assert at_risk.organization.mpn_id == "1000002"
    assert OutboundEmail.objects.filter(to_email="sam.lee@fabrikam.example").count() == 1
    assert "sam.lee@fabrikam.example" in out.getvalue() and "demo-partner-2026" in out.getvalue()


def test_a_second_run_changes_nothing(db):
    call_command("seed_demo", "--date", DAY, stdout=io.StringIO())
    before = (StatusChange.objects.count(), Notification.objects.count(), OutboundEmail.objects.count())
    out = io.StringIO()
    call_command("seed_demo", "--date", DAY, stdout=out)
    assert "already present" in out.getvalue()
    assert (StatusChange.objects.count(), Notification.objects.count(), OutboundEmail.objects.count()) == before
