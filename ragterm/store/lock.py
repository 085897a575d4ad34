"""One index writer at a time, across processes.

Two ``ragterm index`` runs on the same database would both walk, embed and write the same files.
SQLite serialises their transactions but not their work, so the second would redo the first's
embedding and fight it for every file. The lock is an ``flock`` on a file beside the database:
the kernel drops it when its holder exits, also on SIGKILL, so a stale lock cannot exist. The
file keeps the holder's pid only to name it in the message. Readers (search, ask, the chat) never
take it: WAL mode lets them read while the index is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragterm.errors import IndexingError


def db_file(conn: Any) -> Path | None:
    """The main database file of ``conn`` (None for an in-memory database)."""
    for row in conn.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return Path(row[2]) if row[2] else None
    return None


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


@contextmanager
def writer_lock(conn: Any, what: str = "index", *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the ``what`` writer lock of ``conn``'s database; another holder means IndexingError
    (after waiting up to ``wait_s`` seconds for it to finish)."""
    db = db_file(conn)
    try:
        # lazy: fcntl exists only on some platforms
        import fcntl
    except ImportError:  # Windows: SQLite's own locking still keeps the data consistent
        fcntl = None  # type: ignore[assignment]
    if db is None or fcntl is None:
        yield
        return
    path = db.with_name(f"{db.name}.{what}-lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a read-only data folder: the first write will say so, with its fix
        yield
        return
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexingError(
                        f"another `ragterm {what}` is running on {db}{_holder(path)}",
                        hint="wait for it to finish (search and ask keep working meanwhile), "
                        "or stop it; the next run picks up where it stopped",
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
