"""Transactions, apart from ``db``: ``migrations`` (which ``db.connect`` runs) uses them too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Connection = Any  # sqlite3.Connection or sqlean.Connection: same API, different classes


@contextmanager
def transaction(conn: Connection, *, immediate: bool = True) -> Iterator[Connection]:
    """All-or-nothing writes: a crash or an exception inside leaves the database as before."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        # SQLite has already rolled back after some errors (disk full, I/O): then the original
        # error must reach the user, not "cannot rollback - no transaction is active"
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
        raise
    else:
        conn.execute("COMMIT")
