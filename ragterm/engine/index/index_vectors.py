"""The index's vectors: made by one embedding model only, and none missing.

``check_model`` refuses to mix two models' vectors (a different model needs an explicit
re-embed); ``embed_missing`` embeds the chunks that have no vector (after a re-embed was asked
for, or an interrupted run).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from ragterm.engine.events import EmbedProgress, IndexFinished, IndexStarted
from ragterm.errors import IndexingError
from ragterm.store import embedding_rows, index_rows
from ragterm.store.db import Connection

Event = IndexStarted | EmbedProgress | IndexFinished


def check_model(conn: Connection, embedder: Any, *, reembed: bool = False) -> None:
    """Never mix vectors of two models: a different model needs an explicit re-embed."""
    stored = embedding_rows.index_model(conn)
    if stored is None or reembed:
        return
    name, dim = stored
    if name != embedder.name or dim != embedder.dim:
        names = [c.name for c in index_rows.list_collections(conn)]
        which = f" (collections: {', '.join(names[:5])})" if names else ""
        raise IndexingError(
            f"the index{which} was embedded with {name!r} ({dim} dims), but the embedding model "
            f"is now {embedder.name!r} ({embedder.dim} dims); mixing models is refused",
            hint="run `ragterm index --reembed` to embed everything again with the new model, "
            f"or set it back: ragterm config set embed.model {name}",
        )


def embed_missing(
    conn: Connection, embedder: Any, cfg: Any, cancel: threading.Event
) -> Iterator[Event]:
    """Embed chunks that have no vector: a re-embed, or one that was interrupted."""
    total = embedding_rows.count_missing_vectors(conn)
    started = time.monotonic()
    yield IndexStarted("*", "", 0)
    done = 0
    batch = max(int(cfg["embed.batch_size"]), 1)
    while not cancel.is_set():
        todo = embedding_rows.missing_vectors(conn, limit=batch * 4)
        if not todo:
            break
        todo.sort(key=lambda t: len(t[1]))
        for k in range(0, len(todo), batch):
            if cancel.is_set():
                break
            part = todo[k : k + batch]
            vecs = embedder.embed([t for _, t in part], batch_size=batch)
            embedding_rows.add_vectors(conn, {h: v for (h, _), v in zip(part, vecs, strict=True)})
            done += len(part)
            rate = done / max(time.monotonic() - started, 1e-6)
            yield EmbedProgress(done, total, rate, eta_s=(total - done) / rate if rate else None)
    yield IndexFinished(
        "*",
        {"embedded": done},
        time.monotonic() - started,
        cancelled=cancel.is_set(),
    )
