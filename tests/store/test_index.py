"""The index repository: collections, atomic per-file writes, vector GC, status rows."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ragterm.engine.index.chunk import Chunk, content_hash
from ragterm.errors import IndexingError
from ragterm.store import index_rows as store
from ragterm.store.db import connect, transaction


@pytest.fixture
def conn(tmp_path):
    c = connect(tmp_path / "t.db")
    yield c
    c.close()


def chunk(text: str, line: int = 1) -> Chunk:
    return Chunk(text, start_line=line, end_line=line, n_tokens=2, embed_text=text,
                 content_hash=content_hash(text))  # fmt: skip


def vec(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def write(conn, cid, path, texts, *, mtime=1.0):
    chunks = [chunk(t, i + 1) for i, t in enumerate(texts)]
    have = store.known_hashes(conn, [c.content_hash for c in chunks])
    vectors = {c.content_hash: vec(len(c.text)) for c in chunks if c.content_hash not in have}
    store.write_file(conn, cid, path, size=len(texts), mtime=mtime, sha256=f"sha-{texts}",
                     kind="text", chunks=chunks, vectors=vectors)  # fmt: skip


def test_collections_get_unique_names_and_are_found_by_name_or_path(conn, tmp_path):
    a = tmp_path / "x" / "notes"
    b = tmp_path / "y" / "notes"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    ca = store.add_collection(conn, a)
    cb = store.add_collection(conn, b)
    assert (ca.name, cb.name) == ("notes", "notes-2")
    assert store.get_collection(conn, "notes-2").root == str(b)
    assert store.get_collection(conn, str(a) + "/").id == ca.id
    assert store.containing(conn, a / "sub" / "file.md") == (ca, "sub/file.md")
    assert {c.id for c in store.nested_in(conn, tmp_path)} == {ca.id, cb.id}
    assert store.nested_in(conn, a) == []
    with pytest.raises(IndexingError, match="no collection named"):
        store.remove_collection(conn, "unknown")


def test_file_writes_replace_chunks_and_share_vectors(conn, tmp_path):
    c = store.add_collection(conn, tmp_path)
    write(conn, c.id, "a.txt", ["alpha", "beta"])
    write(conn, c.id, "b.txt", ["beta", "gamma"])  # "beta" is stored once
    assert store.counts(conn) == {"collections": 1, "files": 2, "chunks": 4, "vectors": 3}
    write(conn, c.id, "a.txt", ["delta"])  # edited: old chunks replaced
    assert [r[0] for r in conn.execute("SELECT text FROM chunks ORDER BY id")] == [
        "beta",
        "gamma",
        "delta",
    ]
    assert store.gc_vectors(conn) == 1  # "alpha" is unused now; "beta" is still used by b.txt
    (bits,) = conn.execute(f"SELECT count(*) FROM {store.VEC_TABLE}").fetchone()
    assert bits == store.counts(conn)["vectors"] == 3


def test_a_failed_write_leaves_the_previous_chunks(conn, tmp_path):
    c = store.add_collection(conn, tmp_path)
    write(conn, c.id, "a.txt", ["original"])

    class Broken:  # a chunk object that fails halfway through the insert
        content_hash = "h"
        text = "t"

        def __getattr__(self, name):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        store.write_file(conn, c.id, "a.txt", size=1, mtime=2.0, sha256="new", kind="text",
                         chunks=[chunk("new text"), Broken()], vectors={"h": vec(1)})  # fmt: skip
    assert [r[0] for r in conn.execute("SELECT text FROM chunks")] == ["original"]
    row = store.file_rows(conn, c.id)["a.txt"]
    assert row.status == "indexed" and row.mtime == 1.0
    assert store.known_hashes(conn, ["h"]) == set()


def test_removing_a_collection_drops_its_chunks_and_unused_vectors(conn, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    c1 = store.add_collection(conn, one)
    c2 = store.add_collection(conn, two)
    write(conn, c1.id, "a.txt", ["shared", "only one"])
    write(conn, c2.id, "b.txt", ["shared"])
    store.remove_collection(conn, str(one))
    assert store.counts(conn) == {"collections": 1, "files": 1, "chunks": 1, "vectors": 1}
    conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")


def test_binary_quantization_matches_sqlite_vec(conn):
    v = vec(7, 64)
    (ours,) = conn.execute("SELECT vec_bit(?)", (store.quantize(v).tobytes(),)).fetchone()
    (theirs,) = conn.execute("SELECT vec_quantize_binary(?)", (v.tobytes(),)).fetchone()
    assert ours == theirs


def test_status_lists_skipped_failed_pending_stale_and_missing(conn, tmp_path):
    c = store.add_collection(conn, tmp_path)
    for name in ("fresh.txt", "edited.txt", "gone.txt"):
        (tmp_path / name).write_text(name)
    for name in ("fresh.txt", "edited.txt", "gone.txt"):
        st = (tmp_path / name).stat()
        chunks = [chunk(name)]
        store.write_file(conn, c.id, name, size=st.st_size, mtime=st.st_mtime, sha256=name,
                         kind="text", chunks=chunks,
                         vectors={chunks[0].content_hash: vec(3)})  # fmt: skip
    with transaction(conn):
        store.set_file_status(conn, c.id, "big.log", "skipped", "too large")
        store.set_file_status(conn, c.id, "bad.pdf", "failed", "malformed PDF: x")
        store.set_file_status(conn, c.id, "new.md", "pending")
    (tmp_path / "edited.txt").write_text("edited, and longer")
    os.utime(tmp_path / "edited.txt", (5, 5))
    (tmp_path / "gone.txt").unlink()
    rows = {r.path: (r.status, r.reason) for r in store.status(conn)}
    assert rows == {
        "bad.pdf": ("failed", "malformed PDF: x"),
        "big.log": ("skipped", "too large"),
        "edited.txt": ("stale", "changed since it was indexed"),
        "gone.txt": ("missing", "deleted since it was indexed"),
        "new.md": ("pending", "indexing did not finish"),
    }


def test_model_meta_and_dropping_vectors(conn, tmp_path):
    assert store.index_model(conn) is None
    store.set_index_model(conn, "m", 8)
    c = store.add_collection(conn, tmp_path)
    write(conn, c.id, "a.txt", ["x", "y"])
    assert store.index_model(conn) == ("m", 8)
    store.drop_vectors(conn)
    assert store.index_model(conn) is None and not store.has_vec_table(conn)
    assert store.count_missing_vectors(conn) == 2
    assert {h for h, _ in store.missing_vectors(conn)} == {content_hash("x"), content_hash("y")}


def test_the_index_schema_comes_from_the_migration_before_it(tmp_path):
    from ragterm.store.migrations import migrate

    c = connect(tmp_path / "m.db", migrate=False)
    migrate(c, target=1)
    assert c.execute("SELECT name FROM sqlite_master WHERE name = 'chunks'").fetchone() is None
    migrate(c, target=2)
    names = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    assert {"collections", "files", "chunks", "vectors", "chunks_fts"} <= names
    assert Path(tmp_path / "m.db").exists()


def test_bulk_bit_read_matches_vec0_after_deletes(conn, tmp_path):
    c = store.add_collection(conn, tmp_path)
    for i in range(30):
        write(conn, c.id, f"f{i}.txt", [f"text number {i}"])
    gen = store.vectors_generation(conn)
    store.delete_files(conn, [r.id for r in store.file_rows(conn, c.id).values()][:10])
    store.gc_vectors(conn)
    assert store.vectors_generation(conn) != gen
    ids, bits = store.load_bits(conn, 8)
    rows = dict(conn.execute(f"SELECT rowid, embedding FROM {store.VEC_TABLE}").fetchall())
    assert sorted(ids.tolist()) == sorted(rows) and len(ids) == 20
    for i, b in zip(ids.tolist(), bits, strict=True):
        assert bytes(b) == rows[i]
