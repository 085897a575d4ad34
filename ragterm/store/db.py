"""Open the one SQLite database with sqlite-vec loaded, on any Python.

Many Pythons (pyenv builds, macOS system Python) are compiled without
``sqlite3.Connection.enable_load_extension``. There we fall back to ``sqlean`` (sqlean-py), a
drop-in ``sqlite3`` module with its own SQLite that can load extensions.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from ragterm import paths
from ragterm.errors import StorageError

Connection = Any  # sqlite3.Connection or sqlean.Connection: same API, different classes


def can_load_extensions(module: ModuleType) -> bool:
    return hasattr(module.Connection, "enable_load_extension")


def _candidates() -> list[ModuleType]:
    mods: list[ModuleType] = [sqlite3]
    try:
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
    import sqlite_vec

    conn.enable_load_extension(True)
    try:
        sqlite_vec.load(conn)
    finally:
        conn.enable_load_extension(False)


_STORAGE_HINTS = {
    "readonly": "the data folder is read-only: fix its permissions or set RAGTERM_HOME",
    "disk is full": "free some disk space; nothing was lost",
    "unable to open": "check that the data folder exists and is writable, or set RAGTERM_HOME",
    "not a database": "the file is not a ragterm database: move it away and run again",
    "malformed": "the database is damaged: restore a backup or move it away and re-index",
    "locked": "another ragterm is writing; try again in a moment",
}


def storage_error(exc: Exception, path: Path | str) -> StorageError:
    """Turn an sqlite error into a one-line message with a hint."""
    text = str(exc)
    hint = next((h for k, h in _STORAGE_HINTS.items() if k in text.lower()), None)
    return StorageError(f"database {path}: {text}", hint=hint)


def connect(path: Path | str | None = None, *, migrate: bool = True) -> Connection:
    """Open (creating if needed) the database, load sqlite-vec, enable WAL and migrate.

    Connections are in autocommit mode; group writes with :func:`transaction`. Open one
    connection per thread.
    """
    mod = pick_sqlite()
    if path is None:
        path = paths.db_path()
    if str(path) != ":memory:":
        paths.ensure_dir(Path(path).parent)
    try:
        conn = mod.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        conn.row_factory = mod.Row
        _load_vec(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        if migrate:
            from ragterm.store.migrations import migrate as run_migrations

            run_migrations(conn)
    except mod.Error as exc:
        raise storage_error(exc, path) from exc
    return conn


@contextmanager
def transaction(conn: Connection, *, immediate: bool = True) -> Iterator[Connection]:
    """All-or-nothing writes: a crash or an exception inside leaves the database as before."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


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
