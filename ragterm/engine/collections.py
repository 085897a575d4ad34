"""Indexed collections as the front ends use them: list, count, remove, and the index's health.

A service over ``store/index``; indexing itself is ``engine.indexer``, searching
``engine.retrieval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragterm.store import index as store
from ragterm.store.db import Connection
from ragterm.store.index import Collection, StatusRow

__all__ = ["Collection", "IndexStatus", "StatusRow", "count", "list_collections", "remove"]


def list_collections(conn: Connection) -> list[Collection]:
    """Every collection, by name, with its counts of files, chunks and skipped files."""
    return store.list_collections(conn)


def count(conn: Connection) -> int:
    return store.count_collections(conn)


def remove(conn: Connection, name_or_path: str) -> Collection:
    """Forget a collection and its files; ``IndexingError`` if there is none by that name."""
    return store.remove_collection(conn, name_or_path)


@dataclass
class IndexStatus:
    """What `ragterm index --status` reports."""

    embed_model: str | None  # the model the stored vectors come from
    embed_dim: int | None
    chunks_without_vectors: int
    files: list[StatusRow] = field(default_factory=list)  # files that need attention


def status(conn: Connection) -> IndexStatus:
    model = store.index_model(conn)
    return IndexStatus(
        embed_model=model[0] if model else None,
        embed_dim=model[1] if model else None,
        chunks_without_vectors=store.count_missing_vectors(conn),
        files=store.status(conn),
    )
