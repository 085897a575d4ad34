"""Which sent source holds what an uncited answer names.

A model given whole chunks sometimes answers right and cites nothing. The answer's own terms
(the names and values it writes that the question did not) tell which source it read: the one
that holds the rarest of them. ragterm reports that source as *its* attribution, apart from the
model's citations, and says so under the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragterm.engine.retrieve.hits import Hit

_TICKED = re.compile(r"`([^`\n]{2,80})`")
_WORD = re.compile(r"[A-Za-z0-9_][\w.\-/:@]*[\w)]|[A-Za-z0-9_]")
_NAME = re.compile(r"\w[_.\-/:@]\w|\d|[a-z][A-Z]")  # a file, dotted, snake, CamelCase, number
_STOP = frozenset(
    "a an and are as at be by can cite do does for from has have in is it its of on one or "
    "source sources that the their then this to use used uses which with you your file files "
    "function class method option setting value module name called named".split()
)


def _terms(text: str) -> dict[str, bool]:
    """Words of ``text`` a source could hold verbatim (lower-cased, without call parentheses),
    each with whether it looks like a name: backticked, CamelCase, dotted, snake, a number."""
    out = {m.group(1).strip().removesuffix("()").lower(): True for m in _TICKED.finditer(text)}
    for m in _WORD.finditer(re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", " ", text)):
        raw = m.group(0).removesuffix("()").rstrip(".:-/")
        w = raw.lower()
        if (len(w) > 2 or any(c.isdigit() for c in w)) and w not in _STOP:
            out[w] = out.get(w, False) or bool(_NAME.search(raw))
    return out


# an answer that says it has no answer names nothing a source could hold
_REFUSAL = re.compile(
    r"\b(sorry|(?:do|does) not (?:say|mention|answer|contain)|not (?:in|mentioned in) the "
    r"(?:sources|files|context)|(?:don't|do not) have enough)\b",
    re.I,
)


def attribute(answer: str, question: str, sources: Sequence[str]) -> list[int]:
    """The 1-based number of the source holding the answer's rarest new terms; [] when none does.

    Terms the question already has say nothing about which source answered, so only the answer's
    new ones count, each weighted by how few sources hold it. Names (a file, a function, a
    value) decide; plain words only break a tie between names (a common word that happens to be
    in one source must not outvote the file name the answer gives). Then the higher-ranked source.
    """
    said = _terms(answer)
    new = set(said) - set(_terms(question))
    if not new or not sources or _REFUSAL.search(answer):
        return []
    held = [{t for t in new if _holds(src, t)} for src in sources]
    df = {t: sum(t in h for h in held) for t in new}
    names = {t for t in new if said[t]}
    # names first (a file, a function, a value), plain words only to break their tie
    scores = [
        (sum(1.0 / df[t] for t in h & names), sum(1.0 / df[t] for t in h - names)) for h in held
    ]
    best = max(scores)
    return [scores.index(best) + 1] if best > (0.0, 0.0) else []


def _holds(source: str, term: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(term)}(?![\w])", source, re.I) is not None


def attribute_hits(answer: str, question: str, hits: Sequence[Hit]) -> list[int]:
    """``attribute`` over what the model saw of each source: its citation line, heading, text."""
    return attribute(answer, question, [f"{h.citation()} {h.heading}\n{h.text}" for h in hits])
