"""One turn of a conversation: what it sends (decided before the model starts), what was left
out to fit the context window, and the answer checked against the sources it was given."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ragterm.engine.answer import assembly
from ragterm.engine.answer.attribution import (
    attribute_hits,
    bare_citation,
    names_nothing,
    support,
    unsupported_hits,
)
from ragterm.engine.answer.prompt import (
    NAME_IT,
    Plan,
    check_citations,
    check_quote_sources,
    check_quotes,
)
from ragterm.engine.events import Done, Trimmed
from ragterm.engine.models.llm import Backend, SamplingParams
from ragterm.engine.retrieve import evidence
from ragterm.engine.retrieve.hits import Hit
from ragterm.store import chats


@dataclass
class Ask:
    """What the caller asked of a turn: ``Conversation.send``'s arguments."""

    text: str
    cancel: threading.Event | None
    retrieve: Callable[[str, int], list[Hit]] | None
    hits: list[Hit] | None
    rag: bool | None
    k: int | None
    pinned: Iterable[Hit]
    excluded: Iterable[int]
    sampling: dict[str, Any]


@dataclass
class Turn:
    """What a turn sends, decided before the model starts."""

    plan: Plan
    stored: list[chats.StoredMessage]  # the history the plan drew from
    asm: assembly.Assembly
    params: SamplingParams
    quotes: list[Any]  # evidence lines shown before the answer
    extractive: bool  # the answer is the quotes themselves, no generation
    # (answer, question) -> the evidence lines that back the answer, shown under it once done
    backing: Callable[[str, str], list[Any]] | None = None


@dataclass
class Quotes:
    """The evidence lines of a turn's sources: for the question before the answer, and those that
    back the answer once it is written (``attribution.support``)."""

    units: list[Any]  # retrieve.evidence units of the sources sent, scored for the question
    hits: list[Hit]
    k: int
    follow_symlinks: str

    def for_question(self) -> list[Any]:
        if not (self.units and self.k):
            return []
        return evidence.select(
            self.units, self.hits, k=self.k, follow_symlinks=self.follow_symlinks
        )

    def backing(self, answer: str, question: str) -> list[Any]:
        if not (self.units and self.k):
            return []
        backs = support(answer, question, [u.text for u in self.units])
        return evidence.select(
            self.units, self.hits, k=self.k, follow_symlinks=self.follow_symlinks, support=backs
        )


NAME_IT_TOKENS = 96  # the rest of the answer after NAME_IT: the name, its citation


def name_request(t: Turn, answer: str, question: str, backend: Backend) -> str | None:
    """The answer so far with NAME_IT after it, for the model to continue, when a generated
    answer from sources only restated the question (``attribution.names_nothing``, not a source
    number in place of the name: pushed to name one, the model made one up for questions the
    files do not answer) and it still fits the window; None otherwise. The turn's prompt and
    answer are the continuation's prefix, so the model's cache covers them."""
    if t.extractive or not t.asm.asks_name or not t.plan.hits or not backend.continues:
        return None
    if bare_citation(answer) or not names_nothing(answer, question):
        return None
    prefix = answer + NAME_IT
    used = backend.count_tokens(t.plan.messages) + backend.count_text(prefix)
    return prefix if used + NAME_IT_TOKENS <= backend.n_ctx else None


def merged_stats(first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    """A two-part answer's figures: the first part's prompt and time to first token, the tokens
    and time of both."""
    out = dict(first)
    for key in ("completion_tokens", "total_s"):
        if key in second:
            out[key] = first.get(key, 0.0) + second[key]
    return out


def trimmed(p: Plan) -> Trimmed | None:
    """What was left out to fit the context window, if anything."""
    turns, chunks = p.budget.dropped_turns, p.budget.dropped_chunks
    if not (turns or chunks):
        return None
    parts = [f"{turns} oldest exchange(s)"] if turns else []
    parts += [f"{chunks} lower-ranked excerpt(s)"] if chunks else []
    return Trimmed(turns, chunks, "left out to fit the context window: " + " and ".join(parts))


def answer_checks(
    text: str,
    question: str,
    hits: list[Hit],
    cited: list[int],
    *,
    finished: bool,
    generated: bool = True,
    earlier: Iterable[str] = (),
) -> dict[str, Any]:
    """``Done``'s checks of an answer against the sources sent, as the live turn and a resumed
    chat both show them: quotes in no source or cited to the wrong one; for a finished, generated
    answer, the names no source holds, a source number where a name should be and, when it cites
    nothing and names nothing foreign, ragterm's attribution. After ragterm's NAME_IT the model's
    continuation is the answer: it alone says whether a number stands where the name should."""
    sent = [h.text for h in hits]
    prompted = generated and NAME_IT in text
    foreign: list[str] = []
    attributed: list[int] = []
    if finished and sent and generated:
        foreign = unsupported_hits(text, question, hits, list(earlier))
        if not cited and not foreign:
            attributed = attribute_hits(text, question, hits)
    return {
        "attributed": attributed,
        "unsupported": foreign,
        "bare": bare_citation(text.rsplit(NAME_IT, 1)[-1]) if finished and cited else 0,
        "prompted_name": prompted,
        "unquoted": check_quotes(text, sent) if sent else [],
        "miscited": check_quote_sources(text, sent) if sent else [],
    }


def checked_answer(
    t: Turn,
    text: str,
    status: str,
    error: str | None,
    grounding: str,
    stats: dict[str, float],
    question: str = "",
) -> Done:
    """The answer with its citations dropped where they name no source sent, and checked
    (``answer_checks``)."""
    cited = check_citations(text, len(t.plan.hits))
    checks = answer_checks(
        cited.text, question, t.plan.hits, cited.valid,
        finished=status == "ok", generated=not t.extractive,
        earlier=(m.as_sent for m in t.stored[t.plan.history_start :]),
    )  # fmt: skip
    quotes = t.quotes
    if status == "ok" and not t.extractive and t.backing is not None:
        # the lines that back what it names: after NAME_IT, the model's continuation
        quotes = t.backing(cited.text.rsplit(NAME_IT, 1)[-1], question)
    return Done(
        content=cited.text,
        status=status,
        prompt_tokens=int(stats.get("prompt_tokens", 0)),
        completion_tokens=int(stats.get("completion_tokens", 0)),
        timings={k: v for k, v in stats.items() if k.endswith(("_s", "per_s"))},
        sources=t.plan.hits,
        error=error,
        evidence=quotes,
        citations=cited.valid,
        invalid_citations=cited.invalid,
        grounding=grounding,
        assembly=t.asm.name if t.plan.hits else "",
        **checks,
    )
