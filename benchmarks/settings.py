"""Settings of the processes `make bench` starts (gunicorn, Celery workers): production's, plus a trivial view.

Never a production surface: only the benchmark imports this module. It adds
`benchmarks.urls` (the product's URL map and one trivial view, the floor of
the page figures) and serves static files without a collectstatic manifest
(the benchmark does not build one). Everything else is production's: DEBUG
off, the same middleware, templates and database settings.
"""

from partnercenter.settings.production import *  # noqa: F401,F403

ROOT_URLCONF = "benchmarks.urls"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Production's logging is INFO on the console: a request log per hit would measure the terminal.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
# The benchmark signs its viewers in with Django's test client in its own process (a `sessionid` cookie)
# and hands that cookie to wrk: the server reads it under the same name. (Production's `__Host-` name
# only tells browsers to keep the cookie to HTTPS and this host; it costs the server nothing.)
SESSION_COOKIE_NAME = "sessionid"
