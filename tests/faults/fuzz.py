"""Fuzzing the parsers and the chunker: hypothesis strategies for each file kind, and the check
every input must pass. Shared by the short run in the suite (tests/faults/test_fuzz_parsers.py)
and the long one in scripts/bench_faults.py.

The contract, through the indexer's own ``parse_and_chunk``: an input parses into chunks that fit
the embedding model, or it is left out with one report line naming the file; within
``TIME_LIMIT_S``; and never through the indexer's catch-all ("cannot parse: KeyError: ..."), which
would mean a parser failed in a way nobody foresaw.

Inputs are markup-heavy token soups (headings, lists, tables, directives, tags, entities, code
blocks), re-encoded (UTF-16, Latin-1, BOMs, NULs), raw bytes, and byte-level mutations (flips,
inserts, deletes, truncations, duplicated ranges) of real PDFs and DOCX files built from
generated text, including mutations of the DOCX's XML inside a valid zip.
"""

from __future__ import annotations

import io
import signal
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ragterm.engine.index.pipeline import FileProblem, parse_and_chunk

TIME_LIMIT_S = 10.0  # per input of up to MAX_INPUT bytes: 100 KB/s, 5x the embedding's pace
MAX_INPUT = 1_000_000
KINDS = ["text", "markdown", "rst", "html", "code", "pdf", "docx", "chunker"]
NAMES = {
    "text": "notes.txt",
    "markdown": "notes.md",
    "rst": "notes.rst",
    "html": "page.html",
    "code": "tool.py",
    "pdf": "paper.pdf",
    "docx": "memo.docx",
}
UNFORESEEN = ("cannot parse:", "cannot chunk:", "secret scan failed:")

WORDS = ["lighthouse", "keeper", "wick", "harbour", "tide", "the", "a", "of", "ÄÖü", "日本語",
         "emoji😀", "x" * 300, "αβγ", "\u200b", "\u202e", "\ufeff", "e\u0301"]  # fmt: skip
SPACE = [" ", "\n", "\n\n", "\t", "\r\n", "\r", "\x0b", "\x0c", "\u2028", "\xa0"]
# fmt: off
MARKUP: dict[str, list[str]] = {
    "text": ['-', '*', '1.', ':', '=', '#', '\x00', '\x1b[31m'],
    "markdown": ['#', '##', '######', '*', '**', '_', '`', '```', '~~~', '>', '- ', '1. ', '[',
        '](', ')', '![', '|', '---', '===', '<div>', '</div>', '<!--', '-->', '\\', '[^1]:',
        '    ', '+++', '- [ ] ', '&amp;', '<', '>'],
    "rst": ['=====', '-----', '~~~~', '^^^^', '::', '.. ', '.. code-block:: python', '.. note::',
        '.. toctree::', ':param x:', '`', '``', '*', '**', '|', '+---+', '+===+', '__',
        '.. _label:', ':ref:', '   ', '#.', '- ', '>>>', '\\'],
    "html": ['<p>', '</p>', '<h1>', '</h1>', "<h3 id='x'>", '<dl>', '<dt>', '<dd>', '</dl>',
        '<pre>', '</pre>', '<code>', '<table>', '<tr>', '<td>', '<script>', '</script>',
        '<style>', '<!--', '-->', '<![CDATA[', ']]>', '&amp;', '&#x1F600;', '&#0;', '&nbsp;',
        '<br>', "<div class='section'>", '</div>', "<a href='#x'>", '</a>', '<', '>', '"', "'",
        '<!DOCTYPE html>', "<meta charset='latin-1'>", '<svg>', '<math>', '<title>', '<body>',
        '<nav>', '<li>', '<ul>', "<span class='pre'>", '<a ', '<div ', '<x', "<b c='", '<i d="',
        '<?', '<![', '</'],
    "code": ['def ', 'class ', 'async def ', '(', ')', ':', '    ', '\t', "'''", '"""', '#',
        '@decorator', 'lambda', '[', ']', '{', '}', 'import ', 'return', '\\', "'", '"', 'if ',
        'else:', '((((((((((', '))))))))))', '/*', '*/', '//', '=>', 'fn ', ';'],
}
# fmt: on
ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-32",
    "latin-1",
    "cp1252",
    "shift_jis",
]  # fmt: skip


def soup(kind: str, max_pieces: int = 300) -> st.SearchStrategy[str]:
    """Text made of the kind's markup, words and white space in any order."""
    piece = st.one_of(
        st.sampled_from(MARKUP[kind]),
        st.sampled_from(WORDS),
        st.sampled_from(SPACE),
        st.text(max_size=12),
    )
    return st.lists(piece, max_size=max_pieces).map("".join)


def _encode(args: tuple[str, str]) -> bytes:
    text, enc = args
    return text.encode(enc, "replace")


_OP = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate", "dup", "zero"]),
    st.floats(0, 1),
    st.binary(min_size=1, max_size=64),
)


def mutated(seed: st.SearchStrategy[bytes], max_ops: int = 8) -> st.SearchStrategy[bytes]:
    """``seed`` with byte-level damage applied."""
    return st.tuples(seed, st.lists(_OP, max_size=max_ops)).map(_apply)


def _apply(args: tuple[bytes, list[tuple[str, float, bytes]]]) -> bytes:
    data, ops = args
    buf = bytearray(data)
    for name, where, value in ops:
        i = int(where * len(buf))
        if name == "flip" and buf:
            i = min(i, len(buf) - 1)
            buf[i] ^= value[0] or 1
        elif name == "insert":
            buf[i:i] = value
        elif name == "delete":
            del buf[i : i + len(value) * 8]
        elif name == "truncate":
            del buf[i:]
        elif name == "dup":
            buf[i:i] = buf[i : i + len(value) * 16]
        elif name == "zero":
            buf[i : i + len(value)] = bytes(len(buf[i : i + len(value)]))
    return bytes(buf)


# Constructs a parser must find the end of: repeated with no end in sight, a parser that scans
# ahead for each one goes quadratic (html.parser did: see parse.html._escape_open_tail).
OPENERS: dict[str, list[str]] = {
    "text": ["<", "(", '"', "\\"],
    "markdown": ["[", "![", "`", "```", "*", "_", "<", "<!--", "<a ", "](", "> ", "    "],
    "rst": ["`", "``", "*", "**", "|", "_`", ":ref:`", "..", "[", "<"],
    "html": ["<a ", "<x", "<b c='", '<i d="', "<!--", "<![", "<?", "</", "<", "&", "<pre>"],
    "code": ["(", "[", "{", "'''", '"""', "'", '"', "/*", "def f(", "class C(", "\\"],
}


def repeated(kind: str) -> st.SearchStrategy[bytes]:
    """One piece thousands of times: deep nesting, endless lists, one huge line, openers that
    never close."""
    filler = ["tide", " ", "x", "\n"]
    piece = st.one_of(
        st.lists(st.sampled_from(MARKUP[kind] + WORDS + SPACE), min_size=1, max_size=3),
        st.lists(st.sampled_from(OPENERS[kind] + filler), min_size=1, max_size=2),
    )
    return st.tuples(piece, st.sampled_from([10, 300, 3_000, 30_000])).map(
        lambda t: ("".join(t[0]) * t[1]).encode("utf-8", "surrogatepass")[:MAX_INPUT]
    )


def text_inputs(kind: str) -> st.SearchStrategy[bytes]:
    encoded = st.tuples(soup(kind), st.sampled_from(ENCODINGS)).map(_encode)
    return st.one_of(encoded, repeated(kind), mutated(encoded), st.binary(max_size=2048))


_LATIN = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
    max_size=60,
)
_XMLSAFE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x2FFFF), max_size=80
)


def _pdf(pages: list[list[str]]) -> bytes:
    from tests.engine.test_parse import make_pdf

    return make_pdf(pages)


def _docx(parts: list[tuple[str, str]]) -> bytes:
    from tests.engine.test_parse import make_docx

    return make_docx(parts)


def pdf_inputs() -> st.SearchStrategy[bytes]:
    pages = st.lists(st.lists(_LATIN, max_size=6), min_size=1, max_size=4)
    real = pages.map(_pdf)
    return st.one_of(
        real, mutated(real, 12), st.binary(max_size=1024).map(lambda b: b"%PDF-1.4\n" + b)
    )


def docx_inputs() -> st.SearchStrategy[bytes]:
    part = st.tuples(st.sampled_from(["h1", "h2", "p", "p", "table"]), _XMLSAFE).map(
        lambda t: (t[0], t[1] if t[0] != "table" else f"{t[1]}|x\ny|{t[1][:5]}")
    )
    real = st.lists(part, min_size=1, max_size=6).map(_docx)
    xml_ops = st.lists(_OP, min_size=1, max_size=6)
    return st.one_of(real, mutated(real, 6), st.tuples(real, xml_ops).map(_xml_mutated))


def _xml_mutated(args: tuple[bytes, list[tuple[str, float, bytes]]]) -> bytes:
    """A valid zip whose word/document.xml is damaged: the XML parser meets the bad bytes."""
    data, ops = args
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "word/document.xml":
                body = _apply((body, ops))
            dst.writestr(item, body)
    return out.getvalue()


@st.composite
def parsed_docs(draw: Any) -> Any:
    """A parser's output made up directly, for the chunker alone: blocks of any size (one word
    longer than a chunk, a thousand tiny ones), headings of any length, lines or pages."""
    from ragterm.engine.index.parse import Block, Parsed

    kind = draw(st.sampled_from(["text", "markdown", "html", "pdf", "docx", "code"]))
    text = st.one_of(soup("markdown", 60), st.sampled_from(WORDS).map(lambda w: w * 40),
                     st.text(max_size=3000))  # fmt: skip
    blocks = []
    line = 1
    for _ in range(draw(st.integers(0, 40))):
        body = draw(text)
        heading = draw(st.one_of(st.just(""), st.text(max_size=40), soup("text", 400)))
        n = body.count("\n") + 1
        exact = draw(st.booleans())
        blocks.append(Block(body, start_line=line, end_line=line + n - 1 if exact else line,
                            page=draw(st.integers(1, 3)) if kind == "pdf" else None,
                            heading=heading, level=draw(st.integers(0, 6)),
                            lines_exact=exact))  # fmt: skip
        line += n + draw(st.integers(0, 3))
    if kind == "pdf":
        blocks.sort(key=lambda b: b.page or 0)
    return Parsed(kind, blocks)


def check_chunker(parsed: Any, tokenizer: Any, chunk_tokens: int, overlap: int) -> Outcome:
    """The chunker alone: it returns chunks that fit the model, in order, or raises nothing."""
    from ragterm.engine.index.chunk import chunk_parsed

    t0 = time.perf_counter()
    try:
        with time_limit(TIME_LIMIT_S):
            chunks = chunk_parsed(parsed, tokenizer, chunk_tokens, overlap)
    except Hang as exc:
        return Outcome("chunker", "hang", time.perf_counter() - t0, str(exc))
    except Exception as exc:  # noqa: BLE001 - what the fuzzing looks for
        return Outcome("chunker", "unforeseen", time.perf_counter() - t0,
                       f"{type(exc).__name__}: {exc}"[:300])  # fmt: skip
    seconds = time.perf_counter() - t0
    bad = _broken(chunks, tokenizer, chunk_tokens)
    if bad:
        return Outcome("chunker", "broken-chunk", seconds, bad)
    words = sum(tokenizer.count_tokens([b.text for b in parsed.blocks])) if parsed.blocks else 0
    if words and not chunks:  # invisible characters only (BOMs, joiners) count no token
        return Outcome("chunker", "broken-chunk", seconds, "text in, no chunk out")
    return Outcome("chunker", "chunks", seconds, f"{len(chunks)} chunks")


def _broken(chunks: list[Any], tokenizer: Any, chunk_tokens: int) -> str:
    """What is wrong with these chunks ("" when nothing): too many tokens for the model (it
    would cut them silently), empty, lines backwards."""
    room = tokenizer.max_tokens - 2
    for c in chunks:
        n = tokenizer.count_tokens([c.embed_text])[0]
        if not c.text.strip():
            return "an empty chunk"
        if n > room or c.n_tokens > max(8, chunk_tokens):
            return f"a chunk of {n} tokens ({c.n_tokens} counted) for {chunk_tokens}"
        if c.start_line is not None and c.end_line is not None and c.start_line > c.end_line:
            return f"lines {c.start_line}-{c.end_line}"
    return ""


def inputs(kind: str) -> st.SearchStrategy[bytes]:
    if kind == "pdf":
        return pdf_inputs()
    if kind == "docx":
        return docx_inputs()
    return text_inputs(kind)


# -- the check ---------------------------------------------------------------------------------


class Hang(BaseException):  # not an Exception: the catch-alls under test must not swallow it
    """The input ran past the time limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the work after ``seconds`` (main thread only: elsewhere it only measures)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"over {seconds:g} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Outcome:
    kind: str
    status: str  # chunks | skipped | failed | unforeseen | hang | broken-chunk
    seconds: float
    line: str = ""  # the report line a user would see


@dataclass
class Tally:
    """What a fuzz run met, per kind: outcomes, the slowest input, the bad cases."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    slowest: dict[str, float] = field(default_factory=dict)
    bad: list[tuple[Outcome, bytes]] = field(default_factory=list)

    def add(self, out: Outcome, data: bytes) -> None:
        self.counts[(out.kind, out.status)] += 1
        self.slowest[out.kind] = max(self.slowest.get(out.kind, 0.0), out.seconds)
        if out.status in ("unforeseen", "hang", "broken-chunk") and len(self.bad) < 20:
            self.bad.append((out, data))

    def total(self, kind: str | None = None) -> int:
        return sum(n for (k, _), n in self.counts.items() if kind is None or k == kind)

    def failures(self) -> int:
        return sum(n for (_, s), n in self.counts.items()
                   if s in ("unforeseen", "hang", "broken-chunk"))  # fmt: skip


def check(
    data: bytes,
    kind: str,
    tokenizer: Any,
    chunk_tokens: int = 200,
    overlap: int = 30,
    limit: float = TIME_LIMIT_S,
) -> Outcome:
    """Run one input through the indexer's parse -> secret scan -> chunk, and judge it."""
    name = NAMES[kind]
    t0 = time.perf_counter()
    try:
        with time_limit(limit):
            chunks = parse_and_chunk(data, Path(name), tokenizer, chunk_tokens, overlap)
    except Hang as exc:
        return Outcome(kind, "hang", time.perf_counter() - t0, f"{name}: {exc}")
    except FileProblem as exc:
        seconds = time.perf_counter() - t0
        line = f"{exc.status} {name}: {exc.reason}"
        one = "\n" not in line and "\r" not in line and bool(exc.reason.strip())
        if exc.reason.startswith(UNFORESEEN) or not one:
            return Outcome(kind, "unforeseen", seconds, line)
        return Outcome(kind, exc.status, seconds, line)
    seconds = time.perf_counter() - t0
    bad = _broken(chunks, tokenizer, chunk_tokens)
    if bad:
        return Outcome(kind, "broken-chunk", seconds, f"{name}: {bad}")
    return Outcome(kind, "chunks", seconds, f"{name}: {len(chunks)} chunks")


def run(
    kinds: list[str],
    examples: int,
    tokenizer: Any,
    *,
    seed: int = 0,
    on_each: Callable[[Outcome], None] | None = None,
) -> Tally:
    """``examples`` hypothesis inputs per kind (and as many chunker settings), tallied."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    tally = Tally()

    def fuzz(kind: str) -> Callable[[], None]:
        if kind == "chunker":

            @hseed(seed)
            @settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(parsed=parsed_docs(), size=st.integers(16, 300), overlap=st.integers(0, 120))
            def chunker(parsed: Any, size: int, overlap: int) -> None:
                out = check_chunker(parsed, tokenizer, size, overlap)
                tally.add(out, repr(parsed.blocks[:2]).encode()[:2000])
                if on_each is not None:
                    on_each(out)

            return chunker

        @hseed(seed)
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(data=inputs(kind), size=st.integers(16, 300), overlap=st.integers(0, 120))
        def one(data: bytes, size: int, overlap: int) -> None:
            out = check(data, kind, tokenizer, size, overlap)
            tally.add(out, data)
            if on_each is not None:
                on_each(out)

        return one

    for kind in kinds:
        fuzz(kind)()
    return tally
