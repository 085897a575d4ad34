"""The store's vector search interface: sqlite-vec is the embedded default, others plug in."""

from __future__ import annotations

import numpy as np
import pytest

from ragterm.errors import IndexingError
from ragterm.store import index_rows as store
from ragterm.store import vector_rows as search
from ragterm.store.db import connect


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_sqlite_vec_finds_the_nearest_and_sees_new_vectors(tmp_path):
    conn = connect(tmp_path / "i.db")
    rng = np.random.default_rng(0)
    vecs = _unit(rng.standard_normal((500, 64)).astype(np.float32))
    store.add_vectors(conn, {f"h{i}": v for i, v in enumerate(vecs)})
    index = search.open_index(conn, 64)
    assert isinstance(index, search.SqliteVecIndex) and len(index) == 500
    want = int(np.argmax(vecs @ vecs[42]))
    ids = index.candidates(vecs[42], 20)
    (vid,) = conn.execute("SELECT id FROM vectors WHERE content_hash = 'h42'").fetchone()
    assert want == 42 and vid in ids
    store.add_vectors(conn, {"new": vecs[42] * -1})
    assert len(index) == 501  # the cached bit codes are reloaded when the vectors change


def test_an_unknown_vector_store_names_the_known_ones(tmp_path):
    with pytest.raises(IndexingError) as exc:
        search.open_index(connect(tmp_path / "i.db"), 64, "qdrant")
    assert "qdrant" in exc.value.message and "sqlite-vec" in exc.value.hint
