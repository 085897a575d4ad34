"""Follow-up questions -> standalone search queries (conversation-aware retrieval).

Why: "and how do I undo it?" has no words of its own to search for, so the second answer of a
conversation loses its sources. Two ways to rewrite it, chosen by ``rag.rewrite``:

- ``terms``: carry the salient words of the recent questions into the follow-up's query, when the
  follow-up leans on them (a pronoun, "and …", "what about …", or almost no words of its own).
  Instant and deterministic; it never drops the user's own words.
- ``model``: ask the chat model for a standalone question (temperature 0, a few dozen tokens).
  Only as good as the model, and a local model's rewrite replaces the conversation in its KV
  cache (the answer's prompt is evaluated again). The bundled 135M one does worse than ``terms``
  on the follow-up dev set (docs/benchmarks.md), so ``auto`` uses the model only when it has at
  least ``MODEL_MIN_PARAMS`` parameters or is a remote server, and ``terms`` otherwise.
- ``off``: search the follow-up's own words.

A question that stands on its own ("How do I decode base64?") is searched as typed either way.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragterm.engine.models.llm import SamplingParams

MODES = ("auto", "model", "terms", "off")
MODEL_MIN_PARAMS = 1.0e9
MAX_CARRIED = 8  # words carried over from earlier questions
OWN_WORDS_ALONE = 2  # a follow-up with more content words than this is not rewritten (terms)

_WORD = re.compile(r"[A-Za-z0-9_.+#-]*[A-Za-z0-9_+#]|\w+", re.UNICODE)
# words that carry no topic: question scaffolding, pronouns, fillers
_FILLER = frozenset(
    """a about again also am an and any anything are as at be been but by can could did do does
    doing done else even for from get got has have how i if in instead into is it its just let
    like make me might more most much my need of on one ones or other please same should so some
    something such than that the their them then there these they thing this those to too use
    used using want was way we were what when where which while who why will with would you your
    again another back both each every just only still very""".split()
)
# what makes a question lean on the one before it
_ANAPHORA = frozenset(
    "it its that this them they those these one ones there same again instead also too".split()
)
_LEADS = ("and ", "but ", "or ", "also ", "what about", "how about", "what if", "same ", "then ")


@dataclass
class Rewrite:
    """What was searched for this turn, and how it came about (shown in the inspector)."""

    query: str
    method: str  # none (searched as typed) | terms | model
    original: str

    @property
    def changed(self) -> bool:
        return self.query != self.original


def content_words(text: str) -> list[str]:
    """Lower-cased words that say what a question is about, in order, without repeats."""
    words = [w.lower() for w in _WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if w not in _FILLER and len(w) > 1))


def leans_on_context(question: str) -> bool:
    """True when a question needs the conversation to be understood."""
    low = question.lower().strip()
    words = {w.lower() for w in _WORD.findall(low)}
    return (
        bool(words & _ANAPHORA)
        or low.startswith(_LEADS)
        or len(content_words(question)) <= OWN_WORDS_ALONE
    )


def carry_terms(question: str, earlier: Sequence[str]) -> Rewrite:
    """The follow-up plus the salient words of the earlier questions (most recent first)."""
    if not earlier or not leans_on_context(question):
        return Rewrite(question, "none", question)
    own = set(content_words(question))
    carried: list[str] = []
    for prev in reversed(earlier[-2:]):
        for w in content_words(prev):
            if w not in own and w not in carried:
                carried.append(w)
    carried = carried[:MAX_CARRIED]
    if not carried:
        return Rewrite(question, "none", question)
    return Rewrite(f"{question} {' '.join(carried)}", "terms", question)


_SYSTEM = (
    "You rewrite a follow-up question into one standalone question for a documentation search. "
    "Replace words like it, that, them with what they refer to in the conversation. Reply with "
    "the rewritten question only, on one line."
)
_EXAMPLE = (
    "Conversation:\nUser: How do I sort a list of tuples by the second item?\n"
    "Assistant: Use sorted(items, key=lambda t: t[1]).\n"
    "Follow-up: and in reverse order?\nStandalone question:",
    "How do I sort a list of tuples by the second item in reverse order?",
)


def model_rewrite(
    question: str,
    turns: Sequence[tuple[str, str]],
    backend: Any,
    cancel: threading.Event | None = None,
) -> Rewrite | None:
    """The chat model's standalone question, or None when it gave nothing usable."""

    convo = "\n".join(
        f"User: {u}\nAssistant: {_clip(a, 300)}" if a else f"User: {u}" for u, a in turns[-2:]
    )
    messages = [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": _EXAMPLE[0]},
        {"role": "assistant", "content": _EXAMPLE[1]},
        {
            "role": "user",
            "content": f"Conversation:\n{convo}\nFollow-up: {question}\nStandalone question:",
        },
    ]
    params = SamplingParams(temperature=0.0, max_tokens=48, seed=0)
    text = "".join(backend.stream(messages, params, cancel))
    line = next((x.strip() for x in text.strip().splitlines() if x.strip()), "")
    line = re.sub(r"^(standalone question|question|query)\s*:\s*", "", line, flags=re.I)
    line = line.strip().strip("\"'`").strip()
    if not line or len(line) > 4 * max(len(question), 80) or not content_words(line):
        return None
    return Rewrite(line, "model", question)


def model_is_capable(backend: Any) -> bool:
    """Whether ``auto`` trusts this chat model to rewrite: big enough, or a server."""
    info = getattr(backend, "info", None)
    if info is None:  # a remote server: assumed to run a real model
        return backend is not None and hasattr(backend, "url")
    params = parse_params(str(getattr(info, "parameters", "") or ""))
    if params is None:  # no size label: a 4-bit GGUF holds about 2 parameters a byte
        params = 2.0 * float(getattr(info, "size", 0) or 0)
    return params >= MODEL_MIN_PARAMS


def parse_params(label: str) -> float | None:
    """``"135M"`` / ``"1.5B"`` -> a parameter count."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMBT])\s*", label.upper())
    if not m:
        return None
    return float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[m.group(2)]


def resolve_mode(mode: str, backend: Any) -> str:
    """``auto`` -> ``model`` or ``terms`` for this backend; the others as they are."""
    if mode != "auto":
        return mode
    return "model" if backend is not None and model_is_capable(backend) else "terms"


def describe(mode: str, backend: Any) -> str:
    """One line for /rag and `config`: which rewriting is in effect and why."""
    used = resolve_mode(mode, backend)
    if used == "off":
        return "follow-ups: searched as typed (rag.rewrite off)"
    why = ""
    if mode == "auto":
        why = " (auto: the chat model " + (
            "is big enough)" if used == "model" else "is too small to rewrite well)"
        )
    how = "rewritten by the chat model" if used == "model" else "carry the earlier question's terms"
    return f"follow-ups: {how}{why}"


def standalone(
    question: str,
    turns: Sequence[tuple[str, str]],
    mode: str,
    backend: Any = None,
    cancel: threading.Event | None = None,
) -> Rewrite:
    """The query to search for ``question`` after ``turns`` (earlier (user, assistant) pairs)."""
    used = resolve_mode(mode, backend)
    earlier = [u for u, _ in turns if u.strip()]
    if used == "off" or not earlier:
        return Rewrite(question, "none", question)
    if used == "model" and backend is not None and leans_on_context(question):
        try:
            got = model_rewrite(question, turns, backend, cancel)
        except Exception:  # noqa: BLE001 - a failed rewrite must never cost the answer
            got = None
        if got is not None:
            return got
    return carry_terms(question, earlier)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + " …"
