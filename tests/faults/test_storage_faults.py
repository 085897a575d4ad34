"""Disk full, read-only data folder, damaged or truncated database, a newer database: one line
naming the file and the fix, no traceback, and nothing stored is lost once the fault is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.faults.conftest import db_counts, env_for, ragterm, write_corpus

can_mount = (
    sys.platform.startswith("linux")
    and os.geteuid() == 0
    and shutil.which("unshare") is not None
    and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0
)
needs_mount = pytest.mark.skipif(not can_mount, reason="needs root and unshare -m (mounts)")


def one_line_error(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr + r.stdout
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert lines[0].startswith("error:"), r.stderr
    text = " ".join(lines)
    for f in fragments:
        assert f.lower() in text.lower(), (f, r.stderr)


def in_namespace(setup: str, home, *args: str) -> subprocess.CompletedProcess[str]:
    """``ragterm ARGS`` after ``setup`` (mount commands) in a private mount namespace."""
    cmd = " ".join(["exec", sys.executable, "-m", "ragterm", *(f"'{a}'" for a in args)])
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f"set -e; {setup}; {cmd}"],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def indexed(home, tmp_path):
    """A home with a small index (and a chat) in it."""
    folder = write_corpus(tmp_path / "notes", n=4)
    r = ragterm(home, "index", str(folder))
    assert r.returncode == 0, r.stderr
    return folder


@needs_mount
@pytest.mark.timeout(300)
def test_disk_full_is_one_line_and_loses_nothing(home, tmp_path, indexed):
    db = home / "data" / "ragterm.db"
    before = db_counts(db)
    big = write_corpus(tmp_path / "big", n=60, seed=3)
    for f in big.iterdir():  # plenty of distinct text: more than the disk can take
        f.write_text(f.read_text() * 20)
    data = home / "data"
    # the data folder on a tiny disk holding a copy of the database
    setup = (
        f"cp -a {data} {tmp_path}/data-copy; "
        f"mount -t tmpfs -o size=$(( $(du -sk {data} | cut -f1) + 600 ))k tmpfs {data}; "
        f"cp -a {tmp_path}/data-copy/. {data}/"
    )
    r = in_namespace(setup + f"; (exec {sys.executable} -m ragterm index '{big}') || true; "
                     f"cp -a {data} {tmp_path}/after", home, "search", "coffee")  # fmt: skip
    assert r.returncode == 0, r.stderr
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert errors and "full" in errors[0].lower(), r.stderr
    assert "Traceback" not in r.stderr
    assert "free some disk space" in r.stderr
    # what was stored before the disk filled up is all there (the copy made while it was full)
    after = db_counts(tmp_path / "after" / "ragterm.db")
    assert after["files"].get("indexed", 0) >= before["files"]["indexed"]
    # and on the real disk, nothing happened at all
    assert db_counts(db) == before


@needs_mount
@pytest.mark.timeout(180)
def test_read_only_data_folder_is_one_line(home, indexed):
    db = home / "data" / "ragterm.db"
    before = db_counts(db)
    data = home / "data"
    ro = f"mount --bind {data} {data}; mount -o remount,bind,ro {data}"
    r = in_namespace(ro, home, "index", str(indexed))
    one_line_error(r, str(data), "read-only")
    r = in_namespace(ro, home, "ask", "--no-rag", "--max-tokens", "4", "hi")
    one_line_error(r, "read-only")
    assert db_counts(db) == before
    r = ragterm(home, "search", "coffee")
    assert r.returncode == 0 and "coffee" in r.stdout.lower()


def test_damaged_database_is_one_line_and_kept(home, indexed):
    db = home / "data" / "ragterm.db"
    raw = bytearray(db.read_bytes())
    raw[:100] = os.urandom(100)  # the header: SQLite no longer recognises the file
    db.write_bytes(bytes(raw))
    for args in (("search", "coffee"), ("index", "--status"), ("ask", "--no-rag", "hi")):
        r = ragterm(home, *args)
        one_line_error(r, str(db), "move it away")
    assert db.read_bytes() == bytes(raw), "the damaged file is left for the user to recover"


def test_truncated_database_is_one_line(home, indexed):
    db = home / "data" / "ragterm.db"
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    for args in (("search", "coffee"), ("index", str(indexed))):
        r = ragterm(home, *args)
        if r.returncode != 0:  # pages the command needs are gone
            one_line_error(r, str(db))
            assert "damaged" in r.stderr or "move it away" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_database_from_a_newer_ragterm_is_refused_untouched(home, indexed):
    from ragterm.store.db import connect

    db = home / "data" / "ragterm.db"
    conn = connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    for args in (("search", "coffee"), ("index", str(indexed)), ("chat",)):
        r = ragterm(home, *args)
        one_line_error(r, str(db), "newer than this ragterm", "upgrade ragterm")
    import sqlite3

    c = sqlite3.connect(db)
    assert c.execute("PRAGMA user_version").fetchone()[0] == 99
    assert c.execute("SELECT count(*) FROM chunks").fetchone()[0] > 0
    c.close()


def test_disk_full_in_process_via_page_limit(tmp_path):
    """SQLite's own 'database or disk is full' (a page limit on the connection): the indexer stops
    with a StorageError, what was indexed before is intact, and the next run completes."""
    from ragterm import paths
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.errors import StorageError
    from ragterm.store.db import connect
    from tests.helpers import assert_consistent

    small = write_corpus(tmp_path / "small", n=4)
    more = write_corpus(tmp_path / "more", n=30, seed=9)
    conn = connect()
    list(index_paths(conn, [small]))
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages + 3}")
    with pytest.raises(StorageError) as err:
        list(index_paths(conn, [more]))
    assert "full" in err.value.message and "free some disk space" in err.value.hint
    conn.close()
    assert_consistent(paths.db_path(), after_a_kill=True)
    assert db_counts(paths.db_path())["files"]["indexed"] >= 4
    conn = connect()
    list(index_paths(conn, [more]))
    conn.close()
    assert db_counts(paths.db_path())["files"]["indexed"] == 4 + 30
