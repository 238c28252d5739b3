"""A real Celery worker, in its own process, against the configured broker and the test database.

Used by the tests marked `worker`: they prove the path through the broker
(Redis in CI) that eager mode would skip.
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from celery import Celery
from django.conf import settings
from django.db import connection

from partnercenter.celery import app

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user = db.get("USER") or "postgres"
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{user}@{host}:{port}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def broker_app(broker_url: str | None = None) -> Celery:
    """The project's Celery app, or one like it on another broker (a test's own Redis server)."""
    if broker_url is None or broker_url == settings.CELERY_BROKER_URL:
        return app
    other = Celery("partnercenter", set_as_current=False)
    other.config_from_object("django.conf:settings", namespace="CELERY")
    # The read and write URLs: Celery prefers the CELERY_BROKER_URL environment variable to `broker_url`.
    other.conf.update(broker_url=broker_url, broker_read_url=broker_url, broker_write_url=broker_url,
                      broker_transport_options={}, task_always_eager=False)
    return other


@contextmanager
def celery_worker(*, concurrency: int = 1, extra_env: dict | None = None, broker_url: str | None = None,
                  include: tuple[str, ...] = (), purge: bool = True, graceful: bool = True):
    """Start `celery worker` on the test database; stop it on exit. Tasks go through the broker meanwhile.

    The worker is the leader of its own process group (a fault test may kill the whole group, and only
    it); `include` names extra modules it imports (tests/fault_hooks.py). `graceful=False` kills it at
    the end instead of waiting for its warm shutdown (for tests that waited until it was idle).
    """
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        raise RuntimeError("a real worker needs a database file or server: run with DATABASE_URL")
    broker_url = broker_url or settings.CELERY_BROKER_URL
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "partnercenter.settings.worker_test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        **(extra_env or {}),
    }
    control = broker_app(broker_url)
    if purge:
        control.control.purge()
    command = [sys.executable, "-m", "celery", "-A", "partnercenter", "worker", "--concurrency", str(concurrency),
               "--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if include:
        command += ["--include", ",".join(include)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        _wait_until_ready(process, control)
        yield process
    finally:
        app.conf.task_always_eager = previous
        stop_worker(process, graceful=graceful)


def stop_worker(process, *, graceful: bool = True) -> None:
    """Stop a worker this test started (its whole process group), politely first unless told not to."""
    if graceful and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # pool children the main process left behind, if any
    except ProcessLookupError:
        pass
    process.wait()


def _wait_until_ready(process, control, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited: {process.stdout.read()}")
        try:
            if control.control.ping(timeout=0.5):
                return
        except control.connection_for_read().connection_errors:
            time.sleep(0.2)  # a broker that just came back: the pooled connection was a dead one
    raise RuntimeError("celery worker did not answer a ping in time")


def wait_for(predicate, *, timeout=20.0, interval=0.1):
    """Poll until `predicate()` is truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met within %.0f s" % timeout)
