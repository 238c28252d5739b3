"""The long commands talk like tools: progress on a terminal, silence in a pipe, a closing summary in words."""

import io
from pathlib import Path

from django.core.management import call_command

from .test_import_activity import catalog  # noqa: F401 - the rows the sample file refers to

SAMPLE = Path(__file__).parent / "data" / "activity" / "sample.jsonl"


class Terminal(io.StringIO):
    def isatty(self):
        return True




def test_it_shows_progress_on_a_terminal_and_ends_with_a_summary_in_words(catalog):  # noqa: F811
    out, err = io.StringIO(), Terminal()
    call_command("import_activity", str(SAMPLE), stdout=out, stderr=err)
    assert "lines" in err.getvalue() and "it/s" not in out.getvalue()  # the bar went to the terminal only
    assert out.getvalue().startswith("14 records imported") and out.getvalue().rstrip().endswith(" s.")
    assert "ImportResult(" not in out.getvalue()


def test_it_says_nothing_but_the_summary_when_not_on_a_terminal(catalog):  # noqa: F811
    out, err = io.StringIO(), io.StringIO()
    call_command("import_activity", str(SAMPLE), stdout=out, stderr=err)
    assert err.getvalue() == "" and out.getvalue().startswith("14 records imported")


def test_verbosity_0_is_silent_even_on_a_terminal(catalog):  # noqa: F811
    out, err = io.StringIO(), Terminal()
    call_command("import_activity", str(SAMPLE), stdout=out, stderr=err, verbosity=0)
    call_command("run_nightly", "--date", "2026-11-20", stdout=out, stderr=err, verbosity=0)
    assert out.getvalue() == "" and err.getvalue() == ""


def test_the_night_counts_its_ranges_on_a_terminal_and_says_what_it_did(catalog):  # noqa: F811
    call_command("import_activity", str(SAMPLE), stdout=io.StringIO())
    out, err = io.StringIO(), Terminal()
    call_command("run_nightly", "--date", "2026-11-20", stdout=out, stderr=err)
    assert "ranges" in err.getvalue()
    assert "organizations evaluated" in out.getvalue() and "NightlyReport(" not in out.getvalue()
