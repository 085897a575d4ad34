"""Query -> ranked, cited chunks: BM25 (FTS5) and vector KNN, fused.

Vector search is two-stage: a KNN over 1-bit quantized vectors in sqlite-vec's ``vec0`` finds
candidates (Hamming distance, brute force but 32x less data than float32), then the candidates'
float32 vectors are re-scored exactly with numpy. Keyword search is FTS5's BM25 over chunk text and
heading path, with the query reduced to quoted terms (never FTS syntax from the user). The two
rankings are fused by weighted reciprocal rank fusion (or a convex combination of normalised
scores); the defaults were tuned on the pydocs dev set (docs/benchmarks.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ragterm.engine.retrieve.evidence_units import score_units, terms, units_of
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import IndexingError
from ragterm.store import index_rows as store
from ragterm.store import search_rows as sql
from ragterm.store import vector_rows
from ragterm.store.db import Connection

MODES = ("hybrid", "vector", "keyword")
OVERSAMPLE = 8  # binary-KNN candidates per wanted vector hit, re-scored exactly
MIN_CANDIDATES = 100
EXACT_BELOW = 4000  # filtered searches over fewer chunks than this are exact (no KNN)
HEADING_WEIGHT = 1.0  # BM25 weight of the heading path relative to the chunk text (tuned)
# The gate's second chance: a best cosine within GATE_BAND below the gate passes when one chunk
# sent holds COVERAGE of the question's content words. MiniLM scores short, specific questions
# against short notes lower than pydocs questions against reference pages; the words in the
# chunk say it is about this all the same (docs/benchmarks.md, "the gate's second chance").
GATE_BAND = 0.1
COVERAGE = 0.5
# Line reading (rag.line_candidates): fusion ranks whole chunks, and a chunk of code whose one
# line names the thing asked for can sit 6th-15th under chunks that share more words overall. The
# last LINE_PLACES places (never one of the first LINE_KEEP) go to the candidates whose best line
# scores highest (evidence_units.score_units, keywords only); the rest stay fusion's. Code dev
# set: right file among the five 67 -> 71 of 76, pydocs 45 -> 46, notes unchanged; more places
# cost the pydocs retrieval set at k 10 (docs/benchmarks.md, "reading the candidates' lines").
LINE_KEEP = 3
LINE_PLACES = 2

STOPWORDS = frozenset(
    """a an and are as at be but by can do does for from has have how i if in into is it its of on
    or so such that the their then there these they this to was were what when where which who why
    will with you your""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def has_index(conn: Connection) -> bool:
    """True when at least one chunk is indexed (chat uses retrieval only then)."""
    return store.has_chunks(conn)


def fts_query(text: str) -> str | None:
    """The user's words as quoted FTS5 terms joined by OR; stop words dropped when others remain.

    Quoting every term means no user input is ever read as FTS5 syntax (NEAR, *, :, -, quotes).
    """
    words = [w.lower() for w in _WORD.findall(text)]
    terms = [w for w in words if w not in STOPWORDS] or words
    unique = list(dict.fromkeys(terms))
    if not unique:
        return None
    return " OR ".join(f'"{t}"' for t in unique[:64])


def coverage(query: str, hits: Sequence[Hit]) -> float:
    """The largest share of the query's content words that one hit holds (text or heading)."""
    want = set(terms(query))
    if not want:
        return 0.0
    return max(
        (len(want & set(terms(f"{h.heading}\n{h.text}"))) / len(want) for h in hits), default=0.0
    )


def by_best_line(query: str, hits: Sequence[Hit], k: int, keep: int) -> list[Hit]:
    """The first ``keep`` hits as ranked, then the best of the rest by their best line's share
    of the query's words (ties keep the ranking's order); ``rerank_score`` holds that share for
    the places it decided."""
    if k <= keep:
        return list(hits[:k])
    units = units_of(hits)
    best = [0.0] * len(hits)
    for u, s in zip(units, score_units(query, units), strict=True):
        best[u.source - 1] = max(best[u.source - 1], float(s))
    rest = sorted(range(keep, len(hits)), key=lambda i: (-best[i], i))
    return list(hits[:keep]) + [replace(hits[i], rerank_score=best[i]) for i in rest[: k - keep]]


class Retriever:
    """Search the index. Cheap to create; the embedding model loads on the first vector search,
    or beforehand in a thread with ``preload``."""

    def __init__(self, conn: Connection, embedder: Any = None, cfg: Any = None) -> None:
        if cfg is None:
            from ragterm import config  # lazy: read only when no settings are passed in

            cfg = config.load()
        self.conn = conn
        self.cfg = cfg
        self._embedder = embedder
        self._vindex: Any = None  # store.vectors.VectorIndex, opened on the first vector search
        self._preloading: threading.Thread | None = None

    def preload(self) -> None:
        """Load the embedding model, run it once and read the vector index in a thread, so that
        the first question does not wait for them (``ask`` starts this before it loads the chat
        model). A search waits for it to end; a failure here is left for that search to raise."""
        if self._preloading is not None:
            return

        def work() -> None:
            try:
                model = store.index_model(self.conn)
                if model is None:
                    return
                self.embedder.embed_query("warm up")  # the first run of a model is the slowest
                if store.has_vec_table(self.conn):
                    self._open_vindex(model[1])
                    len(self._vindex)  # reads the bit codes (store.vectors)
            except Exception:  # the search that needs it raises it again
                pass

        self._preloading = threading.Thread(target=work, name="ragterm-preload", daemon=True)
        self._preloading.start()

    def wait_preload(self) -> None:
        """Wait for ``preload`` to end (searches do; so does a caller about to exit)."""
        t = self._preloading
        if t is not None and t is not threading.current_thread():
            t.join()
            self._preloading = None

    def _open_vindex(self, dim: int) -> None:
        if self._vindex is None:
            self._vindex = vector_rows.open_index(self.conn, dim, self.cfg["index.vector_store"])

    @property
    def embedder(self) -> Any:
        """The model the stored vectors were made with (queries must use the same one)."""
        self.wait_preload()
        stored = store.index_model(self.conn)
        if self._embedder is None:
            from ragterm.engine.embed import configured_name, load_embedder  # lazy: first search

            name = stored[0] if stored else configured_name(self.cfg)
            self._embedder = load_embedder(name, cfg=self.cfg)
        if stored is not None and (stored[0], stored[1]) != (
            self._embedder.name,
            self._embedder.dim,
        ):
            raise IndexingError(
                f"the index was embedded with {stored[0]!r} ({stored[1]} dims), not "
                f"{self._embedder.name!r} ({self._embedder.dim} dims)",
                hint="run `ragterm index --reembed` to embed it again with the new model",
            )
        return self._embedder

    def search(
        self,
        query: str,
        k: int = 5,
        threshold: float | None = None,
        collections: list[str] | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
        gate: float | None = None,
        read_lines: bool = True,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``, best first, each with its citation and scores.

        ``threshold`` drops hits whose cosine similarity to the query is below it (``search
        --threshold``); ``gate`` finds nothing unless the best candidate reaches it, and then keeps
        the ranked hits as they are: the answer path's test of "is anything here about this?" (a
        weaker chunk of the right file still goes to the model; on the notes dev set cutting each
        chunk at 0.4 dropped the right file for 8 of 42 questions, gating on the best for 6; a
        best candidate up to ``GATE_BAND`` under the gate still passes when a chunk sent holds
        ``COVERAGE`` of the question's content words: 2 of 42 left out);
        ``read_lines`` False keeps fusion's order in every place (``rag.line_candidates`` 0);
        ``collections`` (names) and ``path_glob`` (matched against the path relative to the
        collection and the absolute path; ``*`` crosses folders) restrict where to look.
        """
        if mode not in MODES:
            raise IndexingError(f"unknown search mode {mode!r}", hint=f"use one of {MODES}")
        if k < 1:
            raise IndexingError(f"k must be at least 1, not {k}")
        if not query.strip():
            raise IndexingError("the search query is empty", hint="type some words to look for")
        self.wait_preload()
        where, args = self._filters(collections, path_glob)
        depth = max(k * 4, 40)  # candidates per ranking: fusion needs more than k
        keyword: list[tuple[int, float]] = []
        vector: list[tuple[int, float]] = []
        qvec = None
        if mode in ("hybrid", "vector") or threshold is not None or gate is not None:
            qvec = self.embedder.embed_query(query)
        if mode in ("hybrid", "keyword"):
            keyword = self.keyword_search(query, depth, where, args)
        if mode in ("hybrid", "vector") and qvec is not None:
            vector = self.vector_search(qvec, depth, where, args)
        vrank = {cid: r for r, (cid, _) in enumerate(vector, 1)}
        krank = {cid: r for r, (cid, _) in enumerate(keyword, 1)}
        vscore = dict(vector)
        if qvec is not None:
            missing = [cid for cid, _ in keyword if cid not in vscore]
            vscore.update(self._cosines(qvec, missing))
        if mode == "vector":
            fused = {cid: s for cid, s in vector}
        elif mode == "keyword":
            fused = {cid: -s for cid, s in keyword}
        else:
            fused = self._fuse(vector, keyword, vscore)
        order = sorted(fused, key=lambda c: fused[c], reverse=True)
        if threshold is not None:
            order = [c for c in order if vscore.get(c, -1.0) >= threshold]
        best = max((vscore.get(c, -1.0) for c in order), default=-1.0)
        if gate is not None and best < gate - GATE_BAND:
            order = []
        reranker = self.reranker if mode == "hybrid" else None
        reads = read_lines and mode == "hybrid" and not reranker
        lines = int(self.cfg["rag.line_candidates"]) if reads else 0
        want = max(k, int(self.cfg["rag.rerank_candidates"])) if reranker else max(k, lines)
        rows = self._rows(order)
        hits: list[Hit] = []
        seen: set[str] = set()
        for cid in order:
            row = rows.get(cid)
            if row is None or row["content_hash"] in seen:
                continue  # the same text in two files is one hit
            seen.add(row["content_hash"])
            hits.append(self._hit(row, fused[cid], vscore.get(cid), vrank.get(cid), krank.get(cid)))
            if len(hits) == want:
                break
        if reranker is not None:
            hits = reranker.rerank(query, hits)[:k]
        elif len(hits) > k:
            hits = by_best_line(query, hits, k, keep=max(LINE_KEEP, k - LINE_PLACES))
        if gate is not None and best < gate and coverage(query, hits) < COVERAGE:
            return []  # the words are checked in the chunks that would be sent (after reranking)
        return hits

    @property
    def reranker(self) -> Any:
        """The cross-encoder of ``rag.rerank`` (engine.rerank), or None when it is off."""
        from ragterm.engine.retrieve.rerank import load_reranker  # lazy: only with rag.rerank

        return load_reranker(str(self.cfg["rag.rerank"]))

    # -- the two rankings -----------------------------------------------------------------------

    def keyword_search(
        self, query: str, n: int, where: str = "", args: Sequence[Any] = ()
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25) best first; BM25 here is negative, lower is better (FTS5's sign)."""
        q = fts_query(query)
        if q is None:
            return []
        return sql.keyword_rows(self.conn, q, n, HEADING_WEIGHT, where, args)

    def vector_search(
        self, qvec: np.ndarray, n: int, where: str = "", args: Sequence[Any] = ()
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) best first."""
        self.wait_preload()
        model = store.index_model(self.conn)
        if model is None or not store.has_vec_table(self.conn):
            return []
        dim = model[1]
        if where:
            if sql.count_chunks(self.conn, where, args) <= EXACT_BELOW:
                return self._exact_filtered(qvec, n, where, args, dim)
        # stage 1: Hamming KNN over the bit vectors; stage 2: exact cosine of the candidates
        want = min(4096, max(n * OVERSAMPLE, MIN_CANDIDATES) * (4 if where else 1))
        ids = self._hamming_candidates(qvec, want, dim)
        if not ids:
            return []
        vrows = sql.vectors_by_id(self.conn, ids)
        mat = store.from_blobs([r[1] for r in vrows], dim)
        sims = mat @ qvec.astype(np.float32)
        best = np.argsort(-sims)
        vec_ids = [int(vrows[i][0]) for i in best]
        sim_of = {int(vrows[i][0]): float(sims[i]) for i in best}
        out: list[tuple[int, float]] = []
        step = max(n, 64)
        for a in range(0, len(vec_ids), step):  # map vectors to chunks, best first, until n
            part = vec_ids[a : a + step]
            rows = sql.chunks_of_vectors(self.conn, part, where, args)
            out.extend((chunk, sim_of[vec]) for chunk, vec in rows)
            if len(out) >= n:
                break
        out.sort(key=lambda t: -t[1])
        return out[:n]

    def _hamming_candidates(self, qvec: np.ndarray, want: int, dim: int) -> list[int]:
        """``want`` candidate vector ids for ``qvec`` from the vector index (store.vectors)."""
        self._open_vindex(dim)
        return self._vindex.candidates(qvec, want)

    def _exact_filtered(
        self, qvec: np.ndarray, n: int, where: str, args: Sequence[Any], dim: int
    ) -> list[tuple[int, float]]:
        rows = sql.chunk_vectors(self.conn, where, args)
        if not rows:
            return []
        sims = store.from_blobs([r[1] for r in rows], dim) @ qvec.astype(np.float32)
        best = np.argsort(-sims)[:n]
        return [(int(rows[i][0]), float(sims[i])) for i in best]

    def _cosines(self, qvec: np.ndarray, chunk_ids: list[int]) -> dict[int, float]:
        if not chunk_ids:
            return {}
        model = store.index_model(self.conn)
        if model is None:
            return {}
        rows = sql.vectors_of_chunks(self.conn, chunk_ids)
        if not rows:
            return {}
        sims = store.from_blobs([r[1] for r in rows], model[1]) @ qvec.astype(np.float32)
        return {int(r[0]): float(s) for r, s in zip(rows, sims, strict=True)}

    # -- fusion ---------------------------------------------------------------------------------

    def _fuse(
        self,
        vector: list[tuple[int, float]],
        keyword: list[tuple[int, float]],
        vscore: dict[int, float],
    ) -> dict[int, float]:
        w = float(self.cfg["rag.vector_weight"])
        if self.cfg["rag.fusion"] == "convex":
            ids = list(dict.fromkeys([c for c, _ in vector] + [c for c, _ in keyword]))
            vs = np.array([vscore.get(c, 0.0) for c in ids])
            bm = dict(keyword)
            ks = np.array([-bm[c] if c in bm else 0.0 for c in ids])
            vs = (vs - vs.min()) / (np.ptp(vs) or 1.0) if len(vs) else vs
            kmax = ks.max() if len(ks) else 0.0
            ks = ks / kmax if kmax > 0 else ks
            return {c: float(w * v + (1 - w) * s) for c, v, s in zip(ids, vs, ks, strict=True)}
        rrf_k = float(self.cfg["rag.rrf_k"])
        out: dict[int, float] = {}
        for rank, (cid, _) in enumerate(vector, 1):
            out[cid] = out.get(cid, 0.0) + w / (rrf_k + rank)
        for rank, (cid, _) in enumerate(keyword, 1):
            out[cid] = out.get(cid, 0.0) + (1 - w) / (rrf_k + rank)
        return out

    # -- results --------------------------------------------------------------------------------

    def _filters(
        self, collections: list[str] | None, path_glob: str | None
    ) -> tuple[str, list[Any]]:
        if collections:
            known = {c.name for c in store.list_collections(self.conn)}
            unknown = [c for c in collections if c not in known]
            if unknown:
                names = ", ".join(sorted(known)) or "none"
                raise IndexingError(
                    f"no collection named {unknown[0]!r} (known: {names})",
                    hint="see `ragterm index --list`",
                )
        return sql.filters(collections, path_glob)

    def _rows(self, chunk_ids: list[int]) -> dict[int, Any]:
        return sql.hit_rows(self.conn, chunk_ids)

    @staticmethod
    def _hit(
        row: Any, score: float, vscore: float | None, vrank: int | None, krank: int | None
    ) -> Hit:
        root = Path(row["root"])
        full = root if row["path"] == root.name and root.is_file() else root / row["path"]
        return Hit(
            chunk_id=int(row["id"]),
            text=row["text"],
            path=str(full),
            rel_path=row["path"],
            collection=row["collection"],
            heading=row["heading"] or "",
            start_line=row["start_line"],
            end_line=row["end_line"],
            page=row["page"],
            score=float(score),
            vector_score=vscore,
            vector_rank=vrank,
            keyword_rank=krank,
        )
