"""The core retrieval type: one chunk found for a question, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Hit:
    """One retrieved chunk and where it came from."""

    chunk_id: int
    text: str
    path: str  # absolute path of the file
    rel_path: str  # path relative to its collection root
    collection: str
    heading: str = ""
    start_line: int | None = None
    end_line: int | None = None
    page: int | None = None
    score: float = 0.0  # fused score (higher is better)
    vector_score: float | None = None  # cosine similarity
    vector_rank: int | None = None  # 1-based, None if not in the vector list
    keyword_rank: int | None = None  # 1-based, None if not in the BM25 list
    rerank_score: float | None = None  # the cross-encoder's score (rag.rerank), or the best line's
    n_tokens: int = 0  # tokens in the chat model's tokenizer, filled in by the prompt builder
    attached: bool = (
        False  # from a file attached to the question (engine.answer.attached_files), not the index
    )

    def citation(self) -> str:
        """``path:12-30`` for text, ``path#page=3`` for paged documents."""
        if self.page is not None:
            return f"{self.rel_path}#page={self.page}"
        if self.start_line is not None:
            end = self.end_line if self.end_line is not None else self.start_line
            return f"{self.rel_path}:{self.start_line}-{end}"
        return self.rel_path

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["citation"] = self.citation()
        return d

    @property
    def root(self) -> str:
        """The collection's folder (the file itself for a one-file collection): what the symlink
        rule (``walk.link_rule``) keeps a preview, an editor or an evidence read inside."""
        tail = "/" + self.rel_path
        return self.path[: -len(tail)] if self.path.endswith(tail) else self.path
