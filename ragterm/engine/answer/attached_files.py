"""Files attached to a question: sent whole when they fit, else their own chunks ranked by it.

Retrieval sends a few chunks of many files; "summarise this file" needs one file, whole. An
attached file is read and parsed by the index's own parsers (index.parse) but never indexed. It
goes into the prompt as sources, like retrieved chunks: numbered, cited ``file:line``, its
evidence lines quoted and checked. It is sent whole when it fits the share of the context window
that sources get (``rag.context_share``, the same budget the context meter shows). A file that does
not fit is cut into the index's chunks and the chunks most related to the question are sent, as
many as fit; ``FileFit.note`` says so, and how much of the file that was. A question that names
nothing in the file ("summarise this") gets the file's beginning: that is where a document says
what it is about.

Typical use::

    files = [attach.load(p) for p in paths]          # RagtermError names a bad file
    fitted = attach.fit(files, question, conv)        # conv: answer.conversation.Conversation
    conv.send(question, hits=fitted.hits)             # then fitted.notes after the answer
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ragterm.engine.index.chunk import Chunk, chunk_parsed
from ragterm.engine.index.parse import Parsed, ParseFailed, SkipFile, kind_of, parse_bytes
from ragterm.engine.index.walk import sniff
from ragterm.engine.retrieve import evidence_units
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import RagtermError

SEP = "\n\n"  # between blocks whose source lines are not exact (as the chunker joins them)
RESCORE = 32  # chunks re-scored with the embedding model, after the keyword ranking
SOURCE_OVERHEAD = 12  # tokens a source costs beyond its text (prompt.plan counts the same)
# what a request about a whole document says besides its subject: not evidence of a topic
_GENERIC = frozenset(
    evidence_units.terms(
        "summarise summarize summary summarising summarizing review explain describe document "
        "documents doc file files page pages text article paper content contents main key point "
        "points brief briefly overview short tldr please give write list read attached"
    )
)


class Planner(Protocol):
    """What fitting needs from a conversation (engine.answer.conversation.Conversation has it)."""

    backend: Any
    cfg: Any

    def budget_preview(
        self, text: str, *, hits: list[Hit] | None = None, max_tokens: int | None = None
    ) -> Any: ...


@dataclass
class Attachment:
    """A file read and parsed for one conversation; nothing of it is stored."""

    path: Path  # resolved
    name: str  # as cited: relative to the working folder when inside it
    kind: str
    parsed: Parsed
    size: int
    _chunks: list[Chunk] | None = field(default=None, repr=False)
    _vectors: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def whole(self, first_id: int) -> list[Hit]:
        """The file as sources: one, or one per page for a PDF (a citation names one page)."""
        groups: list[list[Any]] = []
        for b in self.parsed.blocks:
            if not b.text.strip():
                continue
            if not groups or (self.kind == "pdf" and groups[-1][-1].page != b.page):
                groups.append([])
            groups[-1].append(b)
        hits = []
        for i, blocks in enumerate(groups):
            text, start, end = _joined(blocks)
            hits.append(
                self._hit(first_id - i, text, self.parsed.title, start, end, blocks[0].page)
            )
        return hits

    def chunks(self, cfg: Any) -> list[Chunk]:
        """The file cut as the index would cut it (``index.chunk_tokens``); made once."""
        if self._chunks is None:
            # lazy: loaded on first use, not when this module is imported
            from ragterm.engine.embed import load_tokenizer

            self._chunks = chunk_parsed(
                self.parsed,
                load_tokenizer(),
                int(cfg["index.chunk_tokens"]),
                int(cfg["index.chunk_overlap"]),
            )
        return self._chunks

    def _hit(
        self,
        chunk_id: int,
        text: str,
        heading: str,
        start: int | None,
        end: int | None,
        page: int | None,
        score: float = 0.0,
    ) -> Hit:
        return Hit(
            chunk_id=chunk_id,
            text=text,
            path=str(self.path),
            rel_path=self.name,
            collection="",
            heading=heading,
            start_line=None if page is not None else start,
            end_line=None if page is not None else end,
            page=page,
            score=score,
            attached=True,
        )


def _joined(blocks: Sequence[Any]) -> tuple[str, int | None, int | None]:
    """Blocks as one text; where their line breaks are the file's, line i is source line
    start + i (evidence lines then cite exactly), else blocks are joined as chunks are."""
    starts = [b.start_line for b in blocks if b.start_line is not None]
    ends = [b.end_line or b.start_line for b in blocks if b.start_line is not None]
    if starts and all(b.lines_exact and b.start_line is not None for b in blocks):
        first = blocks[0].start_line
        lines: list[str] = []
        for b in blocks:
            lines.extend([""] * max(0, b.start_line - first - len(lines)))
            lines.extend(b.text.split("\n"))
        return "\n".join(lines), first, first + len(lines) - 1
    return SEP.join(b.text for b in blocks), min(starts, default=None), max(ends, default=None)


def load(path: str | Path, *, max_mb: float = 20.0, cwd: Path | None = None) -> Attachment:
    """Read and parse ``path`` with the index's parsers; a ``RagtermError`` names the file and
    says what to do when it cannot be attached (missing, a folder, binary, too large, broken)."""
    given = str(path)
    p = Path(os.path.expanduser(given))
    try:
        real = p.resolve(strict=True)
        st = real.stat()
    except FileNotFoundError:
        raise RagtermError(f"{given}: no such file", hint="check the path") from None
    except (OSError, RuntimeError) as exc:
        raise RagtermError(f"{given}: cannot be read ({_why(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise RagtermError(
            f"{given} is a folder, not a file",
            hint=f"attach its files one by one, or index it: ragterm index {given}",
        )
    if not stat.S_ISREG(st.st_mode):
        raise RagtermError(f"{given} is not a regular file", hint="attach a document or text file")
    limit = int(max_mb * 1024 * 1024)
    if st.st_size > limit:
        raise RagtermError(
            f"{given} is too large ({st.st_size / 1048576:.1f} MB > {max_mb:g} MB)",
            hint="raise index.max_file_mb, or attach a part of it",
        )
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise RagtermError(f"{given}: cannot be read ({_why(exc)})") from None
    reason = sniff(real, data[:8192])
    if reason is not None:
        raise RagtermError(
            f"{given} is a {reason}, not a document",
            hint="attach text, Markdown, code, HTML, PDF or DOCX files",
        )
    kind = kind_of(real)
    try:
        parsed = parse_bytes(data, real, kind)
    except SkipFile as exc:
        raise RagtermError(f"{given}: nothing to read ({exc.reason})") from None
    except ParseFailed as exc:
        raise RagtermError(f"{given} cannot be read as {kind}: {exc.reason}") from None
    except RecursionError:
        raise RagtermError(f"{given} is too deeply nested to parse") from None
    base = (cwd or Path.cwd()).resolve()
    try:
        name = real.relative_to(base).as_posix()
    except ValueError:
        name = str(real)
    return Attachment(real, name, kind, parsed, st.st_size)


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


@dataclass
class FileFit:
    """How much of one attached file went into the prompt."""

    name: str
    path: str
    whole: bool
    share: float  # of the file's text sent, 0..1
    parts: int = 0  # chunks sent (when not whole)
    parts_total: int = 0
    by: str = "whole"  # whole | question (chunks ranked by it) | start (the file's beginning)

    @property
    def note(self) -> str:
        """One line for the user when the file did not go in whole ("" when it did)."""
        if self.whole:
            return ""
        pct = f"{100 * self.share:.0f}%"
        if self.parts == 0:
            return f"{self.name} does not fit the context window: none of it was sent"
        which = (
            "the parts most related to the question"
            if self.by == "question"
            else "its beginning (the question names nothing in it)"
        )
        return (
            f"{self.name} is too long for the context window: sent {which}, "
            f"{self.parts} of {self.parts_total} parts ({pct} of the file)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "note": self.note}


@dataclass
class Fitted:
    """The attached files as sources for one question, and how much of each fit."""

    hits: list[Hit]
    files: list[FileFit]

    @property
    def notes(self) -> list[str]:
        return [f.note for f in self.files if f.note]


def fit(
    files: Sequence[Attachment],
    question: str,
    conv: Planner,
    *,
    pinned: Iterable[Hit] = (),
    max_tokens: int | None = None,
    embedder: Any = None,
) -> Fitted:
    """The sources to send for ``files``: whole files while they fit (smallest first), then the
    other files' chunks, best for the question first, as many as fit.

    "Fits" is exactly what ``prompt.plan`` will keep (asked through ``conv.budget_preview``), so
    nothing sent here is dropped later. ``pinned`` hits are sent too and count against the room.
    ``embedder`` re-scores the best keyword matches (default: the configured embedding model;
    keywords alone when it cannot load).
    """
    pinned = list(pinned)
    question = question.strip() or "?"
    counter = conv.backend
    cap = int(counter.n_ctx * float(conv.cfg["rag.context_share"]))
    cost = {id(h): counter.count_text(h.text) + SOURCE_OVERHEAD for h in pinned}
    used = sum(cost.values())

    def tokens(h: Hit) -> int:
        if id(h) not in cost:
            cost[id(h)] = counter.count_text(h.text) + SOURCE_OVERHEAD
        return cost[id(h)]

    def fits(hits: list[Hit], *, exact: bool = True) -> bool:
        if used + sum(tokens(h) for h in hits) > cap:  # plan's cap on sources
            return False
        if not exact:
            return True
        budget = conv.budget_preview(question, hits=[*pinned, *hits], max_tokens=max_tokens)
        return not budget.dropped_chunks  # the whole prompt fits too

    sent: list[Hit] = []
    fits_by_path: dict[Path, FileFit] = {}
    partial: list[Attachment] = []
    next_id = -1
    for f in sorted(files, key=lambda f: f.size):
        hits = f.whole(next_id)
        if fits([*sent, *hits]):
            sent += hits
            next_id -= len(hits)
            fits_by_path[f.path] = FileFit(f.name, str(f.path), True, 1.0)
        else:
            partial.append(f)
    if partial:
        ranked = [(f, *rank(f, question, conv.cfg, embedder)) for f in partial]
        chosen: dict[Path, list[int]] = {f.path: [] for f in partial}
        queue = _interleave([[(f, i) for i in order] for f, order, _ in ranked])
        whole = len(sent)
        taken: list[tuple[Attachment, int]] = []
        misses = 0
        for f, i in queue:
            c = f.chunks(conv.cfg)[i]
            hit = f._hit(next_id, c.text, c.heading, c.start_line, c.end_line, c.page)
            if fits([*sent, hit], exact=False):  # checked whole below: one preview, not many
                sent.append(hit)
                taken.append((f, i))
                next_id -= 1
                misses = 0
            else:
                misses += 1
                if misses >= 3:  # the room is full: smaller chunks later rarely change that
                    break
        while len(sent) > whole and not fits(sent):
            sent.pop()
            taken.pop()
        for f, i in taken:
            chosen[f.path].append(i)
        for f, _, by in ranked:
            chunks = f.chunks(conv.cfg)
            total = sum(c.n_tokens for c in chunks) or 1
            got = chosen[f.path]
            fits_by_path[f.path] = FileFit(
                f.name,
                str(f.path),
                False,
                min(1.0, sum(chunks[i].n_tokens for i in got) / total),
                parts=len(got),
                parts_total=len(chunks),
                by=by,
            )
    order = {f.path: n for n, f in enumerate(files)}
    report = [fits_by_path[p] for p in sorted(fits_by_path, key=lambda p: order[p])]
    return Fitted(sent, report)


def _interleave(lists: list[list[Any]]) -> list[Any]:
    """Round robin: each file's best chunk before any file's second best."""
    out: list[Any] = []
    for n in range(max((len(x) for x in lists), default=0)):
        out += [x[n] for x in lists if n < len(x)]
    return out


def rank(f: Attachment, question: str, cfg: Any, embedder: Any = None) -> tuple[list[int], str]:
    """The file's chunk indexes, best for ``question`` first, and how they were ranked:
    ``question`` (IDF-weighted keyword overlap, the best ``RESCORE`` re-scored with the embedding
    model as in retrieve.evidence) or ``start`` (document order: the question names nothing in
    the file, as "summarise this" does)."""
    chunks = f.chunks(cfg)
    q_terms = [t for t in dict.fromkeys(evidence_units.terms(question)) if t not in _GENERIC]
    held = [set(evidence_units.terms(c.embed_text)) for c in chunks]
    n = len(chunks)
    idf = {t: math.log(1 + n / (1 + sum(t in h for h in held))) for t in q_terms}
    total = sum(idf.values()) or 1.0
    kw = np.array([sum(idf[t] for t in q_terms if t in h) / total for h in held])
    if not n or not kw.any():
        return list(range(n)), "start"
    order = sorted(range(n), key=lambda i: (-kw[i], i))
    top = order[:RESCORE]
    cos = _cosines(f, question, top, cfg, embedder)
    if cos is not None:
        w = evidence_units.KEYWORD_WEIGHT
        score = {i: w * kw[i] + (1 - w) * c for i, c in zip(top, cos, strict=True)}
        top = sorted(top, key=lambda i: (-score[i], i))
    return top + order[RESCORE:], "question"


def _cosines(
    f: Attachment, question: str, idx: list[int], cfg: Any, embedder: Any
) -> list[float] | None:
    """Cosine of the question and each chunk (vectors kept on the attachment), or None when
    no embedding model can be loaded (keywords then rank alone)."""
    if embedder is None:
        try:
            # lazy: loaded on first use, not when this module is imported
            from ragterm.engine.embed import configured_name, load_embedder

            embedder = load_embedder(configured_name(cfg), cfg=cfg)
        except RagtermError:
            return None
    chunks = f.chunks(cfg)
    todo = [i for i in idx if i not in f._vectors]
    if todo:
        vecs = embedder.embed([chunks[i].embed_text for i in todo])
        f._vectors.update(zip(todo, vecs, strict=True))
    q = embedder.embed_query(question).astype(np.float32)
    return [float(np.clip(f._vectors[i] @ q, 0.0, 1.0)) for i in idx]
