"""Settings for `make test`. DATABASE_URL and CELERY_BROKER_URL still apply."""

from .base import *  # noqa: F401,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Axes' check for every sign-in with a request; `Client.login()` has none (tests/signin_backend.py).
AUTHENTICATION_BACKENDS = ["tests.signin_backend.AxesUnlessTestClient", "django.contrib.auth.backends.ModelBackend"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
# Tasks queued on commit run in-process unless a test starts a real worker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# On SQLite the test database is a file, not memory, so a real Celery worker started by a test
# (tests/worker.py) can open the same database. One file per test run (the pid), so two runs at
# once never share it; pytest-django deletes it at the end of the run.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import os as _os

    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{_os.getpid()}.sqlite3")}  # noqa: F405
    # A test database need not survive a power cut: skip the fsyncs, keep the memory database's speed.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"  # noqa: F405
