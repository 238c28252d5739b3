"""Figures of the security runs (inputs tried, faults injected, data lost), written where docs/security.md reads them.

Tests call `count(name, n)`; at the end of the run the totals are merged
into test-artifacts/security-figures.json (a run of part of the suite
keeps the other figures of the previous run), with the day and the
database and broker they ran on.
"""

import datetime
import json
from collections import Counter
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "test-artifacts" / "security-figures.json"
_counts: Counter = Counter()
_values: dict = {}


def count(name: str, n: int = 1) -> None:
    _counts[name] += n


def record(name: str, value) -> None:
    """A figure that is not a count (a breakdown, a seed): the last value recorded in the run."""
    _values[name] = value


def write(*, database: str, broker: str) -> None:
    if not _counts and not _values:
        return
    FIGURES.parent.mkdir(exist_ok=True)
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    run = {"at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "database": database, "broker": broker}
    for name, value in sorted({**_counts, **_values}.items()):
        figures[name] = {"value": value, **run}
    FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    _counts.clear()
    _values.clear()
