"""Opening the database: sqlite-vec on every Python, WAL, clear errors."""

from __future__ import annotations

import os
import sqlite3
import struct
import types

import pytest

from ragterm.errors import StorageError
from ragterm.store import db


def test_connect_loads_sqlite_vec_and_uses_wal(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("select vec_version()").fetchone()[0].startswith("v")
    # a real KNN query works on this connection
    conn.execute("CREATE VIRTUAL TABLE v USING vec0(e float[2])")
    for i, vec in enumerate([(1.0, 0.0), (0.0, 1.0), (0.7, 0.7)], start=1):
        conn.execute("INSERT INTO v(rowid, e) VALUES (?, ?)", (i, struct.pack("2f", *vec)))
    rows = conn.execute(
        "SELECT rowid FROM v WHERE e MATCH ? AND k = 2 ORDER BY distance",
        (struct.pack("2f", 1.0, 0.1),),
    ).fetchall()
    assert [r[0] for r in rows] == [1, 3]


def test_fallback_when_stdlib_cannot_load_extensions():
    import sqlean

    no_ext = types.SimpleNamespace(__name__="sqlite3", Connection=type("C", (), {}))
    assert db.pick_sqlite([no_ext, sqlean]) is sqlean


def test_stdlib_is_preferred_when_it_can_load_extensions():
    """The stdlib path: a capable sqlite3 module is used as is (sqlean stands in where the
    machine's own sqlite3 lacks enable_load_extension)."""
    import sqlean

    capable = sqlite3 if db.can_load_extensions(sqlite3) else sqlean
    other = types.SimpleNamespace(__name__="other", Connection=sqlean.Connection)
    assert db.pick_sqlite([capable, other]) is capable


@pytest.mark.skipif(
    not db.can_load_extensions(sqlite3),
    reason="this Python's sqlite3 cannot load extensions (the sqlean fallback is tested instead)",
)
def test_stdlib_connection_loads_vec(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGTERM_SQLITE", "stdlib")
    conn = db.connect(tmp_path / "s.db")
    assert type(conn).__module__.startswith("sqlite3")
    assert conn.execute("select vec_version()").fetchone()[0]


def test_forced_stdlib_without_extension_support_is_a_clear_error(monkeypatch, tmp_path):
    if db.can_load_extensions(sqlite3):
        pytest.skip("this Python's sqlite3 can load extensions")
    monkeypatch.setenv("RAGTERM_SQLITE", "stdlib")
    with pytest.raises(StorageError, match="can load extensions"):
        db.connect(tmp_path / "s.db")


def test_unknown_forced_build(monkeypatch):
    monkeypatch.setenv("RAGTERM_SQLITE", "oracle")
    with pytest.raises(StorageError, match="oracle"):
        db.pick_sqlite()


def test_transaction_rolls_back_on_error(tmp_path):
    conn = db.connect(tmp_path / "t.db")
    with pytest.raises(RuntimeError):
        with db.transaction(conn):
            db.set_meta(conn, "k", "v")
            raise RuntimeError("boom")
    assert db.get_meta(conn, "k") is None
    with db.transaction(conn):
        db.set_meta(conn, "k", "v")
    assert db.get_meta(conn, "k") == "v"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_data_dir_is_a_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(StorageError) as info:
            db.connect(ro / "sub" / "x.db")
        assert "ro" in info.value.message
    finally:
        ro.chmod(0o700)


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError) as info:
        db.connect(bad)
    assert str(bad) in info.value.message
    assert info.value.hint
