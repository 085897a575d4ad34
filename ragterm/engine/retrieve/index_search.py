"""Retrieval over the index as the conversation calls it: ``search(query, k) -> hits``."""

from __future__ import annotations

from typing import Any

from ragterm.engine.retrieve.hits import Hit
from ragterm.store.db import Connection


class IndexSearch:
    """Retrieval over the index as a ``Retrieve`` callable; its embedder also scores evidence."""

    def __init__(self, retriever: Any, threshold: float | None) -> None:
        self.retriever = retriever
        self.threshold = threshold

    def __call__(self, query: str, k: int, read_lines: bool = True) -> list[Hit]:
        return self.retriever.search(query, k=k, gate=self.threshold, read_lines=read_lines)

    def preload(self) -> None:
        """Load the embedding model and the vector index in a thread (Retriever.preload)."""
        self.retriever.preload()

    def wait_preload(self) -> None:
        self.retriever.wait_preload()

    @property
    def embedder(self) -> Any:
        return self.retriever.embedder


def make_retriever(conn: Connection, cfg: Any) -> IndexSearch | None:
    """A retrieval callable over the index, or None when nothing is indexed (or no index code)."""
    try:
        # lazy: loaded on first use, not when this module is imported
        from ragterm.engine.retrieve import hybrid_search
    except ImportError:
        return None
    if not hybrid_search.has_index(conn):
        return None
    threshold = cfg["rag.threshold"]
    return IndexSearch(hybrid_search.Retriever(conn, cfg=cfg), threshold or None)
