"""The servers a benchmark starts beside itself: gunicorn and Celery workers, on the benchmark database.

Each runs `benchmarks.settings` (production's settings plus the trivial
view) in its own process, on the database and broker this process uses, and
is stopped when its block ends. Only loopback addresses are served.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def environment() -> dict[str, str]:
    """What a server process needs: the same database, broker and secret (sessions made here are valid there)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback: no TLS terminator in front
        "PAYMENT_PROVIDER": settings.PAYMENT_PROVIDER,
        # Production refuses to start without a mailer; what a benchmark's processes would send goes nowhere.
        "EMAIL_URL": "dummymail://",
        "EVALUATION_BATCH_SIZE": str(settings.EVALUATION_BATCH_SIZE),
        "PYTHONUNBUFFERED": "1",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gunicorn(*, workers: int, log: Path):
    """`gunicorn partnercenter.wsgi` (sync workers) on a free loopback port; yields the base URL."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "partnercenter.wsgi", "--workers", str(workers),
             "--bind", f"{HOST}:{port}", "--log-level", "warning"],
            cwd=ROOT, env=environment(), stdout=out, stderr=subprocess.STDOUT,
        )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {log}")
            try:
                with urllib.request.urlopen(f"{base}/bench/trivial/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in time: see {log}")
            time.sleep(0.2)
        yield base
    finally:
        _stop(process)


def worker_children(pid: int) -> list[int]:
    """The pool processes of a prefork worker (the ones that run tasks)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def peak_rss(pid: int) -> int:
    """A process's peak resident memory (VmHWM), in bytes; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextmanager
def celery_workers(count: int, *, log_dir: Path):
    """`count` Celery worker processes (one pool process each) on the benchmark database and broker.

    Yields the worker processes once every one answers a ping; the queue is purged first.
    """
    from partnercenter.celery import app

    app.control.purge()
    processes = []
    try:
        for i in range(count):
            out = open(log_dir / f"worker-{i + 1}.log", "w")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "partnercenter", "worker", "--concurrency", "1",
                 "--pool", "prefork", "-n", f"bench{i + 1}-{os.getpid()}@%h", "--loglevel", "WARNING",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=environment(), stdout=out, stderr=subprocess.STDOUT,
            ))
            out.close()
        names = {f"bench{i + 1}-{os.getpid()}" for i in range(count)}
        deadline = time.monotonic() + 60
        while True:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a celery worker exited: see {log_dir}/worker-*.log")
            answered = {name.split("@")[0] for reply in app.control.ping(timeout=0.5) for name in reply}
            if names <= answered:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"celery workers did not answer a ping in time: see {log_dir}")
        yield processes
    finally:
        for process in processes:
            _stop(process)


def broker_idle(app, *, workers: int | None = None) -> bool:
    """No message waiting in the default queue and no task running or reserved on any worker.

    With `workers`, the answer comes as soon as that many workers replied."""
    with app.connection_for_read() as conn:
        waiting = conn.default_channel.client.llen(app.conf.task_default_queue)
    if waiting:
        return False
    inspect = app.control.inspect(timeout=0.5, limit=workers)
    for reply in (inspect.active(), inspect.reserved()):
        if reply is None:
            continue
        if any(tasks for tasks in reply.values()):
            return False
    return True
