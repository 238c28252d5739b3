"""`run_nightly [--date YYYY-MM-DD] [--no-send] [--whole]`: the nightly jobs, synchronously, as of that day
(docs/interfaces.md)."""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from competencies.forecast_store import forecast_pending_mark
from competencies.progress import Steps, took
from partnercenter.night import run_nightly


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
        parser.add_argument("--whole", "--forecast-whole", dest="whole", action="store_true",
                            help="evaluate every organization and compute every forecast whole, not only those a "
                            "change marked or a fact changing that day moves (after facts were written around the "
                            "product)")

    def handle(self, *args, day=None, no_send=False, whole=False, **options):
        on = _day(day) if day else timezone.localdate()
        if whole:  # every organization marked as a change marks it: the night evaluates and forecasts it in full
            forecast_pending_mark(organization_ids=None, day=on)
        started = time.perf_counter()
        steps = Steps(stream=self.stderr._out, verbosity=options["verbosity"], what="ranges")
        try:
            report = run_nightly(day=on, now=None if no_send else timezone.now(), on_range=steps)
        except Exception as exc:  # one line, as every command of the project
            raise CommandError(f"the night of {on} stopped: {type(exc).__name__}: {exc}") from exc
        finally:
            steps.close()
        if options["verbosity"] >= 1:
            self.stdout.write(f"{report.summary()}; {took(started)}.")
