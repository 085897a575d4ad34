"""A retrieved chunk as candidate quotes, scored against a question.

Each chunk is cut into units (a source line, or a sentence where a block has no exact line
breaks, as in HTML); a unit's score mixes keyword overlap (IDF over the retrieved units, light
stemming, identifiers split at ``_`` and ``.``) with the embedding model's cosine between
question and unit. ``evidence`` picks the best units and checks them against the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ragterm.engine.retrieve.hits import Hit

KEYWORD_WEIGHT = 0.6  # share of the keyword score in a unit's score (the rest: embedding cosine)
MAX_UNIT_CHARS = 160  # longer lines are cut into sentences (a quote is a sentence or a line)
MIN_UNIT_CHARS = 12  # shorter units ("}", "Parameters") are never evidence on their own
STOPWORDS = frozenset(
    """a an and are as at be but by can do does for from has have how i if in into is it its of on
    or so such that the their then there these they this to was were what when where which who why
    will with you your my me we our function method class module attribute option
    use used using give gives given tell tells which whose kind""".split()
)
_WORD = re.compile(r"[A-Za-z0-9_]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(])")
_SPACE = re.compile(r"\s+")
# a signature or definition line: "shutil.rmtree(path, ...)", "class csv.DictReader(f, ...)"
_DEFINITION = re.compile(r"^(?:(?:async |abstract |class |exception |def )+)?[A-Za-z_][\w.]*[(\[]")


class Embedder(Protocol):
    def embed(self, texts: Any, batch_size: int = ...) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


# -- words ---------------------------------------------------------------------------------------


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> list[str]:
    """Content words of ``text``, stemmed; identifiers also count by their parts."""
    out: list[str] = []
    for raw in _WORD.findall(text):
        low = raw.lower()
        parts = [low] + ([p for p in low.split("_") if p] if "_" in low else [])
        for p in parts:
            if p not in STOPWORDS and len(p) > 1:
                out.append(_stem(p))
    return out


def collapse_spaces(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


# -- units ---------------------------------------------------------------------------------------


@dataclass
class Unit:
    source: int
    hit: Hit
    text: str
    line: int | None
    score: float = 0.0
    owner: Unit | None = None  # the definition line this one sits under ("shutil.rmtree(...)")

    @property
    def named(self) -> str:
        return self.owner.text if self.owner is not None else ""


def split_line(text: str) -> list[str]:
    """A line, or its sentences when it is a long paragraph (HTML and DOCX blocks)."""
    text = text.strip()
    if len(text) <= MAX_UNIT_CHARS:
        return [text] if text else []
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def units_of(hits: Sequence[Hit]) -> list[Unit]:
    """Every candidate line of the retrieved chunks, as the model saw them."""
    out: list[Unit] = []
    for n, hit in enumerate(hits, 1):
        owner: Unit | None = None
        for i, line in enumerate(hit.text.split("\n")):
            line_no = hit.start_line + i if hit.start_line is not None else None
            for piece in split_line(line):
                if _DEFINITION.match(piece):  # a signature, however short ("os.getcwd()")
                    owner = Unit(n, hit, piece, line_no)
                    out.append(owner)
                elif len(piece) >= MIN_UNIT_CHARS:
                    out.append(Unit(n, hit, piece, line_no, owner=owner))
    return out


def score_units(
    question: str,
    units: Sequence[Unit],
    embedder: Embedder | None = None,
    keyword_weight: float = KEYWORD_WEIGHT,
) -> np.ndarray:
    """Each unit's score in [0, 1]: IDF-weighted share of the question's terms it holds, mixed
    with the embedding cosine. The words of its heading and of the signature it sits under count
    as its own (a description rarely repeats the name it describes: "Which shutil function
    deletes a tree?" must find the line under ``shutil.rmtree(...)``); so do joined word pairs
    of the question that a unit holds ("deep copy" -> deepcopy)."""
    if not units:
        return np.zeros(0, dtype=np.float32)
    unit_terms = [set(terms(f"{last_heading(u.hit.heading)} {u.named} {u.text}")) for u in units]
    q_terms = list(dict.fromkeys(terms(question)))
    words = [w.lower() for w in _WORD.findall(question)]
    held = set().union(*unit_terms)
    # "deep copy" asks for deepcopy, "base name" for basename: joined pairs an identifier holds
    pairs = [a + b for a, b in zip(words, words[1:], strict=False)]
    q_terms += [p for p in dict.fromkeys(pairs) if p in held and p not in q_terms]
    n = len(units)
    idf = {t: math.log(1 + n / (1 + sum(t in ts for ts in unit_terms))) for t in q_terms}
    total = sum(idf.values()) or 1.0
    kw = np.array([sum(idf[t] for t in q_terms if t in ts) / total for ts in unit_terms])
    if embedder is None or keyword_weight >= 1.0:
        return kw.astype(np.float32)
    qvec = embedder.embed_query(question)
    mat = embedder.embed([u.text for u in units])
    cos = np.clip(mat @ qvec.astype(np.float32), 0.0, 1.0)
    return (keyword_weight * kw + (1 - keyword_weight) * cos).astype(np.float32)


def last_heading(heading: str) -> str:
    return heading.rsplit(" > ", 1)[-1] if heading else ""
