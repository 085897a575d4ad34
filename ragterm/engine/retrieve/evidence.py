"""The few lines, inside the retrieved chunks, that best answer a question — quoted verbatim.

A small model can answer wrong from the right sources; the evidence lines let a user check (or
skip) the model. Each retrieved chunk is cut into units (a source line, or a sentence where a
block has no exact line breaks, as in HTML), scored against the question, and the best units are
then looked up in the file as it is *now*: a quote is only ever shown as current when the file
still holds it, with its current line number. Otherwise it is marked ``changed`` or ``deleted``.

Scoring mixes keyword overlap (IDF over the retrieved units, light stemming, identifiers split at
``_`` and ``.``) with the embedding model's cosine between question and unit; the weights were
measured on the answers dev set (scripts/bench_answers.py, docs/benchmarks.md). Units and their
scores are ``evidence_units``'; this module picks the best and checks them against the file.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ragterm.engine.index.parse import ParseFailed, SkipFile, parse_bytes
from ragterm.engine.index.parse.html import SOFT_HEADING
from ragterm.engine.index.walk import link_rule
from ragterm.engine.retrieve.evidence_units import (
    KEYWORD_WEIGHT,
    Embedder,
    Unit,
    collapse_spaces,
    last_heading,
    score_units,
    split_line,
    units_of,
)
from ragterm.engine.retrieve.hits import Hit

CONTEXT_CHARS = 100  # a line this short just above a quote is shown with it (it often names it)
_FENCE = re.compile(r"\s*(```|~~~)[\w+.-]*\s*$")  # a markdown code fence, with its language


@dataclass
class Evidence:
    """One quoted line: ``text`` is verbatim from the file (``status`` says whether it still is)."""

    source: int  # 1-based number of the retrieved source it came from, as sent to the model
    path: str
    rel_path: str
    text: str
    score: float
    line: int | None = None
    page: int | None = None
    heading: str = ""  # the definition or section the line sits under (verbatim too)
    heading_line: int | None = None
    context: str = ""  # the short line just before, when it names the thing (a table's name cell)
    # current | changed (file edited, line gone) | deleted (file gone) | outside (the file is now a
    # symlink out of its folder: not read, see index.follow_symlinks)
    status: str = "current"

    def citation(self) -> str:
        if self.page is not None:
            return f"{self.rel_path}#page={self.page}"
        return f"{self.rel_path}:{self.line}" if self.line is not None else self.rel_path

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["citation"] = self.citation()
        return d

    @property
    def note(self) -> str:
        """What a user must know before trusting the quote ("" when it is current)."""
        if self.status == "deleted":
            return "the file was deleted since indexing; quoted as indexed"
        if self.status == "changed":
            return "the file changed since indexing and no longer holds this line"
        if self.status == "outside":
            return "the file now leads outside its folder (symlink): not read; quoted as indexed"
        return ""


# -- the file as it is now -----------------------------------------------------------------------


@dataclass
class _FileLine:
    text: str
    line: int | None
    page: int | None
    heading: str
    heading_line: int | None


@lru_cache(maxsize=32)
def _file_lines(path: str, mtime_ns: int, size: int) -> tuple[_FileLine, ...] | None:
    """The file's current text as quotable units (cached while its mtime and size hold)."""

    try:
        data = Path(path).read_bytes()
        parsed = parse_bytes(data, Path(path))
    except (OSError, ParseFailed, SkipFile, ValueError):
        return None
    out: list[_FileLine] = []
    html = parsed.kind == "html"
    code = parsed.kind == "code"
    section: tuple[str, int | None] = ("", None)
    term: tuple[str, int | None] = ("", None)  # the last heading, or an HTML definition's dt
    for block in parsed.blocks:
        is_term = html and block.level == SOFT_HEADING
        if is_term:
            term = (collapse_spaces(block.text), block.start_line)
        elif block.level:
            # a definition's first paragraph is its heading block: name it by its signature and
            # summary (the parser's heading), not by its whole text (a short function's body)
            name = block.heading if code and block.heading else block.text
            section = term = (collapse_spaces(name), block.start_line)
        # HTML text after a definition list is under its section again, not the last signature
        inside = not html or is_term or block.in_term
        head_text, head_line = term if inside else section
        lines = block.text.split("\n") if block.lines_exact else [collapse_spaces(block.text)]
        for i, line in enumerate(lines):
            no = None
            if block.start_line is not None:
                no = block.start_line + i if block.lines_exact else block.start_line
            for piece in split_line(line):
                out.append(_FileLine(piece, no, block.page, head_text, head_line))
    return tuple(out)


def _current(path: str) -> tuple[_FileLine, ...] | None | bool:
    """The file's units, False when the file is gone, None when it cannot be read or parsed."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return _file_lines(path, st.st_mtime_ns, st.st_size)


def _locate(unit: Unit, lines: Sequence[_FileLine]) -> int | None:
    """The current line holding ``unit``'s text, nearest to where it was indexed."""
    want = collapse_spaces(unit.text)
    found = [i for i, fl in enumerate(lines) if want and want in collapse_spaces(fl.text)]
    if not found and want in " ".join(collapse_spaces(fl.text) for fl in lines):
        # the unit spans units of the file (a chunk cut mid-paragraph): cite where it starts
        found = [
            i
            for i, fl in enumerate(lines)
            if collapse_spaces(fl.text) and collapse_spaces(fl.text) in want
        ][:1]
    if not found:
        return None
    at = unit.line or 0
    return min(found, key=lambda i: abs((lines[i].line or 0) - at))


def _verbatim(unit_text: str, line_text: str) -> str:
    """The unit as it is written in the file (spacing included)."""
    want = collapse_spaces(unit_text)
    if collapse_spaces(line_text) == want:
        return line_text.strip()
    return want


# -- the API -------------------------------------------------------------------------------------


def rank(
    question: str,
    hits: Sequence[Hit],
    embedder: Embedder | None = None,
    keyword_weight: float = KEYWORD_WEIGHT,
) -> list[Unit]:
    """Every unit of ``hits`` with its score, in document order (one embedding pass for both
    the excerpts sent to the model and the evidence shown to the user)."""
    units = units_of(hits)
    if units and question.strip():
        for u, s in zip(units, score_units(question, units, embedder, keyword_weight), strict=True):
            u.score = float(s)
    return units


def excerpt(hits: Sequence[Hit], units: Sequence[Unit], lines: int) -> list[Hit]:
    """Copies of ``hits`` whose text is only their most relevant lines, best passage first.

    Small models answer better from a few relevant lines than from whole chunks, and the prompt
    gets shorter (faster on a CPU). Attached files (attached_files) are the exception: whoever
    attaches a file asks about all of it. Each chosen line brings the line before it, which is where
    documentation names what a description is about (the signature above its first sentence).
    Runs of consecutive lines keep their order; the runs are ordered by their best line, because
    the bundled model mostly answers from the first passage of a source (in document order it
    often quoted a neighbouring definition: heapreplace for heappushpop, uuid1 for uuid4).
    A passage starts with the signature it sits under when that is not already in it: without
    the name, the model named the description ("Converts the dataclass ...") or a neighbour.
    """
    out: list[Hit] = []
    for hit in hits:
        mine = [u for u in units if u.hit is hit]
        if len(mine) <= lines or hit.attached:  # an attached file is sent as it is
            out.append(hit)
            continue
        chosen: set[int] = set()
        for i in sorted(range(len(mine)), key=lambda i: -mine[i].score):
            if len(chosen) >= lines:
                break
            chosen.update(j for j in (i - 1, i) if j >= 0)
        runs: list[list[int]] = []
        for i in sorted(chosen):
            if runs and i == runs[-1][-1] + 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        runs.sort(key=lambda run: -max(mine[i].score for i in run))  # stable: ties keep order
        where = {id(u): i for i, u in enumerate(mine)}
        kept: list[str] = []
        for run in runs:
            if kept:
                kept.append("…")
            # the definition a passage sits under names what it describes: it goes first
            owner = max((mine[i] for i in run), key=lambda u: u.score).owner
            at = where.get(id(owner), -1)
            if owner is not None and at >= 0 and at not in chosen:
                kept.extend([owner.text] + (["…"] if at != run[0] - 1 else []))
            kept.extend(mine[i].text for i in run)
        out.append(replace(hit, text="\n".join(kept)))
    return out


def by_evidence(hits: Sequence[Hit], units: Sequence[Unit]) -> list[Hit]:
    """``hits`` re-ordered by their best line's score (ties keep the search's order).

    The bundled model answers mostly from the first source it is sent; the search ranks whole
    chunks, the line scores rank what the question asks (heappushpop's chunk second, under
    heapreplace's, until the line that says "push, then pop" puts it first).
    """
    best: dict[int, float] = {}
    for u in units:
        best[id(u.hit)] = max(best.get(id(u.hit), -math.inf), u.score)
    return sorted(hits, key=lambda h: -best.get(id(h), -math.inf))


def as_sent(hits: Sequence[Hit], units: Sequence[Unit], *, order: str, lines: int) -> list[Hit]:
    """The sources as the model gets them (``rag.order``, ``rag.excerpt_lines``): the one place
    the chat and the adapter's training data (scripts/build_rag_data.py) both take them from."""
    sent = by_evidence(hits, units) if order == "evidence" else list(hits)
    return excerpt(sent, units, lines) if lines else sent


def select(
    units: Sequence[Unit],
    sent: Sequence[Hit],
    *,
    k: int = 3,
    per_source: int = 2,
    min_score: float = 0.2,
    follow_symlinks: str = "inside",
    support: Callable[[str], float] | None = None,
) -> list[Evidence]:
    """The ``k`` best units among the chunks actually sent, best first, checked in the files.

    ``per_source`` caps lines from one chunk so that one long chunk cannot crowd out the rest;
    units under ``min_score`` (or under half of the best) are not evidence. A file is only read
    where ``follow_symlinks`` (index.follow_symlinks) allows it. ``support`` (once the answer is
    known: how much a line backs it) puts the lines that back the answer first, whatever their
    score for the question.
    """
    number = {h.chunk_id: n for n, h in enumerate(sent, 1)}
    pool = [u for u in units if u.hit.chunk_id in number and u.score >= min_score]
    pool.sort(key=lambda u: -u.score)
    if pool:
        pool = [u for u in pool if u.score >= pool[0].score * 0.5]
    if support is not None:  # the lines that back the answer most (at least half the most) first
        backed = sorted(
            ((support(u.text), u) for u in units if u.hit.chunk_id in number),
            key=lambda x: (-x[0], -x[1].score),
        )
        top = backed[0][0] if backed else 0.0
        pool = [u for w, u in backed if w > 0 and w >= top * 0.5] + pool
    out: list[Evidence] = []
    taken: dict[int, int] = {}
    seen: set[str] = set()
    for u in pool:
        if len(out) >= k:
            break
        n = number[u.hit.chunk_id]
        key = collapse_spaces(u.text)
        if taken.get(n, 0) >= per_source or key in seen:
            continue
        taken[n] = taken.get(n, 0) + 1
        seen.add(key)
        out.append(_checked(u, n, sent[n - 1], follow_symlinks))
    return out


def find_evidence(
    question: str,
    hits: Sequence[Hit],
    embedder: Embedder | None = None,
    *,
    k: int = 3,
    per_source: int = 2,
    keyword_weight: float = KEYWORD_WEIGHT,
    min_score: float = 0.2,
    follow_symlinks: str = "inside",
) -> list[Evidence]:
    """The ``k`` best lines of ``hits`` for ``question``, best first, checked against the files."""
    units = rank(question, hits, embedder, keyword_weight)
    return select(
        units, hits, k=k, per_source=per_source, min_score=min_score,
        follow_symlinks=follow_symlinks,
    )  # fmt: skip


def _checked(u: Unit, source: int, hit: Hit, follow_symlinks: str = "inside") -> Evidence:
    ev = _located(u, source, hit, follow_symlinks)
    ev.heading = one_line(ev.heading)
    return ev


def one_line(heading: str) -> str:
    """A heading as shown above a quote: its first line (a signature, not its whole docstring)."""
    return next((x.strip() for x in heading.splitlines() if x.strip()), "")


def _located(u: Unit, source: int, hit: Hit, follow_symlinks: str = "inside") -> Evidence:
    ev = Evidence(
        source=source,
        path=hit.path,
        rel_path=hit.rel_path,
        text=u.text,
        score=round(u.score, 4),
        line=u.line,
        page=hit.page,
        heading=last_heading(hit.heading),
    )
    if os.path.lexists(hit.path) and link_rule(hit.path, hit.root, follow_symlinks):
        ev.status = "outside"
        ev.line = hit.start_line
        return ev
    lines = _current(hit.path)
    if isinstance(lines, bool):  # False: the file is gone
        ev.status = "deleted"
        return ev
    if not lines:
        ev.status = "changed"
        return ev
    where = _locate(u, lines)
    if where is None:
        ev.status = "changed"
        ev.line = hit.start_line
        return ev
    found = lines[where]
    ev.text = _verbatim(u.text, found.text)
    before = lines[where - 1] if where > 0 else None
    if (
        before is not None
        and len(before.text) <= CONTEXT_CHARS
        and not _FENCE.match(before.text)  # "```python" says nothing about the quote
        and collapse_spaces(before.text) not in (found.heading, collapse_spaces(ev.text))
    ):
        ev.context = before.text.strip()
    ev.line, ev.page = found.line, found.page if found.page is not None else hit.page
    ev.heading, ev.heading_line = found.heading, found.heading_line
    if ev.heading and ev.heading_line == ev.line and ev.heading == collapse_spaces(ev.text):
        ev.heading, ev.heading_line = "", None  # the line is its own heading
    return ev
