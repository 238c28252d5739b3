"""The message catalogs: extracting them from the source, compiling them for Django.

`locale/<language>/LC_MESSAGES/django.po` is the source of every
translation and lives in git; the compiled `.mo` files next to them are
build output (gitignored). Compiling is pure Python (polib), so `make run`
and `make test` need no GNU gettext; extracting (`make messages`) runs
Django's `makemessages`, which does.
"""

import os
from pathlib import Path

import polib
from django.conf import settings

# The languages with a catalog: every one of settings.LANGUAGES but the source language.
CATALOG_LANGUAGES = ["zh_Hans", "zh_Hant"]
# What `makemessages` leaves out: the virtualenv, build output, benchmarks and tests (no user-facing words).
IGNORED = [".venv", "var", "static_root", "test-artifacts", "benchmarks", "tests", "bin", ".ci", "docs"]


def locale_dir() -> Path:
    return Path(settings.LOCALE_PATHS[0])


def catalogs(root: Path | None = None) -> list[Path]:
    """Every `.po` file under the locale directory."""
    return sorted((root or locale_dir()).glob("*/LC_MESSAGES/*.po"))


def compile_catalogs(root: Path | None = None, *, force: bool = False) -> list[Path]:
    """Compile each `.po` whose `.mo` is missing or older; return the `.mo` files written.

    Like `msgfmt`, untranslated and fuzzy entries are left out (Django then
    shows the English). Written to a temporary file and renamed, so a
    running server never reads half a catalog.
    """
    written = []
    for po_path in catalogs(root):
        mo_path = po_path.with_suffix(".mo")
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        partial = mo_path.with_suffix(".mo.partial")
        polib.pofile(str(po_path)).save_as_mofile(str(partial))
        os.replace(partial, mo_path)
        written.append(mo_path)
    return written


def extract_messages(root: Path) -> None:
    """Run `makemessages` for every catalog language on the source tree at `root` (needs GNU gettext).

    The messages go to `root/locale`; existing translations are merged in,
    new messages come out untranslated and changed ones fuzzy. Locations
    name files only (no line numbers), so moving code does not touch the
    catalogs.
    """
    from django.core.management import call_command

    cwd = os.getcwd()
    os.chdir(root)
    try:
        call_command(
            "makemessages",
            locale=CATALOG_LANGUAGES,
            ignore_patterns=IGNORED,
            add_location="file",
            no_obsolete=True,
            no_wrap=True,
            verbosity=0,
        )
    finally:
        os.chdir(cwd)
