"""Open the one SQLite database with sqlite-vec loaded, on any Python.

Many Pythons (pyenv builds, macOS system Python) are compiled without
``sqlite3.Connection.enable_load_extension``. There we fall back to ``sqlean`` (sqlean-py), a
drop-in ``sqlite3`` module with its own SQLite that can load extensions.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from ragterm import paths
from ragterm.errors import StorageError
from ragterm.store.migrations import migrate as run_migrations
from ragterm.store.tx import Connection as Connection  # re-exported: callers import it from here
from ragterm.store.tx import transaction as transaction


def can_load_extensions(module: ModuleType) -> bool:
    return hasattr(module.Connection, "enable_load_extension")


def _candidates() -> list[ModuleType]:
    mods: list[ModuleType] = [sqlite3]
    try:
        # lazy: sqlean loads only when this runs
        import sqlean

        mods.append(sqlean)
    except ImportError:
        pass
    return mods


def pick_sqlite(candidates: Sequence[ModuleType] | None = None) -> ModuleType:
    """The first sqlite3-compatible module that can load extensions.

    ``RAGTERM_SQLITE=stdlib|sqlean`` forces one (for tests and bug reports).
    """
    mods = list(candidates) if candidates is not None else _candidates()
    forced = os.environ.get("RAGTERM_SQLITE", "").strip().lower()
    if forced:
        names = {"stdlib": "sqlite3", "sqlite3": "sqlite3", "sqlean": "sqlean"}
        want = names.get(forced)
        if want is None:
            raise StorageError(
                f"RAGTERM_SQLITE={forced!r} is not a known SQLite build",
                hint="use 'stdlib' or 'sqlean', or unset it",
            )
        mods = [m for m in mods if m.__name__ == want]
    for mod in mods:
        if can_load_extensions(mod):
            return mod
    raise StorageError(
        "no SQLite build here can load extensions (needed for sqlite-vec)",
        hint="pip install sqlean-py into ragterm's environment, or use a Python built with "
        "--enable-loadable-sqlite-extensions",
    )


def _load_vec(conn: Connection) -> None:
    # lazy: sqlite_vec loads only when this runs
    import sqlite_vec

    conn.enable_load_extension(True)
    try:
        sqlite_vec.load(conn)
    finally:
        conn.enable_load_extension(False)


_STORAGE_HINTS = {
    "readonly": "the data folder is read-only: fix its permissions or set RAGTERM_HOME",
    "read-only": "the data folder is read-only: fix its permissions or set RAGTERM_HOME",
    "disk is full": "free some disk space and run again; nothing stored was lost",
    "no space left": "free some disk space and run again; nothing stored was lost",
    "unable to open": "check that the data folder exists and is writable, or set RAGTERM_HOME",
    "permission denied": "fix the permissions of the data folder, or set RAGTERM_HOME",
    "not a database": "the file is not a ragterm database (damaged?): move it away and run "
    "again, then re-index",
    "malformed": "the database is damaged: restore a backup, or move it away and re-index",
    "disk i/o error": "the disk failed a read or write: check it (and free space), then run again",
    "locked": "another ragterm is writing; try again in a moment",
}


def storage_error(exc: Exception, path: Path | str) -> StorageError:
    """Turn an sqlite (or OS) error into a one-line message with a hint."""
    text = (getattr(exc, "strerror", None) or str(exc)) if isinstance(exc, OSError) else str(exc)
    hint = next((h for k, h in _STORAGE_HINTS.items() if k in text.lower()), None)
    folder = Path(path).parent
    if folder.is_dir() and not os.access(folder, os.W_OK):  # "unable to open" says too little
        text += f" (the folder {folder} is read-only)"
        hint = _STORAGE_HINTS["read-only"]
    return StorageError(f"database {path}: {text}", hint=hint)


def is_sqlite_error(exc: BaseException) -> bool:
    """An error raised by sqlite3 or sqlean (two modules, one family of errors)."""
    return type(exc).__module__.split(".")[0] in ("sqlite3", "sqlean")


@contextmanager
def storage_errors(path: Path | str) -> Iterator[None]:
    """sqlite errors inside become a StorageError naming ``path`` (disk full, read-only...)."""
    try:
        yield
    except Exception as exc:
        if is_sqlite_error(exc):
            raise storage_error(exc, path) from exc
        raise


def _prepare_file(path: Path) -> None:
    """The data folder 0700 and the database 0600 before SQLite opens it: chats and indexed text
    are private. SQLite gives the -wal and -shm files the database's mode."""
    if path.parent == paths.data_dir():
        paths.ensure_private_dir(path.parent)
    else:
        paths.ensure_dir(path.parent)
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise storage_error(exc, path) from exc
    if path == paths.db_path():
        paths.tighten(path)
    else:
        paths.make_private(path)


def connect(path: Path | str | None = None, *, migrate: bool = True) -> Connection:
    """Open (creating if needed) the database, load sqlite-vec, enable WAL and migrate.

    Connections are in autocommit mode; group writes with :func:`transaction`. Open one
    connection per thread.
    """
    mod = pick_sqlite()
    if path is None:
        path = paths.db_path()
    if str(path) != ":memory:":
        _prepare_file(Path(path))
    try:
        conn = mod.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        conn.row_factory = mod.Row
        _load_vec(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        if migrate:
            run_migrations(conn)
    except mod.Error as exc:
        raise storage_error(exc, path) from exc
    except StorageError as exc:  # a newer schema: name the file
        raise StorageError(f"database {path}: {exc.message}", hint=exc.hint) from None
    return conn


class PerThreadConnection:
    """Looks like one connection; under it each thread gets (and keeps) its own.

    The TUI hands one object to its screen and its workers (chat, budget meter, retrieval); a
    connection shared between threads would mix one thread's transaction with another's reads.
    A thread's connection is closed when the thread ends.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = path if path is not None else paths.db_path()
        self._local = threading.local()
        self._lock = threading.Lock()
        connect(self.path).close()  # migrate once, and fail here (not in a worker) if broken

    def current(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                conn = connect(self.path, migrate=False)
            self._local.conn = conn
        return conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current(), name)

    def close(self) -> None:
        """Close the calling thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def sqlite_info(conn: Connection) -> dict[str, str]:
    """Which SQLite and sqlite-vec this connection uses (for `ragterm doctor`)."""
    module = type(conn).__module__.split(".")[0]
    (sqlite_version,) = conn.execute("select sqlite_version()").fetchone()
    (vec_version,) = conn.execute("select vec_version()").fetchone()
    return {"module": module, "sqlite": sqlite_version, "sqlite_vec": vec_version}


def get_meta(conn: Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(conn: Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES(?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def check_fts5(conn: Connection) -> None:
    """Raise unless this SQLite has FTS5 (keyword search needs it)."""
    conn.execute("CREATE VIRTUAL TABLE temp.ragterm_fts5_check USING fts5(x)")
    conn.execute("DROP TABLE temp.ragterm_fts5_check")


def schema_state(conn: Connection) -> tuple[int, str]:
    """(schema version, journal mode) of an open database."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    return int(version), str(mode)
