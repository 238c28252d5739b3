"""`load_catalog [PATH]` (docs/design.md): load the competency catalog, YAML or JSON.

Without PATH, the bundled default catalog. Upserts by code/slug; loading the
same file twice changes nothing. A bad catalog is refused whole: each
problem is printed to stderr as `<file>: <path>: <message>`, nothing is
written, and the command exits non-zero.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from competencies.catalog import DEFAULT_CATALOG_PATH, load_catalog_file
from competencies.catalog_checks import CatalogError
from competencies.progress import took
from competencies.statuses import catalog_changed, reevaluate_everyone_on_commit


def summary(counts: dict[str, dict[str, int]]) -> str:
    """`credentials 52 created, 0 updated, 0 unchanged; …` — zero counts of deletion left out."""
    parts = []
    for kind, numbers in counts.items():
        words = [f"{numbers[k]} {k}" for k in ("created", "updated", "unchanged")]
        if numbers.get("deleted"):
            words.append(f"{numbers['deleted']} deleted")
        parts.append(f"{kind} {', '.join(words)}")
    return "; ".join(parts)


class Command(BaseCommand):
    help = (
        "Load the competency catalog from a YAML or JSON file (default: the bundled late-2017 catalog). "
        "Upserts credentials by code and the rest by slug; loading the same file twice changes nothing. "
        "A bad catalog is refused whole, each problem printed with its path."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", nargs="?", default=None, help=f"a .yaml, .yml or .json catalog file (default: {DEFAULT_CATALOG_PATH})"
        )

    def handle(self, *args, path=None, **options):
        started = time.perf_counter()
        path = path or DEFAULT_CATALOG_PATH
        try:
            counts = load_catalog_file(path)
        except CatalogError as exc:
            for line in exc.lines():
                self.stderr.write(line)
            n = len(exc.problems)
            raise CommandError(f"catalog refused: {n} problem{'s' if n != 1 else ''}") from exc
        line = f"Catalog {path} loaded: {summary(counts)}"
        if catalog_changed(counts):
            today = timezone.localdate()
            reevaluate_everyone_on_commit(day=today)
            line += f"; every organization re-evaluated as of {today} (queued)"
        if options["verbosity"] >= 1:
            self.stdout.write(f"{line}; {took(started)}.")
