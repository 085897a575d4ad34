"""A folder of hostile files: each one indexed or reported with its reason, secrets never indexed,
no traceback, bounded time and memory; a file deleted or swapped for a fifo mid-run is handled."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.faults.conftest import env_for
from tests.faults.hostile import SECRET_MARKER, build

TIME_LIMIT_S = 120
RSS_LIMIT_MB = 1500


def check_outcomes(events: list[dict], expect: dict) -> None:
    seen = {e["path"]: e for e in events}
    wrong = []
    for name, want in expect.items():
        got = seen.get(name)
        if got is None:
            wrong.append((name, "not in the report"))
            continue
        if want.outcome == "reported":
            ok = got["status"] in ("skipped", "failed")
        elif want.outcome == "indexed":
            ok = got["status"] in ("new", "updated", "unchanged")
        else:
            ok = got["status"] == want.outcome
        if want.outcome != "indexed":
            ok = ok and bool(got["reason"]) and want.reason.lower() in got["reason"].lower()
        if not ok:
            wrong.append((name, got["status"], got["reason"]))
    assert not wrong, wrong


def secrets_in_index(db: Path) -> int:
    from ragterm.store.db import connect

    conn = connect(db)
    try:
        (n,) = conn.execute(
            "SELECT count(*) FROM chunks WHERE text LIKE ?", (f"%{SECRET_MARKER}%",)
        ).fetchone()
        return int(n)
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_hostile_folder_is_indexed_or_reported_file_by_file(tmp_path):
    folder = tmp_path / "hostile"
    expect = build(folder)
    home = tmp_path / "home"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "ragterm", "index", "--json", str(folder)],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    files = [e for e in events if e.get("event") == "file"]
    check_outcomes(files, expect)
    assert secrets_in_index(home / "data" / "ragterm.db") == 0
    assert seconds < TIME_LIMIT_S
    if rss_mb > before / 1024:  # this run set the children's peak
        assert rss_mb < RSS_LIMIT_MB, f"indexing peaked at {rss_mb:.0f} MB"
    # a second run has nothing new to do and says the same about each file
    again = subprocess.run(
        [sys.executable, "-m", "ragterm", "index", "--json", str(folder)],
        env=env_for(home), capture_output=True, text=True, timeout=TIME_LIMIT_S,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr[-2000:]
    files = [json.loads(x) for x in again.stdout.splitlines() if x.startswith('{"event": "file"')]
    assert not [f for f in files if f["status"] in ("new", "updated")], files


@pytest.mark.timeout(120)
def test_files_deleted_or_swapped_for_a_fifo_mid_run(tmp_path):
    """Between the walk and the read: a deleted file is dropped, a fifo is never opened for a
    blocking read (that would hang the indexer forever)."""
    from ragterm.engine.events import FileDone, IndexFinished, IndexStarted
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.store.db import connect

    folder = tmp_path / "notes"
    folder.mkdir()
    for name in ("keep.txt", "vanish.txt", "becomes-fifo.txt"):
        (folder / name).write_text(f"{name}: the lighthouse keeper trims the wick.\n")
    conn = connect()
    report: dict[str, FileDone] = {}
    finished = []

    def run() -> None:
        for ev in index_paths(conn, [folder]):
            if isinstance(ev, IndexStarted):  # the walk is done, no file has been read yet
                (folder / "vanish.txt").unlink()
                (folder / "becomes-fifo.txt").unlink()
                os.mkfifo(folder / "becomes-fifo.txt")
            elif isinstance(ev, FileDone):
                report[ev.path] = ev
            elif isinstance(ev, IndexFinished):
                finished.append(ev)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the indexer hung on a fifo"
    assert finished
    assert report["keep.txt"].status == "new"
    assert report["vanish.txt"].status == "deleted"
    assert report["becomes-fifo.txt"].status == "skipped"
    assert "not a regular file" in report["becomes-fifo.txt"].reason
    conn.close()
