"""Fault injection inside a Celery worker the fault tests start (`celery worker --include tests.fault_hooks`).

Every SQL statement any process of the worker runs is counted, in one
counter file shared by the pool's processes (FAULT_COUNTER). With
FAULT_KILL_AT=N, just before statement N runs the whole worker (every
process of its group: the main process and its pool) is killed with
SIGKILL, as a power cut or the kernel's OOM killer would: no cleanup, no
acknowledgement, no rollback but the database's own. The statement it died
before is written next to the counter (`.killed`), for the test to report.

Nothing here is imported by the product or by a worker started without
these variables.
"""

import fcntl
import json
import os
import signal
import time

from django.db.backends.signals import connection_created

COUNTER = os.environ.get("FAULT_COUNTER", "")
KILL_AT = int(os.environ.get("FAULT_KILL_AT") or 0)
# Or: kill before the first statement whose SQL holds FAULT_KILL_BEFORE and whose first parameter is
# FAULT_KILL_PARAM (the one window of rules.md: `UPDATE … SET status = 'sent'` after the SMTP server accepted).
KILL_BEFORE = os.environ.get("FAULT_KILL_BEFORE", "")
KILL_PARAM = os.environ.get("FAULT_KILL_PARAM", "")


def next_statement() -> int:
    with open(COUNTER, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        number = int(f.read() or 0) + 1
        f.seek(0)
        f.truncate()
        f.write(str(number))
        f.flush()
        return number


def chosen(number: int, sql: str, params) -> bool:
    if KILL_BEFORE:
        return KILL_BEFORE in sql and (not KILL_PARAM or str((params or [None])[0]) == KILL_PARAM)
    return number == KILL_AT


def count_or_kill(execute, sql, params, many, context):
    number = next_statement()
    if chosen(number, sql, params if not many else None):
        try:
            # One killer: another pool process choosing the same instant waits here for the end.
            fd = os.open(COUNTER + ".killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            time.sleep(60)
            raise SystemExit("the worker should be dead by now") from None
        with os.fdopen(fd, "w") as f:
            json.dump({"statement": number, "sql": sql, "params": [str(p) for p in params or ()] if not many else [],
                       "at": time.time()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.killpg(os.getpgrp(), signal.SIGKILL)
    return execute(sql, params, many, context)


def install(sender, connection, **kwargs):
    if count_or_kill not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_or_kill)


if COUNTER:
    connection_created.connect(install, dispatch_uid="tests.fault_hooks")
