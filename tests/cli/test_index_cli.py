"""`ragterm index` end to end: report, list, status, remove, re-embed, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "coffee.md").write_text("# Coffee\n\nSteep coarse grounds for four minutes.\n")
    (root / "tea.txt").write_text("Green tea wants water at eighty degrees.\n")
    (root / ".env").write_text("TOKEN=abc\n")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nnot a pdf")
    return root


def test_index_prints_a_report_and_updates_incrementally(ragterm_cli, notes):
    r = ragterm_cli("index", str(notes))
    assert r.exit_code == 0, r.output
    assert "notes" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.strip().startswith("notes"))
    assert row.split()[1:8] == ["2", "0", "0", "0", "1", "1", "2"]  # new upd unch del skip fail emb
    assert ".env" in r.stdout and "include_secrets" in r.stdout
    assert "broken.pdf" in r.stdout and "malformed PDF" in r.stdout
    r = ragterm_cli("index")  # no path: update every collection
    row = next(line for line in r.stdout.splitlines() if line.strip().startswith("notes"))
    assert row.split()[1:8] == ["0", "0", "2", "0", "1", "1", "0"]


def test_list_status_and_remove(ragterm_cli, notes):
    ragterm_cli("index", str(notes))
    r = ragterm_cli("index", "--list")
    assert "notes" in r.stdout and str(notes) in "".join(r.stdout.split())
    listed = json.loads(ragterm_cli("index", "--list", "--json").stdout)
    assert listed[0]["name"] == "notes" and listed[0]["files"] == 2 and listed[0]["chunks"] == 2
    (notes / "tea.txt").write_text("Changed.\n")
    status = json.loads(ragterm_cli("index", "--status", "--json").stdout)
    by_path = {f["path"]: f for f in status["files"]}
    assert by_path["broken.pdf"]["status"] == "failed"
    assert by_path[".env"]["status"] == "skipped"
    assert by_path["tea.txt"]["status"] == "stale"
    assert status["embed_model"] == "bundled:all-MiniLM-L6-v2"
    r = ragterm_cli("index", "--status")
    assert "stale" in r.stdout and "malformed PDF" in r.stdout
    r = ragterm_cli("index", "--remove", "notes")
    assert r.exit_code == 0 and "removed collection notes" in r.stdout
    assert json.loads(ragterm_cli("index", "--list", "--json").stdout) == []


def test_model_change_is_refused_until_reembed(ragterm_cli, notes):
    from ragterm.store import index_rows as store
    from ragterm.store.db import connect

    ragterm_cli("index", str(notes))
    conn = connect()
    store.set_index_model(conn, "old-model", 384)
    conn.close()
    r = ragterm_cli("index", str(notes))
    assert r.exit_code == 1
    assert "old-model" in r.stderr and "--reembed" in r.stderr and "Traceback" not in r.output
    r = ragterm_cli("index", "--reembed")
    assert r.exit_code == 0, r.output
    assert "(re-embed)" in r.stdout


def test_errors_are_one_line(ragterm_cli, tmp_path):
    r = ragterm_cli("index")
    assert r.exit_code == 1 and "nothing is indexed yet" in r.stderr
    r = ragterm_cli("index", "--remove", "ghost")
    assert r.exit_code == 1 and "no collection named" in r.stderr
    r = ragterm_cli("index", str(tmp_path / "missing"))
    assert r.exit_code == 0 and "no such file or folder" in r.stdout


def test_watch_indexes_changes_until_ctrl_c(notes, ragterm_home):
    import os
    import queue
    import signal
    import subprocess
    import sys
    import threading

    env = dict(os.environ, RAGTERM_HOME=str(ragterm_home), PYTHONUNBUFFERED="1", COLUMNS="120")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragterm", "index", str(notes), "--watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str, timeout: float = 90) -> None:
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{text!r} not seen in:\n{''.join(seen)}") from None
            seen.append(line)
            if text in line:
                return

    try:
        wait_for("watching")
        (notes / "new.md").write_text("# Fresh\n\nA note written while watching.\n")
        wait_for("1 new")
        (notes / "tea.txt").unlink()
        wait_for("1 deleted")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    wait_for("stopped watching", timeout=10)
    assert proc.returncode == 0
