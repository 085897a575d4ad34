"""Answer assembly: what a turn with sources sends to the model, chosen from what the model can do.

One prompt does not serve every model. The bundled 135M model, generating, names the right thing
less often than the best evidence line already holds it (on every answer set, the never-tuned
READMEs test set included: docs/benchmarks.md), so for it the answer is that line, quoted and
labelled; a 1B+ instruct model (or a server) given two excerpted lines per source refuses or
cites without answering, and answers most questions when it gets whole chunks and is asked for
the answer first. ``rag.assembly`` picks one of:

- ``whole``: whole chunks in the search's order, as they are, after the rules; the answer first,
  in a sentence that names the thing asked about, then the citation. No adapter. A local model's
  answer that only restates the question is finished by the model after ragterm's "In other
  words, the answer is" (``prompt.NAME_IT``).
- ``excerpts``: the most relevant lines of each chunk (``rag.excerpt_lines``), ``rag.order``,
  quote-and-cite rules, the retrieval adapter (``rag.adapter``).
- ``extractive``: no generation on turns with sources; the answer is the best evidence line,
  quoted with the definition or section it sits under and its citation (labelled as a quote).
- ``auto``: ``whole`` for models with 1B+ parameters and remote servers; for smaller models the
  assembly that measured best on the answer benchmarks (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ragterm.engine.answer.prompt import ANSWER_FIRST_RULES, GROUNDING_RULES, NOT_IN_FILES
from ragterm.engine.retrieve.query_rewrite import model_is_capable

NAMES = ("whole", "excerpts", "extractive")
SMALL_MODEL_DEFAULT = "extractive"  # measured: docs/benchmarks.md, "Answer assembly"


@dataclass(frozen=True)
class Assembly:
    """How sources reach the model on one turn."""

    name: str
    lines: int  # lines of each chunk sent (0: the whole chunk)
    order: str  # evidence | retrieval
    rules: str  # the instructions sent with the sources
    adapter: bool  # apply the retrieval adapter on turns with sources
    reason: str = ""  # why this one (what /rag and ask --json show)
    layout: str = "quoted"  # prompt.user_turn: quoted (rules after) | plain (rules first)
    # an answer that only restates the question is continued after prompt.NAME_IT
    asks_name: bool = False

    @property
    def generates(self) -> bool:
        """False when the answer is the evidence itself, quoted (no model call)."""
        return self.name != "extractive"

    def describe(self) -> str:
        what = {
            "whole": "whole chunks, answer first",
            "excerpts": f"{self.lines} best lines per chunk, quote and cite"
            + (", retrieval adapter" if self.adapter else ""),
            "extractive": "the best evidence line quoted (no generation)",
        }[self.name]
        return f"{self.name} ({what}; {self.reason})" if self.reason else f"{self.name} ({what})"


def choose(cfg: Any, backend: Any) -> Assembly:
    """The assembly for this backend: ``rag.assembly`` when set, else by the model's size."""
    setting = cfg["rag.assembly"]
    if setting != "auto":
        name, reason = setting, "rag.assembly"
    elif backend is not None and model_is_capable(backend):
        name, reason = "whole", "auto: a 1B+ model or a server"
    else:
        name, reason = SMALL_MODEL_DEFAULT, "auto: a small model"
    return make(name, cfg, reason)


def make(name: str, cfg: Any, reason: str = "") -> Assembly:
    if name == "whole":
        return Assembly(
            "whole", 0, "retrieval", ANSWER_FIRST_RULES, False, reason, "plain", asks_name=True
        )
    if name == "excerpts":
        lines = cfg["rag.excerpt_lines"]
        return Assembly("excerpts", lines, cfg["rag.order"], GROUNDING_RULES, True, reason)
    if name == "extractive":
        return Assembly("extractive", 0, "evidence", GROUNDING_RULES, False, reason)
    raise ValueError(f"unknown assembly {name!r}")


def extract(evidence: list[Any]) -> str:
    """The extractive answer: the best evidence line under its definition or section, cited."""
    if not evidence:
        return NOT_IN_FILES
    best = evidence[0]
    head = best.heading.strip().splitlines()[0].lstrip("#").strip() if best.heading.strip() else ""
    text = " ".join(best.text.split())
    quote = f'"{text}" [{best.source}]'
    if head and text.strip("\"' ") and text.strip("\"' ") in head:
        return f"{head} [{best.source}]"  # a docstring's line: the heading already says it
    return f"{head}: {quote}" if head and head not in text else quote
