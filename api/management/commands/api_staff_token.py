"""`api_staff_token EMAIL NAME [--scope read|write]`: an agent's staff token, printed once."""

from django.core.management.base import BaseCommand, CommandError

from api.tokens import TokenError, token_create
from competencies.identity import email_key
from competencies.models import Employee


class Command(BaseCommand):
    help = "Create an API token for an agent (a staff employee): it reads any organization named in the request."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("name")
        parser.add_argument("--scope", default="read", choices=["read", "write"])

    def handle(self, *args, email, name, scope, **options):
        agent = Employee.objects.filter(email=email_key(email), is_staff=True, is_active=True).first()  # the one identity
        if agent is None:
            raise CommandError(f"No active staff employee has the email {email}.")
        try:
            _token, raw = token_create(organization=None, name=name, scope=scope, by=agent)
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(raw)
