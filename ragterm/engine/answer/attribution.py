"""Which sent source holds what an answer names, and which names no source holds.

A model given whole chunks sometimes answers right and cites nothing. The answer's own terms
(the names and values it writes that the question did not) tell which source it read: the one
that holds the rarest of them. ragterm reports that source as *its* attribution, apart from the
model's citations, and says so under the answer.

A model also answers from its own memory when the sources hold no answer (it names a React hook
from a folder of Python docs). A name the answer gives that no source sent holds is reported, so
the user knows that part is not from their files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

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
    if not sources or _REFUSAL.search(answer) or not (new or _TICKED.search(answer)):
        return []
    held = [{t for t in new if _holds(src, t)} for src in sources]
    df = {t: sum(t in h for h in held) for t in new}
    names = {t for t in new if said[t]}
    # a source that defines a name the answer's first sentence gives (the answer, asked for
    # first; later sentences elaborate) beats one that only uses it (color.py's `class
    # ColorParseError`, not style.py's `raise ColorParseError`), even a name the question has
    # (`group` for "into a Group"); then names (a file, a function, a value), plain words
    # only to break their tie
    given = [m.group(1).strip() for m in _TICKED.finditer(_first_sentence(answer))]
    defined = [{n for n in given if _defines(src, n)} for src in sources]
    ddf = {n: sum(n in d for d in defined) for n in given}
    scores = [
        (
            sum(1.0 / ddf[n] for n in d),
            sum(1.0 / df[t] for t in h & names),
            sum(1.0 / df[t] for t in h - names),
        )
        for d, h in zip(defined, held, strict=True)
    ]
    best = max(scores)
    return [scores.index(best) + 1] if best > (0.0, 0.0, 0.0) else []


def support(answer: str, question: str, lines: Sequence[str]) -> Callable[[str], float]:
    """How much a line backs the answer: the terms of the answer's first sentence (the answer
    itself; later sentences elaborate) that the question lacks, each weighted by how few of
    ``lines`` hold it, a name (backticked, dotted, snake, a number) twice a plain word. The
    lines shown under an answer should be the ones it used, not only the question's best: "keeps
    output intact across processes" is asked, `enqueue=True` is the line that says it."""
    if _REFUSAL.search(answer):
        return lambda line: 0.0
    said = _terms(_FENCED.sub(" ", _first_sentence(answer)))
    asked = _terms(question)
    new = {t: (2.0 if name else 1.0) for t, name in said.items() if t not in asked}
    df = {t: sum(_holds(x, t) for x in lines) for t in new}
    weight = {t: w / df[t] for t, w in new.items() if df[t]}

    def score(line: str) -> float:
        return sum(w for t, w in weight.items() if _holds(line, t))

    return score


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+(?=[A-Z`*\[])|\n\s*\n", text.strip(), maxsplit=1)[0]


def _defines(source: str, name: str) -> bool:
    """Does ``source`` define ``name`` (the last part of a dotted name or call): a ``def``,
    ``class`` or like keyword before it, an assignment at a line's start, a heading with it."""
    last = name.split("(")[0].rsplit(".", 1)[-1].lstrip("@-")
    if not re.fullmatch(r"[A-Za-z_]\w*", last):
        return False
    keyword = r"def|class|function|func|fn|struct|enum|interface|trait|type|const|let|var"
    return (
        re.search(
            rf"\b(?:{keyword})\s+{last}\b|^\s*(?:self\.)?{last}\s*(?::[^=\n]+)?=(?!=)"
            rf"|^#+ [^\n]*\b{last}\b",
            source,
            re.M,
        )
        is not None
    )


def _holds(source: str, term: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(term)}(?![\w])", source, re.I) is not None


def _seen(hits: Sequence[Hit]) -> list[str]:
    """What the model saw of each source: its citation line, heading, text."""
    return [f"{h.citation()} {h.heading}\n{h.text}" for h in hits]


def attribute_hits(answer: str, question: str, hits: Sequence[Hit]) -> list[int]:
    """``attribute`` over what the model saw of each source."""
    return attribute(answer, question, _seen(hits))


_FENCED = re.compile(r"```.*?(?:```|$)", re.S)
# a name a source would spell the same way: snake, CamelCase, dotted (not "e.g"), a number, a flag;
# stricter than _NAME, which also takes hyphenated words ("module-level") as attribution evidence
_IDENT = re.compile(r"_|[a-z][A-Z]|[A-Za-z]{2}\.[A-Za-z]{2}|^\d[\d.,]*\d$|^--?\w")
_LITERALS = frozenset("true false none null yes no".split())


def _claims(answer: str, question: str) -> dict[str, str]:
    """The names an answer gives as fact, lower-cased to as written: everything in backticks
    (even a word of the question: "`sparkline`" is a claim that a function has that name) and,
    outside backticks, identifiers and numbers the question does not have. Code blocks are
    examples, not claims."""
    text = _FENCED.sub(" ", answer)
    out: dict[str, str] = {}
    for m in _TICKED.finditer(text):
        name = m.group(1).strip().removesuffix("()")
        if name.lower() not in _LITERALS:
            out[name.lower()] = name
    asked = {w.lower() for w in _WORD.findall(question)}
    rest = _TICKED.sub(" ", re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", " ", text))
    for m in _WORD.finditer(rest):
        w = m.group(0).removesuffix("()").rstrip(".:-/")
        if _IDENT.search(w) and w.lower() not in asked and w.lower() not in _LITERALS:
            out.setdefault(w.lower(), w)
    return out


def _held_anywhere(name: str, sources: Sequence[str]) -> bool:
    """Whether some source holds ``name``, or what a reader would look up of it: the key of
    ``key=value``, a call's name, the last part of a dotted name (``pandas.read_parquet``) when
    a source holds it as a name: ``Console.copy`` is not held by a source that says "copy"."""
    forms = {name, name.split("=")[0].strip(), name.split("(")[0].strip()}
    if any(f and _holds(src, f) for f in forms for src in sources):
        return True
    last = name.split("(")[0].rsplit(".", 1)[-1] if "." in name and " " not in name else ""
    if not last:
        return False
    as_name = re.compile(
        rf"(?:[.`]|\bdef\s+|\bclass\s+){re.escape(last)}(?!\w)|(?<!\w){re.escape(last)}\s*\(", re.I
    )
    return any(
        (_holds(src, last) if _IDENT.search(last) else as_name.search(src) is not None)
        for src in sources
    )


def unsupported(answer: str, question: str, sources: Sequence[str]) -> list[str]:
    """The names the answer gives (as written) that none of ``sources`` holds: the model's own
    knowledge, not the user's files. A refusal names nothing."""
    if not sources or _REFUSAL.search(answer):
        return []
    return [n for t, n in _claims(answer, question).items() if not _held_anywhere(t, sources)]


def unsupported_hits(
    answer: str, question: str, hits: Sequence[Hit], earlier: Sequence[str] = ()
) -> list[str]:
    """``unsupported`` over what the model saw of each source, and of the ``earlier`` turns it
    was sent (a follow-up's answer may name what a previous turn's sources held)."""
    return unsupported(answer, question, [*_seen(hits), *earlier]) if hits else []


def names_nothing(answer: str, question: str) -> bool:
    """Whether the answer only restates the question: nothing backticked, no word the question
    lacks, and not a refusal ("The pager class delegates to the pager program installed on the
    operating system."). Such an answer tells the user nothing; ``turn.name_request`` has the
    model go on after "In other words, the answer is"."""
    text = re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", " ", answer).strip()
    if not text.strip(" .") or _REFUSAL.search(text) or _TICKED.search(text):
        return False
    return not set(_terms(text)) - set(_terms(question))


# "The option that does X is [1]." in the answer's first sentence: a number where a name should be
_BARE = re.compile(
    r"^[^.!?\n]*?\b(?:is|are|was|were|called|named)\s+\[(\d+)(?:\s*,\s*\d+)*\]\s*(?:[.;,]|$)"
)


def bare_citation(answer: str) -> int:
    """The source number the answer's first sentence gives in place of a name (0 when it names
    something): a model that read the answer in a source sometimes writes only where it is."""
    m = _BARE.search(answer.strip())
    return int(m.group(1)) if m else 0
