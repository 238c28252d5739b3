"""Compile the message catalogs (locale/*/LC_MESSAGES/django.po) into the .mo files Django reads; with --extract,
first collect the messages of the code and templates into them (needs GNU gettext)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from partnercenter.translations import compile_catalogs, extract_messages, locale_dir


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--extract", action="store_true", help="run makemessages first (needs xgettext)")
        parser.add_argument("--force", action="store_true", help="compile every catalog, even up-to-date ones")

    def handle(self, *args, extract=False, force=False, **options):
        if extract:
            extract_messages(settings.BASE_DIR)
        written = compile_catalogs(locale_dir(), force=force)
        for path in written:
            self.stdout.write(f"compiled {path.relative_to(settings.BASE_DIR)}")
        if not written:
            self.stdout.write("message catalogs are up to date")
