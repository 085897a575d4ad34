"""Small typed events that engine iterators yield.

One code path, two faces: the CLI prints these, the TUI's workers turn them into Textual messages.
Add fields freely; never rename or remove one without updating both faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragterm.engine.retrieve.hits import Hit

# --- chat --------------------------------------------------------------------------------------


@dataclass
class Retrieved:
    """The chunks that will go into the prompt for this turn (after trimming).

    ``evidence``: the lines of those chunks that best answer the question (retrieve.evidence),
    shown before the answer so a user can check it. ``searched`` with no ``hits``: the index was
    searched and nothing cleared ``rag.threshold``; the answer is general knowledge.
    """

    hits: list[Hit]
    evidence: list[Any] = field(default_factory=list)
    searched: bool = False
    query: str = ""  # what was searched: the question, or its standalone rewrite (query_rewrite)
    rewrite: str = "none"  # none | terms | model

    @property
    def nothing_found(self) -> bool:
        return self.searched and not self.hits


@dataclass
class Trimmed:
    """Something was left out to fit the context window; tell the user."""

    dropped_turns: int = 0
    dropped_chunks: int = 0
    message: str = ""


@dataclass
class Token:
    text: str


@dataclass
class Done:
    """The answer is complete (or was cancelled / failed, with what was produced so far)."""

    content: str
    status: str = "ok"  # ok | cancelled | error
    message_id: int | None = None
    session_id: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # ttft_s, total_s, tokens_per_s
    sources: list[Hit] = field(default_factory=list)
    error: str | None = None
    evidence: list[Any] = field(default_factory=list)  # engine.retrieve.evidence.Evidence
    citations: list[int] = field(default_factory=list)  # source numbers the answer cited
    # the answer cited nothing: the source holding the names it writes (ragterm's, not the model's)
    attributed: list[int] = field(default_factory=list)
    # names the answer gives that no source sent holds (engine.answer.attribution.unsupported)
    unsupported: list[str] = field(default_factory=list)
    bare: int = 0  # the source number the answer gives where a name should be (attribution)
    invalid_citations: list[int] = field(default_factory=list)  # cited but never sent: dropped
    unquoted: list[str] = field(default_factory=list)  # "quotes" not found in the sources sent
    miscited: list[Any] = field(
        default_factory=list
    )  # engine.answer.prompt.Miscited: quote, [n] wrong
    grounding: str = "no_rag"  # sources | nothing_found | no_index | no_rag
    assembly: str = ""  # how the sources were sent (engine.answer.assembly), "" without sources
    # the answer restated the question without a name, so ragterm wrote prompt.NAME_IT after it
    # and the model went on from there
    prompted_name: bool = False

    @property
    def notes(self) -> list[str]:
        """What a user must know about this answer, one line each."""
        out = []
        if self.grounding == "nothing_found":
            out.append(
                "nothing in your indexed folders is about this: the answer is the model's general "
                "knowledge, not from your files"
            )
        if self.grounding == "no_index":
            out.append(
                "nothing is indexed yet, so this answer is not from your files: index a folder "
                "with `ragterm index PATH` (or /index PATH in the chat)"
            )
        if self.assembly == "extractive":
            out.append(
                "this answer is the best line of your files, quoted as it is: the model wrote "
                "none of it (rag.assembly extractive)"
            )
        if self.prompted_name:
            out.append(
                'the answer restated the question without a name: "In other words, the answer '
                "is\" is ragterm's, written for the model to finish"
            )
        if self.invalid_citations:
            nums = ", ".join(f"[{n}]" for n in self.invalid_citations)
            out.append(f"the answer cited {nums}, which was not among the sources sent: dropped")
        for m in self.miscited:
            short = m.quote if len(m.quote) <= 60 else m.quote[:57] + "..."
            out.append(f'"{short}" is from source [{m.holder}], not [{m.cited}] as cited')
        for quote in self.unquoted:
            short = quote if len(quote) <= 60 else quote[:57] + "..."
            out.append(f"\"{short}\" is not in the sources: the model's wording, not your files'")
        if self.bare:
            out.append(
                f"the answer gives source [{self.bare}] where the name you asked for should be: "
                "read that source for it"
            )
        if self.unsupported:
            names = ", ".join(f"`{n}`" for n in self.unsupported[:3])
            more = f" and {len(self.unsupported) - 3} more" if len(self.unsupported) > 3 else ""
            out.append(
                f"the answer names {names}{more}, which none of the sources sent holds: that is "
                "the model's own knowledge, not your files"
            )
        elif self.grounding == "sources" and self.content.strip() and not self.citations:
            if self.attributed:
                n = self.attributed[0]
                where = self.sources[n - 1].citation() if n <= len(self.sources) else ""
                out.append(
                    f"the answer cites no source; [{n}] {where} holds what it names "
                    "(ragterm's attribution, not the model's citation)"
                )
            else:
                out.append("the answer cites no source: check it against the evidence lines")
        return out


# --- indexing ----------------------------------------------------------------------------------


@dataclass
class IndexStarted:
    collection: str
    root: str
    files_total: int


@dataclass
class FileDone:
    path: str  # relative to the collection root
    status: str  # new | updated | unchanged | deleted | skipped | failed
    reason: str = ""
    chunks: int = 0


@dataclass
class EmbedProgress:
    chunks_done: int
    chunks_total: int  # an estimate while files are still being parsed
    chunks_per_s: float = 0.0
    files_done: int = 0
    files_total: int = 0
    eta_s: float | None = None


@dataclass
class IndexFinished:
    collection: str
    counts: dict[str, int]  # new, updated, unchanged, deleted, skipped, failed, embedded
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)  # e.g. a nested collection merged in


# --- tuning ------------------------------------------------------------------------------------


@dataclass
class TrainStep:
    step: int
    total_steps: int
    loss: float
    val_loss: float | None = None
    eta_s: float | None = None
    tokens_per_s: float | None = None


@dataclass
class Stage:
    """A named phase of long work (loading base, exporting, smoke test...)."""

    name: str
    detail: str = ""


@dataclass
class TuneFinished:
    """A training run ended: ``ready`` (persona saved and smoke-tested) or ``cancelled``."""

    name: str
    status: str  # ready | cancelled
    adapter_path: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    merged_path: str | None = None
    message: str = ""


# --- downloads ---------------------------------------------------------------------------------


@dataclass
class DownloadProgress:
    done: int  # bytes on disk, including a resumed part
    total: int | None  # None when the server does not say
    resumed_from: int = 0
    verifying: bool = False  # the bytes are all there; checking the SHA-256 now
