"""Schema migrations: from empty, and from every previous version, keeping data."""

from __future__ import annotations

import pytest

from ragterm.errors import StorageError
from ragterm.store import db
from ragterm.store.migrations import MIGRATIONS, migrate


def tables(conn) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    }


def test_from_empty_reaches_latest(tmp_path):
    conn = db.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert {
        "meta",
        "models",
        "sessions",
        "messages",
        "collections",
        "files",
        "chunks",
        "vectors",
        "chunks_fts",
        "personas",
    } <= tables(conn)


@pytest.mark.parametrize("start", range(1, len(MIGRATIONS)))
def test_from_previous_version_keeps_data(tmp_path, start):
    conn = db.connect(tmp_path / "b.db", migrate=False)
    migrate(conn, target=start)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == start
    conn.execute("INSERT INTO sessions(title, model) VALUES ('kept', 'm')")
    conn.execute("INSERT INTO messages(session_id, role, content) VALUES (1, 'user', 'hello')")
    conn.close()
    conn = db.connect(tmp_path / "b.db")  # upgrades on open
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT content FROM messages").fetchone()[0] == "hello"
    assert conn.execute("SELECT title FROM sessions").fetchone()[0] == "kept"


def test_newer_database_is_refused(tmp_path):
    conn = db.connect(tmp_path / "c.db")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        db.connect(tmp_path / "c.db")


def test_failed_migration_leaves_previous_version(tmp_path, monkeypatch):
    from ragterm.store import migrations

    def broken(conn):
        conn.execute("CREATE TABLE half_done(x)")
        raise RuntimeError("disk on fire")

    conn = db.connect(tmp_path / "d.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        migrations.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert "half_done" not in tables(conn)
