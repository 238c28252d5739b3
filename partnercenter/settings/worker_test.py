"""A Celery worker started by the tests: test settings, but tasks really go through the broker."""

from .test import *  # noqa: F401,F403

CELERY_TASK_ALWAYS_EAGER = False
