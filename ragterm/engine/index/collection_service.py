"""Indexed collections as the front ends use them: list, count, remove, and the index's health.

A service over ``store/index_rows``; indexing itself is ``engine.index.pipeline``, searching
``engine.retrieve.hybrid_search``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragterm.errors import RagtermError
from ragterm.store import embedding_rows, index_rows
from ragterm.store.db import Connection
from ragterm.store.index_rows import Collection, StatusRow

__all__ = [
    "Collection",
    "IndexStatus",
    "Lines",
    "StatusRow",
    "count",
    "inside",
    "list_collections",
    "read_lines",
    "remove",
]
MAX_LINES = 500  # lines one read_lines call returns


def list_collections(conn: Connection) -> list[Collection]:
    """Every collection, by name, with its counts of files, chunks and skipped files."""
    return index_rows.list_collections(conn)


def count(conn: Connection) -> int:
    return index_rows.count_collections(conn)


def remove(conn: Connection, name_or_path: str) -> Collection:
    """Forget a collection and its files; ``IndexingError`` if there is none by that name."""
    return index_rows.remove_collection(conn, name_or_path)


@dataclass
class IndexStatus:
    """What `ragterm index --status` reports."""

    embed_model: str | None  # the model the stored vectors come from
    embed_dim: int | None
    chunks_without_vectors: int
    files: list[StatusRow] = field(default_factory=list)  # files that need attention


def status(conn: Connection) -> IndexStatus:
    model = embedding_rows.index_model(conn)
    return IndexStatus(
        embed_model=model[0] if model else None,
        embed_dim=model[1] if model else None,
        chunks_without_vectors=embedding_rows.count_missing_vectors(conn),
        files=index_rows.status(conn),
    )


def inside(path: Path, root: Path) -> bool:
    """The indexer's ``inside`` symlink rule: the file, all links followed, lies in the root,
    all links followed (a link inside a collection to a file outside it does not count)."""
    try:
        real, base = path.resolve(strict=True), root.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return real == base or real.is_relative_to(base)


def locate(conn: Connection, path: str) -> tuple[Path, Collection]:
    """The file ``path`` (absolute, or relative to a collection's folder) and its collection;
    ``RagtermError`` unless it lies inside an indexed folder by the ``inside`` rule."""
    given = Path(os.path.expanduser(path))
    found = list_collections(conn)
    if not found:
        raise RagtermError("nothing is indexed yet", hint="index a folder: ragterm index ~/notes")
    for c in found:
        root = Path(c.root)
        candidate = given if given.is_absolute() else root / given
        if inside(candidate, root):
            return candidate.resolve(), c
    raise RagtermError(
        f"{path} is not a file inside an indexed folder",
        hint="give a path inside a collection (list_collections); links out of it are not followed",
    )


@dataclass
class Lines:
    """Lines ``start``..``end`` (1-based, inclusive) of a file inside an indexed folder."""

    path: str
    rel_path: str
    collection: str
    start: int
    end: int
    total: int
    text: str

    def citation(self) -> str:
        span = f"{self.start}" if self.start == self.end else f"{self.start}-{self.end}"
        return f"{self.rel_path}:{span}"


def read_lines(
    conn: Connection, cfg: Any, path: str, start: int = 1, end: int | None = None
) -> Lines:
    """Lines of an indexed folder's file as they are now (at most ``MAX_LINES``), refused for
    what the indexer would not read either: links out of the folder, secrets (unless
    ``index.include_secrets``), binary, special or too large files."""
    # lazy: loaded on first use, not when this module is imported
    from ragterm.engine.index.parse import ParseFailed
    from ragterm.engine.index.parse.text import decode
    from ragterm.engine.index.walk import WalkOptions, _check_file

    if start < 1 or (end is not None and end < start):
        raise RagtermError(f"bad line range {start}-{end}", hint="start at 1, end at or after it")
    real, c = locate(conn, path)
    root = Path(c.root).resolve()
    rel = real.relative_to(root).as_posix() if real != root else real.name
    opts = WalkOptions(
        max_bytes=int(float(cfg["index.max_file_mb"]) * 1024 * 1024),
        include_secrets=bool(cfg["index.include_secrets"]),
    )
    entry = _check_file(real, rel, opts)
    if entry.reason is not None:
        raise RagtermError(f"{path}: not readable here ({entry.reason})")
    try:
        lines = decode(real.read_bytes()).split("\n")
    except OSError as exc:
        raise RagtermError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ParseFailed as exc:
        raise RagtermError(f"{path}: cannot be read ({exc.reason})") from None
    if lines and lines[-1] == "":
        lines.pop()
    if start > len(lines):
        raise RagtermError(f"{path} has {len(lines)} lines, not {start}", hint="start lower")
    last = min(len(lines), end or len(lines), start + MAX_LINES - 1)
    text = "\n".join(lines[start - 1 : last])
    return Lines(str(real), rel, c.name, start, last, len(lines), text)
