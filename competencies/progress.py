"""Progress of a long command on a terminal (tqdm), and silence everywhere else.

A command shows progress when its error stream is a terminal and its
verbosity is at least 1: a person watching an import of 700,000 records
sees records, rate and time left; a cron job, a pipe or a test sees nothing
but the command's closing summary.
"""

import time
from collections.abc import Iterable, Iterator
from typing import TextIO

from tqdm import tqdm


def shown(stream: TextIO, verbosity: int) -> bool:
    """Whether progress goes to `stream`: a terminal, and not asked to be quiet."""
    isatty = getattr(stream, "isatty", None)
    return verbosity >= 1 and bool(isatty and isatty())


def progress(iterable: Iterable, *, stream: TextIO, verbosity: int, what: str, total: int | None = None) -> Iterator:
    """`iterable`, counted on `stream` as "<n> <what>" with its rate and time left when it is shown."""
    if not shown(stream, verbosity):
        yield from iterable
        return
    with tqdm(iterable, total=total, unit=f" {what}", unit_scale=True, file=stream, leave=False, dynamic_ncols=True) as bar:
        yield from bar


class Steps:
    """Progress in steps whose count is known (ranges of a night, batches of an export), shown like `progress`."""

    def __init__(self, *, stream: TextIO, verbosity: int, what: str):
        self.bar = None
        self.stream, self.verbosity, self.what = stream, verbosity, what

    def __call__(self, done: int, total: int) -> None:
        if not shown(self.stream, self.verbosity):
            return
        if self.bar is None:
            self.bar = tqdm(total=total, unit=f" {self.what}", file=self.stream, leave=False, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def took(started: float) -> str:
    """How long since `started` (time.perf_counter()), in words a person reads: "in 3.2 s", "in 4 min 12 s"."""
    seconds = time.perf_counter() - started
    if seconds < 60:
        return f"in {seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"in {minutes} min {seconds} s"
