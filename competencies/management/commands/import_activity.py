import io
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from django.utils import timezone

from competencies.activity import ImportFailed, import_activity
from competencies.progress import progress, took
from competencies.statuses import reevaluate_on_commit


class Command(BaseCommand):
    help = (
        "Import partner activity records (JSON Lines; '-' reads stdin). All or nothing: every bad line is "
        "printed as PATH:LINE: reason and nothing is written. Importing the same file twice adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a JSON Lines file, or - for standard input")

    def handle(self, *args, path, **options):
        started = time.perf_counter()
        try:
            # utf-8-sig: a file saved by an editor that writes a byte-order mark reads as plain UTF-8.
            # surrogateescape: a byte that is not UTF-8 is kept, escaped, for the importer to name with its line.
            if path != "-":
                stream = open(path, encoding="utf-8-sig", errors="surrogateescape")
            elif hasattr(sys.stdin, "buffer"):
                stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape")
            else:  # already text (a test, an embedding program)
                stream = sys.stdin
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            with stream:
                lines = progress(stream, stream=self.stderr._out, verbosity=options["verbosity"], what="lines")
                result = import_activity(lines=lines, source=path)
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path}: not UTF-8 text ({exc.reason}), nothing written") from exc
        except ImportFailed as exc:
            for line in exc.lines():
                self.stderr.write(line)
            raise CommandError(f"import refused: {len(exc.errors)} bad line(s) in {path}, nothing written") from exc
        except IntegrityError as exc:
            # Checked against the database as it was read; someone changed it before the write.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(
                f"import refused: the database changed during the import ({first}), nothing written; run it again"
            ) from exc
        # The organizations whose achievements may have changed are re-evaluated as of today.
        reevaluate_on_commit(organization_ids=sorted(result.touched_organization_ids), day=timezone.localdate())
        if options["verbosity"] >= 1:
            self.stdout.write(f"{result.summary()} {took(started)}.")
