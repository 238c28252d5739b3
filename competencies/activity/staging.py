"""The rows of the database a file names, found by a join against the file's keys, staged.

On PostgreSQL the keys a file names (its 100,000 emails, its MPN IDs, the
ids of the rows found so far) are written with COPY into a temporary table
that lives until the transaction ends, and the rows are read in one query
joined to it: no statement with thousands of parameters to build and parse,
and one plan (a hash join) whatever the number of keys. Elsewhere (SQLite,
the tests' quick path) the same queries run with `__in` lists of `CHUNK`
keys. Either way the caller gives the query once, as a function of "the
keys".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Iterator

from django.db import connection
from django.db.models.expressions import RawSQL

CHUNK = 5000  # keys per `__in` query where nothing is staged

def chunks(values: Iterable, size: int = CHUNK) -> Iterator[list]:
    for chunk in itertools.batched(values, size):
        yield list(chunk)


def rows_among(keys: Collection, select: Callable[[object], Iterable]) -> Iterator:
    """The rows of `select(keys)`, a query filtered with `field__in=keys`, for every key of `keys`.

    Inside a transaction on PostgreSQL (the staged table is dropped when it ends). The query runs as soon
    as its keys are staged (at the generator's first step), before any other call can stage others.
    """
    if not keys:
        return
    if connection.vendor != "postgresql":
        for chunk in chunks(keys):
            yield from select(chunk)
        return
    yield from select(staged(keys))


def staged(keys: Collection) -> RawSQL:
    """`keys` (all integers or all text) COPYed into a temporary table: the subquery that reads them back.

    One table per kind of key and transaction, emptied and filled again for each set of keys: a table
    created (or dropped) per query would hold a lock until the transaction ends, and an import inside a
    longer transaction (a test's, a caller's) would run out of PostgreSQL's lock table.
    """
    kind = "bigint" if isinstance(next(iter(keys)), int) else "text"
    name = f"import_keys_{kind}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} (key {kind}) ON COMMIT DROP")
        cursor.execute(f"TRUNCATE {name}")
        with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {name} (key) FROM STDIN") as copy:
            for key in keys:
                copy.write_row((key,))
        cursor.execute(f"ANALYZE {name}")  # so the planner knows how many keys it joins
    return RawSQL(f"SELECT key FROM {name}", ())
