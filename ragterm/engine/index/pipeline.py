"""Folders -> searchable chunks: walk -> hash -> parse -> chunk -> embed what is new -> store.

An iterator of events (IndexStarted, FileDone, EmbedProgress, IndexFinished): the CLI draws a
progress bar from them, the TUI posts them as messages. Work is incremental at three levels:
files whose size and mtime are unchanged are not read; files whose sha256 is unchanged are not
parsed; chunks whose text already has a vector (anywhere, e.g. in a moved file) are not embedded.

Each file's chunks are written in one transaction. A file is marked ``pending`` before its work
starts, so an indexer killed mid-run leaves a consistent index (old chunks, or none) and the next
run picks the pending files up again.

Nothing leaves the folder and no secret is indexed: a symlink that leads out of the folder is
never read (``walk.link_rule``, checked again right before the read), and a file in which
detect-secrets finds a credential is skipped whole (``secret_scan``), before any of its text is
chunked or embedded (with ``embed.backend = remote``, before anything is sent).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragterm.engine.events import EmbedProgress, FileDone, IndexFinished, IndexStarted
from ragterm.engine.index.chunk import Chunk
from ragterm.engine.index.file_chunks import FileProblem, NotRegular, parse_and_chunk, read_regular
from ragterm.engine.index.index_vectors import check_model, embed_missing
from ragterm.engine.index.parse import kind_of
from ragterm.engine.index.walk import Entry, WalkOptions, link_rule, walk
from ragterm.store import index_rows as store
from ragterm.store.db import Connection, get_meta, set_meta, storage_errors, transaction
from ragterm.store.lock import db_file, writer_lock

Event = IndexStarted | FileDone | EmbedProgress | IndexFinished
# 2: Python headings carry signature + docstring; 3: other languages too; 4: a code chunk keeps
# its first line's indentation
CHUNKER_VERSION = 4
# Bumped when the secret scan finds more: every file is read and scanned again once (unchanged
# chunk texts keep their vectors, so nothing is embedded again).
SECRET_SCAN_VERSION = 1
MODEL_KEY = "index.collection_model."  # + collection id: the model that made its vectors
FLUSH_AT = 256  # chunk texts gathered before embedding: ~30 s of work on a laptop CPU


def index_paths(
    conn: Connection,
    paths: list[Path],
    *,
    cfg: Any = None,
    embedder: Any = None,
    cancel: threading.Event | None = None,
    reembed: bool = False,
) -> Iterator[Event]:
    """Index each path (a folder or a file), registering it as a collection if new.

    A path inside an existing collection updates that part of it; a folder that contains
    existing collections absorbs them (their vectors are reused). ``reembed`` drops every vector
    and embeds all chunks again with ``embedder`` (after the embedding model changed).
    Raises IndexingError when the stored vectors come from another model and ``reembed`` is off,
    or when another indexer is writing this database (one writer at a time, see store.lock);
    sqlite failures (disk full, read-only, damaged file) become a StorageError naming the file.
    """

    with storage_errors(db_file(conn) or "(memory)"), writer_lock(conn, "index"):
        yield from _index_paths(
            conn, paths, cfg=cfg, embedder=embedder, cancel=cancel, reembed=reembed
        )


def _index_paths(
    conn: Connection,
    paths: list[Path],
    *,
    cfg: Any,
    embedder: Any,
    cancel: threading.Event | None,
    reembed: bool,
) -> Iterator[Event]:
    if cfg is None:
        from ragterm import config  # lazy: only when the caller passed no settings

        cfg = config.load()
    cancel = cancel or threading.Event()
    if embedder is None:
        from ragterm.engine.embed import configured_name, load_embedder  # lazy: fastembed, numpy

        embedder = load_embedder(configured_name(cfg), cfg=cfg)
    check_model(conn, embedder, reembed=reembed)
    if reembed:
        store.drop_vectors(conn)
    if store.index_model(conn) is None:
        store.set_index_model(conn, embedder.name, embedder.dim)
    if store.count_missing_vectors(conn):
        yield from embed_missing(conn, embedder, cfg, cancel)
    for path in paths:
        if cancel.is_set():
            break
        yield from _Run(conn, Path(path), cfg, embedder, cancel).run()


@dataclass
class _Work:
    """A parsed file waiting for the vectors of its new chunk texts."""

    entry: Entry
    kind: str
    sha: str
    chunks: list[Chunk]
    status: str  # new | updated
    new_hashes: set[str] = field(default_factory=set)


class _Run:
    """One collection's indexing run (a class only to share its counters between steps)."""

    def __init__(
        self, conn: Connection, path: Path, cfg: Any, embedder: Any, cancel: threading.Event
    ) -> None:
        self.conn = conn
        self.path = path.expanduser()
        self.cfg = cfg
        self.embedder = embedder
        self.cancel = cancel
        self.counts = dict.fromkeys(
            (
                "new",
                "updated",
                "unchanged",
                "deleted",
                "skipped",
                "failed",
                "embedded",
                "chunks",
                "ignored",
            ),
            0,
        )
        self.skipped: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.started = time.monotonic()
        self.chunk_tokens = int(cfg["index.chunk_tokens"])
        self.overlap = int(cfg["index.chunk_overlap"])
        self.batch = max(int(cfg["embed.batch_size"]), 1)
        self.max_bytes = int(float(cfg["index.max_file_mb"]) * 1024 * 1024)
        self.include_secrets = bool(cfg["index.include_secrets"])
        self.follow = str(cfg["index.follow_symlinks"])
        # embedding progress
        self.files_total = 0
        self.files_done = 0
        self.todo_bytes = 0
        self.parsed_bytes = 0
        self.needed = 0  # chunk texts found to need embedding so far
        self.embed_seconds = 0.0

    # -- the steps ------------------------------------------------------------------------------

    def run(self) -> Iterator[Event]:
        try:
            root = self.path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            reason = "no such file or folder" if isinstance(exc, FileNotFoundError) else str(exc)
            yield IndexStarted(str(self.path), str(self.path), 0)
            yield self._done(str(self.path), "failed", reason)
            yield self._finished(str(self.path))
            return
        absorbed: list[store.Collection] = []
        inside = store.containing(self.conn, root)
        if inside is not None:
            collection, scope = inside
            if scope:
                self.notes.append(f"{scope} is part of collection {collection.name!r}: updated it")
        else:
            absorbed = store.nested_in(self.conn, root)
            collection, scope = store.add_collection(self.conn, root), ""
        self.collection = collection
        set_meta(self.conn, f"{MODEL_KEY}{collection.id}", self.embedder.name)
        opts = WalkOptions(
            max_bytes=int(float(self.cfg["index.max_file_mb"]) * 1024 * 1024),
            include_secrets=self.include_secrets,
            follow_symlinks=self.follow,
        )
        entries = list(walk(Path(collection.root), opts, scope=scope))
        yield IndexStarted(collection.name, collection.root, sum(not e.ignored for e in entries))
        scan = "all" if self.include_secrets else f"s{SECRET_SCAN_VERSION}"
        chunker = (
            f"{CHUNKER_VERSION}:{self.embedder.name}:{self.chunk_tokens}:{self.overlap}:{scan}"
        )
        chunker_key = f"index.chunker.{collection.id}"
        rechunk = get_meta(self.conn, chunker_key) not in (None, chunker)
        known = store.file_rows(self.conn, collection.id, scope)
        todo: list[tuple[Entry, store.FileRow | None]] = []
        seen: set[str] = set()
        ignored = [e for e in entries if e.ignored]
        entries = [e for e in entries if not e.ignored]
        self.counts["ignored"] = len(ignored)
        self.files_total = len(entries)
        for e in entries:
            seen.add(e.rel)
            row = known.get(e.rel)
            if e.reason is not None:
                if row is None or row.status != "skipped" or row.reason != e.reason:
                    with transaction(self.conn):
                        store.set_file_status(
                            self.conn, collection.id, e.rel, "skipped", e.reason,
                            size=e.size, mtime=e.mtime, drop_chunks=True,
                        )  # fmt: skip
                yield self._done(e.rel, "skipped", e.reason)
            elif (
                row is not None
                and not rechunk
                and row.status == "indexed"
                and row.size == e.size
                and row.mtime == e.mtime
            ):
                yield self._done(e.rel, "unchanged")
            else:
                todo.append((e, row))
        gone = [row for rel, row in known.items() if rel not in seen]
        if gone:
            store.delete_files(self.conn, [r.id for r in gone])
            for r in gone:
                yield self._done(r.path, "deleted")
        with transaction(self.conn):
            for e, _ in todo:
                store.set_file_status(
                    self.conn, collection.id, e.rel, "pending", size=e.size, mtime=e.mtime,
                    kind=kind_of(e.path),
                )  # fmt: skip
        self.todo_bytes = sum(e.size for e, _ in todo) or 1
        yield from self._process(todo, rechunk)
        if not self.cancel.is_set():
            for other in absorbed:
                store.remove_collection(self.conn, other.name)
                self.notes.append(
                    f"collection {other.name!r} ({other.root}) is inside this folder: merged in"
                )
            set_meta(self.conn, chunker_key, chunker)
        store.gc_vectors(self.conn)
        with transaction(self.conn):
            store.touch_collection(self.conn, collection.id)
        yield self._finished(collection.name)

    def _process(
        self, todo: list[tuple[Entry, store.FileRow | None]], rechunk: bool
    ) -> Iterator[Event]:
        queue: list[_Work] = []
        need: dict[str, str] = {}  # content hash -> text to embed
        for e, row in todo:
            if self.cancel.is_set():
                break
            work, events = self._prepare(e, row, rechunk)
            yield from events
            if work is None:
                continue
            fresh = {c.content_hash for c in work.chunks} - need.keys()
            fresh -= store.known_hashes(self.conn, fresh)
            work.new_hashes = {c.content_hash for c in work.chunks} & (fresh | need.keys())
            for c in work.chunks:
                if c.content_hash in fresh:
                    need.setdefault(c.content_hash, c.embed_text)
            self.needed += len(fresh)
            queue.append(work)
            if len(need) >= FLUSH_AT:
                yield from self._flush(queue, need)
                queue, need = [], {}
        if queue and not self.cancel.is_set():
            yield from self._flush(queue, need)

    def _prepare(
        self, e: Entry, row: store.FileRow | None, rechunk: bool
    ) -> tuple[_Work | None, list[Event]]:
        """Read, hash, parse and chunk one file; a skip or failure is recorded on the spot."""
        cid = self.collection.id
        # the walk checked the link; it may have been swapped since (a race with the read)
        why = link_rule(e.path, self.collection.root, self.follow)
        if why:
            return None, [self._record(e, "skipped", why)]
        target = e.path if self.follow == "all" else Path(os.path.realpath(e.path))
        try:
            stat, data = read_regular(target, self.max_bytes, nofollow=self.follow != "all")
        except NotRegular as exc:
            return None, [self._record(e, "skipped", str(exc))]
        except FileNotFoundError:
            with transaction(self.conn):
                store.delete_file(self.conn, cid, e.rel)
            return None, [self._done(e.rel, "deleted", "vanished while indexing")]
        except OSError as exc:
            return None, [self._fail(e, f"unreadable: {exc.strerror or exc}")]
        except MemoryError:
            return None, [self._fail(e, "too large to read into memory")]
        self.parsed_bytes += e.size
        e.size, e.mtime = stat.st_size, stat.st_mtime  # what was read, if it changed meanwhile
        sha = hashlib.sha256(data).hexdigest()
        if row is not None and row.sha256 == sha and not rechunk:
            with transaction(self.conn):
                store.mark_unchanged(self.conn, row.id, e.size, e.mtime)
            return None, [self._done(e.rel, "unchanged")]
        kind = kind_of(e.path)
        try:
            chunks = parse_and_chunk(
                data, e.path, self.embedder, self.chunk_tokens, self.overlap, kind=kind,
                scan_secrets=not self.include_secrets,
            )  # fmt: skip
        except FileProblem as exc:
            return None, [self._record(e, exc.status, exc.reason, kind)]
        status = "updated" if row is not None and row.sha256 else "new"
        return _Work(e, kind, sha, chunks, status), []

    def _flush(self, queue: list[_Work], need: dict[str, str]) -> Iterator[Event]:
        """Embed the gathered texts (shortest first, in batches), then write each file."""
        vectors: dict[str, np.ndarray] = {}
        items = sorted(need.items(), key=lambda kv: len(kv[1]))
        for k in range(0, len(items), self.batch):
            if self.cancel.is_set():
                break
            part = items[k : k + self.batch]
            t0 = time.monotonic()
            vecs = self.embedder.embed([t for _, t in part], batch_size=self.batch)
            self.embed_seconds += time.monotonic() - t0
            vectors.update((h, v) for (h, _), v in zip(part, vecs, strict=True))
            self.counts["embedded"] += len(part)
            yield self._progress()
        for work in queue:
            if not work.new_hashes <= vectors.keys() and not self._have(work.new_hashes, vectors):
                continue  # cancelled before its vectors were made: stays pending
            yield from self._write(work, {h: vectors[h] for h in work.new_hashes if h in vectors})

    def _have(self, hashes: set[str], vectors: dict[str, np.ndarray]) -> bool:
        missing = hashes - vectors.keys()
        return not missing or store.known_hashes(self.conn, missing) == missing

    def _write(self, work: _Work, vectors: dict[str, np.ndarray]) -> Iterator[Event]:
        e = work.entry
        store.write_file(
            self.conn, self.collection.id, e.rel, size=e.size, mtime=e.mtime, sha256=work.sha,
            kind=work.kind, chunks=work.chunks, vectors=vectors,
        )  # fmt: skip
        self.counts["chunks"] += len(work.chunks)
        yield self._done(e.rel, work.status, chunks=len(work.chunks))

    # -- bookkeeping ----------------------------------------------------------------------------

    def _record(self, e: Entry, status: str, reason: str, kind: str | None = None) -> FileDone:
        with transaction(self.conn):
            store.set_file_status(
                self.conn, self.collection.id, e.rel, status, reason, size=e.size, mtime=e.mtime,
                kind=kind, drop_chunks=True,
            )  # fmt: skip
        return self._done(e.rel, status, reason)

    def _fail(self, e: Entry, reason: str, kind: str | None = None) -> FileDone:
        return self._record(e, "failed", reason, kind)

    def _done(self, rel: str, status: str, reason: str = "", chunks: int = 0) -> FileDone:
        self.counts[status] = self.counts.get(status, 0) + 1
        self.files_done += 1
        if status in ("skipped", "failed"):
            self.skipped.append((rel, reason))
        return FileDone(rel, status, reason, chunks)

    def _progress(self) -> EmbedProgress:
        done = self.counts["embedded"]
        share = min(1.0, self.parsed_bytes / self.todo_bytes)
        total = max(done, round(self.needed / share) if share > 0 else self.needed)
        rate = done / self.embed_seconds if self.embed_seconds > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        return EmbedProgress(done, total, rate, self.files_done, self.files_total, eta)

    def _finished(self, name: str) -> IndexFinished:
        return IndexFinished(
            name,
            dict(self.counts),
            time.monotonic() - self.started,
            skipped=list(self.skipped),
            cancelled=self.cancel.is_set(),
            notes=list(self.notes),
        )
