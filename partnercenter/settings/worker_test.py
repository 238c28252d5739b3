"""A Celery worker started by the tests: test settings, but tasks really go through the broker."""

from .test import *  # noqa: F401,F403

CELERY_TASK_ALWAYS_EAGER = False

# The filesystem broker polls its folder; poll often so the tests wait less.
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "polling_interval": 0.1}  # noqa: F405

# The fault tests send through a real (local, fake) SMTP server: EMAIL_URL names it.
if env("EMAIL_URL", default=""):  # noqa: F405
    MAILERS = {"default": mailer_from_url(env("EMAIL_URL"))}  # noqa: F405
