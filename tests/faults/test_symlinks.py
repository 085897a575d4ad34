"""Nothing outside the indexed folder is read: a symlink whose target leaves the folder is skipped
and reported (``index --status`` says why), one that stays inside is followed; the
``index.follow_symlinks`` setting changes that; and the same rule holds wherever an indexed path
is opened again (source preview, $EDITOR, evidence lines, persona writing folders)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from ragterm import config
from tests.faults.conftest import ragterm

OUTSIDE_MARKER = "zqxoutsidemarker"


def linked_folder(tmp_path: Path) -> tuple[Path, Path]:
    """``notes/`` with links out (to a file, a folder, through a chain, relative) and in."""
    outside = tmp_path / "elsewhere"
    (outside / "dir").mkdir(parents=True)
    (outside / "shadow").write_text(f"root:$6$salt$hash:19000:0:99999:7::: {OUTSIDE_MARKER}1\n")
    (outside / "dir" / "plans.md").write_text(f"# Plans\n\nThe vault code is {OUTSIDE_MARKER}2.\n")
    notes = tmp_path / "notes"
    (notes / "inside").mkdir(parents=True)
    (notes / "good.md").write_text("# Lighthouse\n\nThe keeper trims the wick at dusk.\n")
    (notes / "inside" / "harbour.md").write_text("# Harbour\n\nPilots board at the breakwater.\n")
    os.symlink(outside / "shadow", notes / "shadowlink")
    os.symlink(outside / "dir", notes / "linkdir")
    os.symlink("../elsewhere/shadow", notes / "relative.txt")
    os.symlink(notes / "shadowlink", notes / "chain.txt")  # inside link -> link that leaves
    os.symlink(notes / "inside" / "harbour.md", notes / "harbour-link.md")
    os.symlink(notes / "inside", notes / "inside-link")
    if os.path.exists("/etc/passwd"):
        os.symlink("/etc/passwd", notes / "passwd")
    return notes, outside


def files(out: str) -> dict[str, dict]:
    rows = [json.loads(x) for x in out.splitlines() if x.startswith('{"event": "file"')]
    return {r["path"]: r for r in rows}


@pytest.mark.timeout(180)
def test_links_out_of_the_folder_are_skipped_reported_and_never_searched(home, tmp_path):
    notes, _ = linked_folder(tmp_path)
    r = ragterm(home, "index", "--json", str(notes))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    got = files(r.stdout)
    out_links = ["shadowlink", "linkdir/", "relative.txt", "chain.txt"]
    out_links += ["passwd"] if (notes / "passwd").is_symlink() else []
    for name in out_links:
        assert got[name]["status"] == "skipped", got[name]
        assert "leads outside the folder" in got[name]["reason"], got[name]
        assert "index.follow_symlinks" in got[name]["reason"]
    assert str(tmp_path / "elsewhere" / "shadow") in got["shadowlink"]["reason"]  # says where
    for name in ("good.md", "harbour-link.md", "inside/harbour.md"):
        assert got[name]["status"] == "new", got[name]
    assert "already walked" in got["inside-link/"]["reason"]  # followed: it is inside/ again
    # the outside text is nowhere: not found by search, not stored
    search = ragterm(home, "search", OUTSIDE_MARKER)
    assert OUTSIDE_MARKER not in search.stdout and "elsewhere" not in search.stdout
    root = ragterm(home, "search", "root")
    assert "19000" not in root.stdout and "/bin/" not in root.stdout
    from ragterm.store.db import connect

    conn = connect(home / "data" / "ragterm.db")
    texts = " ".join(t for (t,) in conn.execute("SELECT text FROM chunks"))
    conn.close()
    assert OUTSIDE_MARKER not in texts and "root:" not in texts
    # `index --status` lists each link with its reason
    status = ragterm(home, "index", "--status", "--json")
    rows = {f["path"]: f for f in json.loads(status.stdout)["files"]}
    for name in out_links:
        assert rows[name]["status"] == "skipped"
        assert "leads outside the folder" in rows[name]["reason"]


def _index(folder: Path, **overrides: object) -> dict[str, tuple[str, str]]:
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.events import FileDone
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.store.db import connect

    cfg = config.load().with_overrides(**overrides)
    conn = connect()
    try:
        return {
            ev.path: (ev.status, ev.reason)
            for ev in index_paths(conn, [folder], cfg=cfg, embedder=load_embedder(BUNDLED))
            if isinstance(ev, FileDone)
        }
    finally:
        conn.close()


@pytest.mark.timeout(120)
def test_follow_symlinks_none_and_all(tmp_path):
    notes, _ = linked_folder(tmp_path)
    none = _index(notes, **{"index.follow_symlinks": "none"})
    for name in ("harbour-link.md", "inside-link/", "shadowlink", "linkdir/"):
        assert none[name][0] == "skipped" and "not followed" in none[name][1], none[name]
    assert none["inside/harbour.md"][0] == "new"
    every = _index(notes, **{"index.follow_symlinks": "all"})  # asked for: the old behaviour
    assert every["shadowlink"][0] == "new" and every["linkdir/plans.md"][0] == "new"


@pytest.mark.timeout(120)
def test_a_file_swapped_for_a_link_out_after_the_walk_is_not_read(tmp_path):
    """Between the walk and the read, a file becomes a symlink to a file outside: skipped."""
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.events import FileDone, IndexStarted
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.store.db import connect

    notes, outside = linked_folder(tmp_path)
    conn = connect()
    report: dict[str, FileDone] = {}

    def run() -> None:
        for ev in index_paths(conn, [notes], embedder=load_embedder(BUNDLED)):
            if isinstance(ev, IndexStarted):  # walked, nothing read yet
                (notes / "good.md").unlink()
                os.symlink(outside / "shadow", notes / "good.md")
            elif isinstance(ev, FileDone):
                report[ev.path] = ev

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert report["good.md"].status == "skipped"
    assert "leads outside the folder" in report["good.md"].reason
    texts = " ".join(t for (t,) in conn.execute("SELECT text FROM chunks"))
    assert OUTSIDE_MARKER not in texts
    conn.close()


def _hit_for(folder: Path, name: str):
    from ragterm.engine.retrieve.hits import Hit

    text = (folder / name).read_text()
    return Hit(1, text, str(folder / name), name, folder.name, start_line=1, end_line=3)


def test_preview_and_evidence_do_not_read_a_file_now_leading_outside(tmp_path):
    """An indexed file later replaced by a link out: the preview shows the chunk as indexed and
    says why, the evidence quote is marked, and the outside file's text appears nowhere."""
    from ragterm.engine.retrieve.evidence import find_evidence
    from ragterm.tui.chat_rendering import preview_markdown

    notes, outside = linked_folder(tmp_path)
    hit = _hit_for(notes, "good.md")
    assert hit.root == str(notes)
    ok = preview_markdown(hit, [])
    assert "trims the wick" in ok and "not read" not in ok
    (outside / "good.md").write_text(f"The keeper trims the wick at dusk. {OUTSIDE_MARKER}3\n")
    (notes / "good.md").unlink()
    os.symlink(outside / "good.md", notes / "good.md")
    shown = preview_markdown(hit, [])
    assert OUTSIDE_MARKER not in shown
    assert "not read" in shown and "leads outside the folder" in shown
    quotes = find_evidence("When does the keeper trim the wick?", [hit])
    assert quotes and quotes[0].status == "outside"
    assert OUTSIDE_MARKER not in quotes[0].text and "leads outside" in quotes[0].note
    allowed = find_evidence("When does the keeper trim the wick?", [hit], follow_symlinks="all")
    assert allowed[0].status == "current"  # the user asked for links to be followed


async def test_editor_is_not_opened_on_a_file_leading_outside(tmp_path, monkeypatch):
    from ragterm.tui.app import RagtermApp
    from ragterm.tui.widgets.sources_panel import SourcesPanel

    notes, _ = linked_folder(tmp_path)
    ran = tmp_path / "editor-ran"
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\necho "$@" > {ran}\n')
    editor.chmod(0o755)
    monkeypatch.setenv("VISUAL", str(editor))
    from ragterm.engine.retrieve.hits import Hit

    hit = Hit(1, "x", str(notes / "shadowlink"), "shadowlink", "notes")
    app = RagtermApp()
    async with app.run_test(size=(100, 30)) as pilot:
        chat = app.chat
        chat.post_message(SourcesPanel.OpenInEditor(hit))
        await pilot.pause(0.3)
        notes_shown = [n.message for n in app._notifications]
    assert not ran.exists()
    assert any("not opened" in n and "leads outside the folder" in n for n in notes_shown)


def test_persona_writing_folder_skips_links_out(tmp_path):
    from ragterm.engine.tune.training_data import build_from_writing

    notes, outside = linked_folder(tmp_path)
    (outside / "diary.md").write_text(f"# Diary\n\nA long private entry {OUTSIDE_MARKER}4. " * 5)
    os.symlink(outside / "diary.md", notes / "diary.md")
    out = tmp_path / "pairs.jsonl"
    skipped = build_from_writing(notes, out)
    assert any(n.startswith("diary.md: skipped") and "leads outside" in n for n in skipped)
    assert OUTSIDE_MARKER not in out.read_text()


def test_a_device_behind_a_followed_link_is_still_never_read(tmp_path):
    """With every link followed (asked for), /dev/zero is still not opened: not a regular file."""
    from ragterm.engine.index.walk import WalkOptions, walk

    os.symlink("/dev/zero", tmp_path / "zero.txt")
    (entry,) = walk(tmp_path, WalkOptions(follow_symlinks="all"))
    assert entry.reason is not None and "not a regular file" in entry.reason
    (entry,) = walk(tmp_path)
    assert entry.reason is not None and "leads outside the folder" in entry.reason
