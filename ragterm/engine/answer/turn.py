"""One turn of a conversation: what it sends (decided before the model starts), what was left
out to fit the context window, and the answer checked against the sources it was given."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ragterm.engine.answer import assembly
from ragterm.engine.answer.attribution import attribute_hits, bare_citation, unsupported_hits
from ragterm.engine.answer.prompt import Plan, check_citations, check_quote_sources, check_quotes
from ragterm.engine.events import Done, Trimmed
from ragterm.engine.models.llm import SamplingParams
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


def trimmed(p: Plan) -> Trimmed | None:
    """What was left out to fit the context window, if anything."""
    turns, chunks = p.budget.dropped_turns, p.budget.dropped_chunks
    if not (turns or chunks):
        return None
    parts = [f"{turns} oldest exchange(s)"] if turns else []
    parts += [f"{chunks} lower-ranked excerpt(s)"] if chunks else []
    return Trimmed(turns, chunks, "left out to fit the context window: " + " and ".join(parts))


def checked_answer(
    t: Turn,
    text: str,
    status: str,
    error: str | None,
    grounding: str,
    stats: dict[str, float],
    question: str = "",
) -> Done:
    """The answer with its citations, quotes and names checked against the sources sent; an
    answer that cites nothing gets the source holding what it names, as ragterm's attribution,
    unless it names something no source holds."""
    cited = check_citations(text, len(t.plan.hits))
    sent = [h.text for h in t.plan.hits]
    attributed: list[int] = []
    foreign: list[str] = []
    if status == "ok" and sent and not t.extractive:
        earlier = [m.as_sent for m in t.stored[t.plan.history_start :]]
        foreign = unsupported_hits(cited.text, question, t.plan.hits, earlier)
        if not cited.valid and not foreign:
            attributed = attribute_hits(cited.text, question, t.plan.hits)
    return Done(
        content=cited.text,
        status=status,
        prompt_tokens=int(stats.get("prompt_tokens", 0)),
        completion_tokens=int(stats.get("completion_tokens", 0)),
        timings={k: v for k, v in stats.items() if k.endswith(("_s", "per_s"))},
        sources=t.plan.hits,
        error=error,
        evidence=t.quotes,
        citations=cited.valid,
        attributed=attributed,
        unsupported=foreign,
        bare=bare_citation(cited.text) if status == "ok" and cited.valid else 0,
        invalid_citations=cited.invalid,
        unquoted=check_quotes(cited.text, sent) if sent else [],
        miscited=check_quote_sources(cited.text, sent) if sent else [],
        grounding=grounding,
        assembly=t.asm.name if t.plan.hits else "",
    )
