"""What a chunk is and what the chunker needs from a tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TokenCounter(Protocol):
    max_tokens: int

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]: ...


@dataclass
class Chunk:
    text: str
    heading: str = ""
    start_line: int | None = None
    end_line: int | None = None
    page: int | None = None
    n_tokens: int = 0
    embed_text: str = ""  # what the model embeds: heading path + text
    content_hash: str = ""
