"""A Celery worker started by the tests: test settings, but tasks really go through the broker."""

from .test import *  # noqa: F401,F403

CELERY_TASK_ALWAYS_EAGER = False

# The filesystem broker polls its folder; poll often so the tests wait less.
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "polling_interval": 0.1}  # noqa: F405

# The fault tests send through a real SMTP server of their own (tests/fakesmtp.py), named here. Not EMAIL_URL:
# a developer's .env may name a real one, and a test must never mail anyone.
if env("TEST_WORKER_EMAIL_URL", default=""):  # noqa: F405
    MAILERS = {"default": mailer_from_url(env("TEST_WORKER_EMAIL_URL"))}  # noqa: F405
