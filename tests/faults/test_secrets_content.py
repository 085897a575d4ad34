"""Secrets found by content, whatever the file's name: each kind is skipped whole with its kind and
line, never partly indexed; ordinary look-alikes (documentation examples, checksums, templates)
are indexed; ``index.include_secrets`` still indexes them when asked, and turning it off again
removes them without the files changing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragterm import config
from ragterm.engine.index.pipeline import FileProblem, parse_and_chunk
from tests.faults.hostile import SECRET_MARKER
from tests.faults.secret_samples import ORDINARY, SECRETS


@pytest.fixture(scope="module")
def tokenizer():
    from ragterm.engine.embed import load_tokenizer

    return load_tokenizer()


@pytest.mark.parametrize("sample", SECRETS, ids=[s.name for s in SECRETS])
def test_each_kind_is_skipped_with_its_kind_and_line(sample, tokenizer):
    with pytest.raises(FileProblem) as info:
        parse_and_chunk(sample.content(), Path(sample.name), tokenizer)
    problem = info.value
    assert problem.status == "skipped"
    assert f"contains a secret ({sample.kind}" in problem.reason, problem.reason
    if sample.line:
        assert f"{sample.kind}, {sample.line}" in problem.reason, problem.reason
    assert "index.include_secrets" in problem.reason
    assert SECRET_MARKER not in problem.reason  # the report never quotes the file
    assert "\n" not in problem.reason


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_lookalikes_are_indexed(name, tokenizer):
    chunks = parse_and_chunk(ORDINARY[name].encode(), Path(name), tokenizer)
    assert chunks


def _index(folder: Path, conn, **overrides: object) -> dict[str, tuple[str, str]]:
    from ragterm.engine.embed import BUNDLED, load_embedder
    from ragterm.engine.events import FileDone, IndexFinished
    from ragterm.engine.index.pipeline import index_paths

    cfg = config.load().with_overrides(**overrides)
    out: dict[str, tuple[str, str]] = {}
    for ev in index_paths(conn, [folder], cfg=cfg, embedder=load_embedder(BUNDLED)):
        if isinstance(ev, FileDone):
            out[ev.path] = (ev.status, ev.reason)
        elif isinstance(ev, IndexFinished):
            out["*embedded"] = (str(ev.counts["embedded"]), "")
    return out


def _leaked(conn) -> int:
    (n,) = conn.execute(
        "SELECT count(*) FROM chunks WHERE text LIKE ?", (f"%{SECRET_MARKER}%",)
    ).fetchone()
    return int(n)


@pytest.mark.timeout(180)
def test_include_secrets_on_then_off_drops_them_without_any_file_changing(tmp_path):
    from ragterm.store.db import connect

    folder = tmp_path / "notes"
    folder.mkdir()
    for sample in SECRETS[:4]:
        (folder / sample.name).write_bytes(sample.content())
    (folder / "lighthouse.md").write_text("# Lighthouse\n\nThe keeper trims the wick at dusk.\n")
    conn = connect()
    first = _index(folder, conn)
    assert all(first[s.name][0] == "skipped" for s in SECRETS[:4]), first
    assert first["lighthouse.md"][0] == "new" and _leaked(conn) == 0
    asked = _index(folder, conn, **{"index.include_secrets": True})
    assert all(asked[s.name][0] == "new" for s in SECRETS[:4]), asked
    assert _leaked(conn) == 4  # the setting does what it says
    again = _index(folder, conn)  # off again: read and scanned again, though nothing changed
    assert all("contains a secret" in again[s.name][1] for s in SECRETS[:4]), again
    assert again["*embedded"][0] == "0"  # read again, but its text kept its vector
    assert _leaked(conn) == 0
    conn.close()
