"""Parsed blocks -> chunks that fit the embedding model, each citing where it came from.

Sizes are measured with the embedding model's own tokenizer (``count_tokens``/``token_offsets``),
so a chunk of ``index.chunk_tokens`` is exactly what the model sees, never silently truncated.
Structure decides where to cut: before a heading or definition first, then between blocks, lines,
sentences, words — and only inside a word when a single "word" is longer than a chunk.
"""

from __future__ import annotations

import hashlib

from ragterm.engine.index.chunk.chunk_types import Chunk, TokenCounter
from ragterm.engine.index.chunk.pack import pack
from ragterm.engine.index.parse import Parsed

__all__ = ["Chunk", "TokenCounter", "chunk_parsed", "content_hash"]

HEADING_ROOM = 16  # tokens kept for the heading path when chunks are as large as the model allows


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def chunk_parsed(
    parsed: Parsed, tokenizer: TokenCounter, chunk_tokens: int = 200, overlap: int = 30
) -> list[Chunk]:
    """Chunks of at most ``chunk_tokens`` tokens (the model's limit wins if smaller), in order,
    overlapping by up to ``overlap`` tokens where a cut falls inside a section."""
    room = tokenizer.max_tokens - 2  # [CLS] and [SEP]
    if any(b.heading for b in parsed.blocks):
        room_for_text = room - HEADING_ROOM  # the heading path always keeps a few tokens
    else:
        room_for_text = room
    budget = max(8, min(chunk_tokens, room_for_text))
    overlap = max(0, min(overlap, budget // 2))
    streams: list[list] = []
    if parsed.kind == "pdf":  # pages never share a chunk: citations name one page
        for b in parsed.blocks:
            if not streams or streams[-1][-1].page != b.page:
                streams.append([])
            streams[-1].append(b)
    else:
        streams = [parsed.blocks]
    chunks: list[Chunk] = []
    for blocks in streams:
        chunks.extend(pack(blocks, tokenizer, budget, overlap, indent=parsed.kind == "code"))
    offsets: dict[str, list[tuple[int, int]]] = {}  # a heading is tokenized once, not per chunk
    for c in chunks:
        c.embed_text = _with_heading(c, tokenizer, room, offsets)
        c.content_hash = content_hash(c.embed_text)
    return chunks


def _with_heading(
    c: Chunk,
    tokenizer: TokenCounter,
    room: int,
    cache: dict[str, list[tuple[int, int]]] | None = None,
) -> str:
    """The heading path goes in front of the text for the embedding, trimmed to what fits.

    ``cache``: token offsets by heading, shared by a file's chunks (one huge heading over many
    chunks was tokenized again for each: quadratic, found by fuzzing)."""
    if not c.heading:
        return c.text
    heading = c.heading
    spare = room - c.n_tokens - 1
    if spare <= 2:
        return c.text
    cache = {} if cache is None else cache
    if heading not in cache:
        cache[heading] = tokenizer.token_offsets(heading)
    offsets = cache[heading]
    if len(offsets) > spare:
        heading = "… " + heading[offsets[len(offsets) - spare + 1][0] :]
    return f"{heading}\n\n{c.text}"
