"""The packing itself: token spans over one stream of blocks, cut at the best boundary."""

from __future__ import annotations

import bisect
import re

from ragterm.engine.index.chunk.chunk_types import Chunk, TokenCounter
from ragterm.engine.index.parse import Block

SEP = "\n\n"
_SEGMENT = 50_000  # characters tokenized at a time: huge blocks must not build huge lists
_SENTENCE_END = frozenset(".!?;:")

# boundary quality: higher is a better place to cut
HEADING, SOFT_HEADING, BLOCK, LINE, SENTENCE, SPACE, INSIDE = 6, 5, 4, 3, 2, 1, 0


def _segments(text: str) -> list[tuple[int, int]]:
    """Split a long text at whitespace into pieces the tokenizer handles cheaply."""
    out: list[tuple[int, int]] = []
    a = 0
    while len(text) - a > _SEGMENT:
        b = a + _SEGMENT
        cut = max(text.rfind("\n", a + _SEGMENT // 2, b), text.rfind(" ", a + _SEGMENT // 2, b))
        b = cut + 1 if cut > a else b
        out.append((a, b))
        a = b
    out.append((a, len(text)))
    return out


class _Doc:
    """Blocks joined into one text, with token offsets and a char -> source line map."""

    def __init__(self, blocks: list[Block], tokenizer: TokenCounter) -> None:
        self.blocks = blocks
        parts: list[str] = []
        self.block_starts: list[int] = []
        pos = 0
        for b in blocks:
            self.block_starts.append(pos)
            parts.append(b.text)
            pos += len(b.text) + len(SEP)
        self.text = SEP.join(parts)
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.first_token_of_block: dict[int, int] = {}  # token index -> block index
        for bi, b in enumerate(blocks):
            base = self.block_starts[bi]
            first = len(self.starts)
            for sa, sb in _segments(b.text) if len(b.text) > _SEGMENT else [(0, len(b.text))]:
                for s, e in tokenizer.token_offsets(b.text[sa:sb]):
                    self.starts.append(base + sa + s)
                    self.ends.append(base + sa + e)
            if len(self.starts) > first:
                self.first_token_of_block[first] = bi
        self.newlines = [m.start() for m in re.finditer("\n", self.text)]

    def quality(self, t: int) -> int:
        """How good a cut is just before token ``t``."""
        bi = self.first_token_of_block.get(t)
        if bi is not None:
            level = self.blocks[bi].level
            return HEADING if 1 <= level <= 6 else SOFT_HEADING if level else BLOCK
        a, b = self.ends[t - 1], self.starts[t]
        if a == b:
            return INSIDE
        gap = self.text[a:b]
        if "\n" in gap:
            return LINE
        if self.text[a - 1] in _SENTENCE_END:
            return SENTENCE
        return SPACE

    def block_at(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self.block_starts, pos) - 1)

    def line_at(self, pos: int, end: bool) -> int | None:
        b = self.blocks[self.block_at(pos)]
        if b.start_line is None:
            return None
        if not b.lines_exact:
            return b.end_line if end and b.end_line is not None else b.start_line
        base = self.block_starts[self.block_at(pos)]
        inside = bisect.bisect_left(self.newlines, pos) - bisect.bisect_left(self.newlines, base)
        line = b.start_line + inside
        return min(line, b.end_line) if b.end_line is not None else line


def pack(
    blocks: list[Block], tokenizer: TokenCounter, budget: int, overlap: int, indent: bool = False
) -> list[Chunk]:
    """``indent``: a chunk that starts at a line's first token keeps the line's indentation (code:
    a method's ``def`` at column 0 above its body at 8 reads as nested wrongly)."""
    blocks = [b for b in blocks if b.text.strip()]
    if not blocks:
        return []
    doc = _Doc(blocks, tokenizer)
    n = len(doc.starts)
    chunks: list[Chunk] = []
    i = 0
    while i < n:
        j = min(n, i + budget)
        cut = j if j == n else _best_cut(doc, i, j, budget)
        chunks.append(_make(doc, i, cut, indent))
        if cut >= n:
            break
        i = _next_start(doc, i, cut, overlap)
    return chunks


def _best_cut(doc: _Doc, i: int, j: int, budget: int) -> int:
    """The latest best-quality cut in (i, j]; headings may end a chunk early (at 1/4 full),
    anything weaker only past half, so chunks stay useful sizes."""
    lo_heading = i + max(1, budget // 4)
    lo_other = i + max(1, budget // 2)
    best_t, best_q = j, -1
    for t in range(j, lo_heading - 1, -1):
        q = doc.quality(t)
        if t < lo_other and q < SOFT_HEADING:
            continue
        if q > best_q:
            best_t, best_q = t, q
            if q == HEADING:
                break
    return best_t


def _next_start(doc: _Doc, i: int, cut: int, overlap: int) -> int:
    """Where the next chunk starts: at the cut after a section ends, else up to ``overlap``
    tokens back, at the best boundary there (a line or sentence start)."""
    if overlap <= 0 or doc.quality(cut) >= SOFT_HEADING:
        return cut
    lo = max(i + 1, cut - overlap)
    best_s, best_q = cut, -1
    for s in range(lo, cut):
        q = doc.quality(s)
        if q > best_q:
            best_s, best_q = s, q
    return best_s if best_q >= SENTENCE else max(lo, cut - overlap)


def _make(doc: _Doc, i: int, cut: int, indent: bool = False) -> Chunk:
    a, b = doc.starts[i], doc.ends[cut - 1]
    if indent:
        line_start = doc.text.rfind("\n", 0, a) + 1
        if not doc.text[line_start:a].strip(" \t"):
            a = line_start
    block = doc.blocks[doc.block_at(a)]
    return Chunk(
        text=doc.text[a:b],
        heading=block.heading,
        start_line=doc.line_at(a, end=False),
        end_line=doc.line_at(b - 1, end=True),
        page=block.page,
        n_tokens=cut - i,
    )
