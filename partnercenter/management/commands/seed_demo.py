"""Demo data that makes every page interesting, built through the same import and
evaluation code a real deployment runs.

- Contoso Cloud: a Gold member with Gold Cloud Platform and Silver Application Development.
- Fabrikam: a Silver member whose only Silver competency (Cloud Platform) rested on Jane Doe,
  who associated with Contoso three days ago: at risk.
- Northwind Traders: Silver Data Platform, raised to Gold by an agent's override.
- Tailspin Toys: nothing yet; one person is one exam away; it has invited Liam Patel of Contoso.
"""

import datetime
import json

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from competencies.activity import ImportFailed, import_activity
from competencies.invitations import invitation_send
from competencies.models import Competency, Employee, Organization
from competencies.statuses import statuses_refresh
from partnercenter.night import run_nightly

DEMO_PASSWORD = "demo-partner-2026"
AGENT_EMAIL = "agent@partnercenter.example"
MARKER_MPN_ID = "1000001"


def _d(day: datetime.date) -> str:
    return day.isoformat()


EMPLOYEES = [
    ("ava.chen@contoso.example", "Ava Chen"),
    ("liam.patel@contoso.example", "Liam Patel"),
    ("noah.garcia@contoso.example", "Noah Garcia"),
    ("mia.rossi@contoso.example", "Mia Rossi"),
    ("jane.doe@fabrikam.example", "Jane Doe"),
    ("sam.lee@fabrikam.example", "Sam Lee"),
    ("olivia.wong@northwind.example", "Olivia Wong"),
    ("ethan.kim@northwind.example", "Ethan Kim"),
    ("zoe.martin@tailspin.example", "Zoe Martin"),
]


def demo_records(today: datetime.date) -> tuple[list[dict], list[dict], datetime.date]:
    """Two batches of activity: the past (up to the memberships' purchase) and the recent change."""
    ago = lambda days: _d(today - datetime.timedelta(days=days))  # noqa: E731
    purchase_day = today - datetime.timedelta(days=120)
    past = [{"type": "employee", "email": email, "name": name} for email, name in EMPLOYEES]
    past += ORGANIZATIONS
    past += [{"type": "association", "email": email, "mpn_id": org, "on": ago(400)} for email, org in ASSOCIATIONS]
    past += [{"type": "credential", "email": e, "code": c, "earned_on": ago(days)} for e, c, days in CREDENTIALS]
    for months_ago in range(12, 0, -1):
        period_end = _d(today - datetime.timedelta(days=30 * months_ago))
        past += [
            {"type": "metric", "mpn_id": mpn_id, "metric": "azure_consumption_usd", "period_end": period_end, "value": value}
            for mpn_id, value in MONTHLY_CONSUMPTION
        ]
    past += [
        {"type": "membership", "mpn_id": "1000001", "level": "gold", "purchased_on": _d(purchase_day)},
        {"type": "membership", "mpn_id": "1000002", "level": "silver", "purchased_on": _d(purchase_day)},
        {"type": "membership", "mpn_id": "1000003", "level": "silver", "purchased_on": _d(purchase_day)},
    ]
    recent = [
        {"type": "association", "email": "jane.doe@fabrikam.example", "mpn_id": "1000001", "on": ago(3)},
        {"type": "override", "mpn_id": "1000003", "competency": "data-platform", "level": "gold", "starts_on": ago(30),
         "reason": "Gold exam results delayed by the test provider; confirmed by the partner's PDM.",
         "agent": AGENT_EMAIL},
    ]
    return past, recent, purchase_day


ORGANIZATIONS = [
    {"type": "organization", "mpn_id": "1000001", "name": "Contoso Cloud", "country": "United States",
     "website": "https://contoso.example", "admins": ["ava.chen@contoso.example"],
     "description": "Azure migrations and cloud-native applications for mid-size companies."},
    {"type": "organization", "mpn_id": "1000002", "name": "Fabrikam Consulting", "country": "Germany",
     "website": "https://fabrikam.example", "admins": ["sam.lee@fabrikam.example"],
     "description": "Azure infrastructure consulting in the DACH region."},
    {"type": "organization", "mpn_id": "1000003", "name": "Northwind Traders IT", "country": "China",
     "market": "developing", "website": "https://northwind.example", "admins": ["olivia.wong@northwind.example"],
     "description": "Data platform and analytics services."},
    {"type": "organization", "mpn_id": "1000004", "name": "Tailspin Toys Digital", "country": "Taiwan",
     "admins": ["zoe.martin@tailspin.example"], "description": "A young team starting out on Azure."},
]
ASSOCIATIONS = [
    ("ava.chen@contoso.example", "1000001"), ("liam.patel@contoso.example", "1000001"),
    ("noah.garcia@contoso.example", "1000001"), ("mia.rossi@contoso.example", "1000001"),
    ("jane.doe@fabrikam.example", "1000002"), ("sam.lee@fabrikam.example", "1000002"),
    ("olivia.wong@northwind.example", "1000003"), ("ethan.kim@northwind.example", "1000003"),
    ("zoe.martin@tailspin.example", "1000004"),
]
CREDENTIALS = [  # email, code, earned how many days ago
    # Contoso: Gold Cloud Platform (2 people + USD 100,000), Silver Application Development (2 web exams).
    ("ava.chen@contoso.example", "70-533", 380), ("liam.patel@contoso.example", "70-535", 300),
    ("noah.garcia@contoso.example", "70-480", 390), ("mia.rossi@contoso.example", "70-486", 350),
    # Fabrikam: Silver Cloud Platform held up by Jane alone.
    ("jane.doe@fabrikam.example", "70-533", 390),
    # Northwind: Big Data option of Data Platform at Silver: the same two people, assessment and exam.
    ("olivia.wong@northwind.example", "DP-FOUNDATIONS", 300), ("olivia.wong@northwind.example", "70-762", 280),
    ("ethan.kim@northwind.example", "DP-FOUNDATIONS", 300), ("ethan.kim@northwind.example", "70-764", 270),
    # Tailspin: an assessment but no exam yet: one credential away from Silver Cloud Platform.
    ("zoe.martin@tailspin.example", "AZ-ASSESSMENT", 200),
]
MONTHLY_CONSUMPTION = [("1000001", 12000), ("1000002", 1900), ("1000004", 600)]  # USD of Azure a month


def _lines(records):
    return [json.dumps(r) for r in records]


class Command(BaseCommand):
    help = "Create demo organizations, employees and sign-ins (prints them). Does nothing if they exist."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="the demo's today (YYYY-MM-DD); default today")

    def handle(self, *args, date=None, **options):
        today = datetime.date.fromisoformat(date) if date else timezone.localdate()
        if Organization.objects.filter(mpn_id=MARKER_MPN_ID).exists():
            self.stdout.write("Demo data already present.")
            self._print_logins()
            return
        if not Competency.objects.exists():
            call_command("load_catalog", stdout=self.stdout)
        past, recent, purchase_day = demo_records(today)
        try:
            with transaction.atomic():
                agent, _ = Employee.objects.get_or_create(
                    email=AGENT_EMAIL, defaults={"name": "Avery Agent", "is_staff": True}
                )
                agent.is_staff = True
                agent.set_password(DEMO_PASSWORD)
                agent.save()
                agent.groups.add(Group.objects.get(name="agent"))
                import_activity(lines=_lines(past), source="seed_demo")
                demo_orgs = Organization.objects.filter(mpn_id__in=["1000001", "1000002", "1000003", "1000004"])
                org_ids = list(demo_orgs.values_list("pk", flat=True))
                statuses_refresh(organization_ids=org_ids, day=purchase_day)
                import_activity(lines=_lines(recent), source="seed_demo")
                statuses_refresh(organization_ids=org_ids, day=today)
                # Tailspin wants Liam: his invitation waits on his My certifications page.
                invitation_send(
                    organization=Organization.objects.get(mpn_id="1000004"),
                    email="liam.patel@contoso.example",
                    invited_by=Employee.objects.get(email="zoe.martin@tailspin.example"),
                    day=today,
                )
                # Tonight's run, now: Fabrikam's at-risk alert is raised and its email queued.
                run_nightly(day=today)
                for employee in Employee.objects.filter(email__in=[r["email"] for r in past if r["type"] == "employee"]):
                    employee.set_password(DEMO_PASSWORD)
                    employee.save(update_fields=["password"])
        except ImportFailed as exc:
            raise CommandError(f"demo data refused: {exc}") from exc
        self.stdout.write(self.style.SUCCESS("Demo data created."))
        self._print_logins()

    def _print_logins(self):
        rows = [
            ("ava.chen@contoso.example", "Contoso Cloud admin (Gold member)"),
            ("sam.lee@fabrikam.example", "Fabrikam Consulting admin (Silver member, at risk)"),
            ("jane.doe@fabrikam.example", "Jane Doe, who just moved to Contoso"),
            ("liam.patel@contoso.example", "Contoso employee invited by Tailspin (My certifications)"),
            ("olivia.wong@northwind.example", "Northwind Traders IT admin (override to Gold)"),
            ("zoe.martin@tailspin.example", "Tailspin Toys Digital admin (nothing yet)"),
            (AGENT_EMAIL, "Microsoft agent (Django admin at /admin/)"),
        ]
        self.stdout.write(f"\nSign in at {settings.SITE_URL}/accounts/login/ — every password is {DEMO_PASSWORD}")
        for email, who in rows:
            self.stdout.write(f"  {email:<34} {who}")
