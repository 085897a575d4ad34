"""Indexing with the real embedding model, sqlite-vec and FTS5: incremental, resumable, honest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ragterm.config import load
from ragterm.engine.embed import BUNDLED, load_embedder
from ragterm.engine.events import EmbedProgress, FileDone, IndexFinished, IndexStarted
from ragterm.engine.index.pipeline import index_paths
from ragterm.engine.retrieve.hybrid_search import Retriever
from ragterm.errors import IndexingError
from ragterm.store import index_rows as store
from ragterm.store.db import connect
from tests.engine.test_parse import make_pdf
from tests.helpers import assert_consistent

COFFEE = "# Coffee\n\nGrind the beans coarsely, then steep them in hot water for four minutes.\n"
TEA = "Green tea wants water at eighty degrees and two minutes at most.\n"
CODE = "def parse_args(argv):\n    '''Read command-line options.'''\n    return argv[1:]\n"


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(BUNDLED)


@pytest.fixture
def conn():
    c = connect()
    yield c
    c.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "drinks").mkdir(parents=True)
    (root / "drinks" / "coffee.md").write_text(COFFEE)
    (root / "drinks" / "tea.txt").write_text(TEA)
    (root / "cli.py").write_text(CODE)
    (root / ".env").write_text("TOKEN=abc\n")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("module.exports = 1\n")
    return root


def run(conn, paths, embedder, **kw):
    events = list(index_paths(conn, [Path(p) for p in paths], embedder=embedder, **kw))
    finished = [e for e in events if isinstance(e, IndexFinished)]
    return events, finished[-1]


def files_by_status(events) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in events:
        if isinstance(e, FileDone):
            out.setdefault(e.status, set()).add(e.path)
    return out


def test_first_index_reports_every_file_and_search_cites_it(conn, folder, embedder):
    events, fin = run(conn, [folder], embedder)
    started = events[0]
    assert isinstance(started, IndexStarted) and started.collection == "notes"
    assert started.files_total == 4
    assert files_by_status(events) == {
        "new": {"drinks/coffee.md", "drinks/tea.txt", "cli.py"},
        "skipped": {".env"},
    }
    assert any(isinstance(e, EmbedProgress) for e in events)
    assert fin.counts["new"] == 3 and fin.counts["embedded"] == 3 and not fin.cancelled
    assert fin.counts["ignored"] == 1  # node_modules/: counted, never listed
    assert fin.skipped == [(".env", "looks like a secret (index.include_secrets)")]
    assert_consistent(conn)
    [hit] = Retriever(conn, embedder=embedder).search("how long to steep coffee", k=1)
    assert hit.citation() == "drinks/coffee.md:1-3"
    assert hit.heading == "Coffee" and hit.collection == "notes"
    assert hit.path == str(folder / "drinks" / "coffee.md")


def test_unchanged_rerun_and_touch_cost_nothing(conn, folder, embedder):
    run(conn, [folder], embedder)
    events, fin = run(conn, [folder], embedder)
    assert fin.counts["unchanged"] == 3 and fin.counts["embedded"] == 0
    assert not any(isinstance(e, EmbedProgress) for e in events)
    os.utime(folder / "cli.py", (1, 1))  # new mtime, same bytes: hashed, not re-parsed
    _, fin = run(conn, [folder], embedder)
    assert fin.counts["unchanged"] == 3 and fin.counts["embedded"] == 0


def test_edits_deletes_and_renames(conn, folder, embedder):
    run(conn, [folder], embedder)
    (folder / "drinks" / "tea.txt").write_text(TEA + "\nOolong likes ninety degrees.\n")
    (folder / "cli.py").rename(folder / "args.py")  # moved: same chunk text, no embedding
    (folder / "drinks" / "coffee.md").unlink()
    events, fin = run(conn, [folder], embedder)
    assert files_by_status(events) == {
        "updated": {"drinks/tea.txt"},
        "new": {"args.py"},
        "deleted": {"drinks/coffee.md", "cli.py"},
        "skipped": {".env"},
    }
    assert fin.counts["embedded"] == 1  # only the edited tea chunk
    assert_consistent(conn)
    paths = {h.rel_path for h in Retriever(conn, embedder=embedder).search("coffee beans", k=5)}
    assert "drinks/coffee.md" not in paths
    [hit] = Retriever(conn, embedder=embedder).search("command-line options", k=1)
    assert hit.rel_path == "args.py"


def test_cancel_leaves_a_consistent_index_that_resumes(conn, folder, embedder, monkeypatch):
    import ragterm.engine.index.pipeline as indexer

    monkeypatch.setattr(indexer, "FLUSH_AT", 1)  # write file by file
    cancel = threading.Event()
    events = []
    for ev in index_paths(conn, [folder], embedder=embedder, cancel=cancel):
        events.append(ev)
        if isinstance(ev, FileDone) and ev.status == "new":
            cancel.set()
    fin = events[-1]
    assert isinstance(fin, IndexFinished) and fin.cancelled and fin.counts["new"] == 1
    assert_consistent(conn)
    pending = [r for r in store.status(conn) if r.status == "pending"]
    assert len(pending) == 2
    events, fin = run(conn, [folder], embedder)
    assert fin.counts == fin.counts | {"new": 2, "unchanged": 1, "embedded": 2}
    assert not [r for r in store.status(conn) if r.status == "pending"]
    assert_consistent(conn)


def test_a_killed_indexer_resumes_where_it_stopped(folder, tmp_path, ragterm_home):
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        import ragterm.engine.index.pipeline as indexer
        from ragterm.engine.events import FileDone
        from ragterm.store.db import connect
        indexer.FLUSH_AT = 1
        conn = connect()
        for ev in indexer.index_paths(conn, [Path({str(folder)!r})]):
            if isinstance(ev, FileDone) and ev.status == "new":
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = dict(os.environ, RAGTERM_HOME=str(ragterm_home))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    conn = connect()
    assert_consistent(conn)
    assert sum(r.status == "pending" for r in store.status(conn)) == 2
    _, fin = run(conn, [folder], load_embedder(BUNDLED))
    assert fin.counts["new"] == 2 and fin.counts["unchanged"] == 1
    assert_consistent(conn)


def test_a_new_embedding_model_is_detected_and_reembed_switches(conn, folder, embedder):
    run(conn, [folder], embedder)
    store.set_index_model(conn, "some-other-model", 768)
    with pytest.raises(IndexingError, match="--reembed"):
        run(conn, [folder], embedder)
    with pytest.raises(IndexingError, match="reembed"):
        Retriever(conn, embedder=embedder).search("coffee")
    events, _ = run(conn, [folder], embedder, reembed=True)
    reembedded = [e for e in events if isinstance(e, IndexFinished) and e.collection == "*"]
    assert reembedded and reembedded[0].counts["embedded"] == 3
    assert store.index_model(conn) == (BUNDLED, 384)
    assert_consistent(conn)
    assert Retriever(conn, embedder=embedder).search("steep coffee", k=1)


def test_nested_folders_same_folder_twice_and_missing_paths(conn, folder, embedder, tmp_path):
    _, fin = run(conn, [folder / "drinks"], embedder)
    assert fin.collection == "drinks" and fin.counts["new"] == 2
    events, fin = run(conn, [folder, folder, tmp_path / "nope"], embedder)
    finished = [e for e in events if isinstance(e, IndexFinished)]
    first, again, missing = finished
    assert first.collection == "notes" and first.counts["embedded"] == 1  # only cli.py is new
    assert any("merged in" in n for n in first.notes)
    assert again.counts["unchanged"] == 3 and again.counts["embedded"] == 0
    assert missing.counts["failed"] == 1 and missing.skipped[0][1] == "no such file or folder"
    assert [c.name for c in store.list_collections(conn)] == ["notes"]
    _, fin = run(conn, [folder / "drinks"], embedder)  # a sub-folder updates its collection
    assert fin.collection == "notes" and fin.counts["unchanged"] == 2
    assert_consistent(conn)


def test_bad_files_each_get_a_report_line_and_nothing_is_lost(conn, tmp_path, embedder):
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "latin1.txt").write_bytes("Crème brûlée à la française, très bien.".encode("latin-1"))
    (root / "empty.md").write_text("")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    (root / "scan.pdf").write_bytes(make_pdf([[]]))
    (root / "paper.pdf").write_bytes(make_pdf([["Intro page."], ["Results are on page two."]]))
    (root / "blob.bin").write_bytes(b"\0\1\2" * 100)
    events, fin = run(conn, [root], embedder)
    assert files_by_status(events) == {
        "new": {"latin1.txt", "paper.pdf"},
        "skipped": {"empty.md", "scan.pdf", "blob.bin"},
        "failed": {"broken.pdf"},
    }
    reasons = dict(fin.skipped)
    assert reasons["empty.md"] == "empty file"
    assert "no text layer" in reasons["scan.pdf"]
    assert reasons["blob.bin"] == "binary file"
    assert reasons["broken.pdf"].startswith("malformed PDF")
    rows = {r.path: r for r in store.status(conn)}
    assert rows["broken.pdf"].status == "failed" and rows["scan.pdf"].status == "skipped"
    [hit] = Retriever(conn, embedder=embedder).search("results", k=1, mode="keyword")
    assert hit.citation() == "paper.pdf#page=2"
    [hit] = Retriever(conn, embedder=embedder).search("crème brûlée", k=1, mode="keyword")
    assert hit.rel_path == "latin1.txt" and "très" in hit.text


def test_files_that_vanish_or_change_mid_run(conn, folder, embedder):
    gen = index_paths(conn, [folder], embedder=embedder)
    assert isinstance(next(gen), IndexStarted)  # the walk is done, nothing read yet
    (folder / "cli.py").unlink()
    (folder / "drinks" / "tea.txt").write_text("Changed while indexing: rooibos.\n")
    events = list(gen)
    done = {e.path: e for e in events if isinstance(e, FileDone)}
    assert done["cli.py"].status == "deleted" and "vanished" in done["cli.py"].reason
    [hit] = Retriever(conn, embedder=embedder).search("rooibos", k=1, mode="keyword")
    assert hit.rel_path == "drinks/tea.txt"
    _, fin = run(conn, [folder], embedder)
    assert fin.counts["unchanged"] == 2 and fin.counts["embedded"] == 0
    assert_consistent(conn)


def test_chunking_settings_change_rechunks_without_reembedding_unchanged_text(
    conn, folder, embedder
):
    run(conn, [folder], embedder)
    cfg = load().with_overrides(**{"index.chunk_tokens": 24, "index.chunk_overlap": 0})
    _, fin = run(conn, [folder], embedder, cfg=cfg)
    assert fin.counts["updated"] == 3
    (n,) = conn.execute("SELECT count(*) FROM chunks").fetchone()
    assert n > 3
    assert_consistent(conn)
