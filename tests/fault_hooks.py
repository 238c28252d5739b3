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

from django.db.backends.signals import connection_created

COUNTER = os.environ.get("FAULT_COUNTER", "")
KILL_AT = int(os.environ.get("FAULT_KILL_AT") or 0)


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


def count_or_kill(execute, sql, params, many, context):
    number = next_statement()
    if number == KILL_AT:
        with open(COUNTER + ".killed", "w") as f:
            json.dump({"statement": number, "sql": sql, "params": [str(p) for p in params or ()] if not many else []}, f)
            f.flush()
            os.fsync(f.fileno())
        os.killpg(os.getpgrp(), signal.SIGKILL)
    return execute(sql, params, many, context)


def install(sender, connection, **kwargs):
    if count_or_kill not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_or_kill)


if COUNTER:
    connection_created.connect(install, dispatch_uid="tests.fault_hooks")
