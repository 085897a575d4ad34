"""Vector search behind one interface: which stored vectors are near a query.

Why an interface: one SQLite file holds a laptop's folders (the 1-bit ``vec0`` table of
sqlite-vec plus an in-memory bit scan answer a query in milliseconds at 100k chunks, tens of ms
at 1M; docs/benchmarks.md). Past that, or when several machines share one index, the candidates
come from a server (a vector database: pgvector, Qdrant, LanceDB) while chunks, text and the
float vectors for exact re-scoring can stay where they are. Such a backend implements
``VectorIndex`` and registers in ``BACKENDS``; ``index.vector_store`` names the one used.

The embedded default, ``SqliteVecIndex``, reads the packed bits out of ``vec0``'s own storage
once (cached until the set of vectors changes) and scans them with numpy; ``vec0``'s KNN query
is its fallback when that storage layout is not the one this code knows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ragterm.errors import IndexingError
from ragterm.store import embedding_rows, search_rows
from ragterm.store.db import Connection


class VectorIndex(Protocol):
    """Candidate search over the stored vectors; exact cosine re-scoring happens afterwards."""

    name: str

    def candidates(self, qvec: np.ndarray, want: int) -> list[int]:
        """About ``want`` vector ids (``vectors.id``) most likely nearest to ``qvec``."""
        ...

    def __len__(self) -> int: ...


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


_SIGNS = (
    np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(
        np.float32
    )
    * 2
    - 1
)  # byte value -> its 8 bits as -1/+1


class BitMatrix:
    """Packed 1-bit vectors in memory, searched in two cheap steps before exact re-scoring.

    1. Hamming distance to the query's bits over every vector (one contiguous row per 64-bit
       word, ``np.bitwise_count``): keeps the best few thousand.
    2. Asymmetric distance: the float query against those candidates' +-1 codes, by a lookup
       table per byte; much closer to the true cosine than Hamming, so the exact float re-score
       afterwards needs only a few hundred vectors read from SQLite.
    """

    def __init__(self, ids: np.ndarray, bits: np.ndarray) -> None:
        self.ids = ids
        self.bits = bits  # (n, nbytes) uint8
        self.fast = bits.shape[1] % 8 == 0 and hasattr(np, "bitwise_count")
        if self.fast:
            self.words = np.ascontiguousarray(bits.view(np.uint64).T)  # (n_words, n)

    def __len__(self) -> int:
        return len(self.ids)

    def hamming(self, qbits: np.ndarray) -> np.ndarray:
        if not self.fast:  # numpy < 2 or odd dimensions: a byte lookup table
            return _POPCOUNT[self.bits ^ qbits].sum(axis=1, dtype=np.int32)
        dist = np.zeros(len(self.ids), dtype=np.uint16)
        for word, qword in zip(self.words, qbits.view(np.uint64), strict=True):
            dist += np.bitwise_count(word ^ qword)
        return dist

    def nearest(self, qvec: np.ndarray, want: int) -> np.ndarray:
        """Ids of about ``want`` vectors most likely to be nearest to ``qvec`` by cosine."""
        n = len(self.ids)
        if n <= want:
            return self.ids
        pool = min(n, max(want * 4, n // 50))
        top = np.arange(n)
        if pool < n:
            top = np.argpartition(self.hamming(embedding_rows.quantize(qvec)), pool)[:pool]
        nbytes = self.bits.shape[1]
        q = np.zeros(nbytes * 8, dtype=np.float32)
        q[: len(qvec)] = qvec
        table = (_SIGNS @ q.reshape(nbytes, 8).T).T  # (nbytes, 256)
        scores = table[np.arange(nbytes), self.bits[top]].sum(axis=1)
        return self.ids[top[np.argpartition(-scores, want)[:want]]]


class SqliteVecIndex:
    """The embedded default: sqlite-vec's ``vec0`` bit table in the index's own SQLite file."""

    name = "sqlite-vec"

    def __init__(self, conn: Connection, dim: int) -> None:
        self.conn = conn
        self.dim = dim
        self._bits: BitMatrix | None = None
        self._bits_gen: str | None = None

    def _load(self) -> BitMatrix | None:
        gen = embedding_rows.vectors_generation(self.conn)
        if self._bits_gen != gen:
            loaded = embedding_rows.load_bits(self.conn, self.dim)
            self._bits = BitMatrix(*loaded) if loaded is not None else None
            self._bits_gen = gen
        return self._bits

    def __len__(self) -> int:
        bits = self._load()
        if bits is not None:
            return len(bits)
        (n,) = self.conn.execute("SELECT count(*) FROM vectors").fetchone()
        return int(n)

    def candidates(self, qvec: np.ndarray, want: int) -> list[int]:
        bits = self._load()
        if bits is None:  # an unknown vec0 layout: its own KNN query (Hamming)
            return search_rows.knn_bits(self.conn, embedding_rows.quantize(qvec).tobytes(), want)
        return [int(i) for i in bits.nearest(qvec, want)]


BACKENDS: dict[str, Callable[[Connection, int], VectorIndex]] = {"sqlite-vec": SqliteVecIndex}


def open_index(conn: Connection, dim: int, kind: str = "sqlite-vec") -> VectorIndex:
    """The vector index named by ``index.vector_store`` over this connection's vectors."""
    try:
        return BACKENDS[kind](conn, dim)
    except KeyError:
        raise IndexingError(
            f"unknown vector store {kind!r}",
            hint=f"use one of: {', '.join(BACKENDS)} (ragterm config set index.vector_store …)",
        ) from None
