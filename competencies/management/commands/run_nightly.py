"""`run_nightly [--date YYYY-MM-DD]` (CONTRACT.md): the nightly jobs, synchronously, as of that day."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from competencies.nightly import run_nightly


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date: {value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = (
        "Run the nightly jobs synchronously as of a day (default today): expire overrides, re-evaluate every "
        "organization, raise and clear at-risk notifications, send renewal reminders, then send pending emails. "
        "The same code the Celery tasks run; running it twice for a day changes nothing the second time."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="day", help="the day to run the night for, YYYY-MM-DD (default: today)")
        parser.add_argument("--no-send", action="store_true", help="queue emails only; leave sending to the workers")

    def handle(self, *args, day=None, no_send=False, **options):
        on = _day(day) if day else timezone.localdate()
        try:
            report = run_nightly(day=on, now=None if no_send else timezone.now())
        except Exception as exc:  # one line, as every command of the project
            raise CommandError(f"the night of {on} stopped: {type(exc).__name__}: {exc}") from exc
        refresh = report.refresh
        notify = report.notify
        self.stdout.write(
            f"{on}: {report.overrides_expired} overrides expired; {refresh.organizations} organizations evaluated "
            f"in {report.ranges} ranges, {refresh.changes} level changes; "
            f"at risk +{notify.get('at_risk_raised', 0)}/-{notify.get('at_risk_cleared', 0)}, "
            f"expiring soon +{notify.get('expiring_soon_raised', 0)}/-{notify.get('expiring_soon_cleared', 0)}, "
            f"renewal reminders +{notify.get('reminders_raised', 0)}; {notify.get('emails_queued', 0)} emails queued"
            + (f", {report.emails.get('sent', 0)} sent, {report.emails.get('retry', 0)} to retry" if report.emails else "")
        )
