"""Chunks cover the text in order, cite valid lines, fit the model, and cut where structure says.

Property tests use the bundled embedding model's real tokenizer (no ONNX session needed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragterm.engine.embed import load_tokenizer
from ragterm.engine.index.chunk import chunk_parsed
from ragterm.engine.index.parse import Block, Parsed, parse_bytes


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


# Unique words (a running number in each) make every chunk's place in the source unambiguous.
_stems = st.sampled_from(
    ["alpha", "beta", "über", "naïve", "x", "data_frame", "(paren)", "end.", "q?", "日本語", "—"]
)
_line = st.lists(st.one_of(_stems, st.just("LONGWORD"), st.just("    ")), min_size=0, max_size=30)
_doc = st.lists(_line, min_size=1, max_size=60)


def _render(lines: list[list[str]]) -> str:
    n = 0
    out = []
    for words in lines:
        rendered = []
        for w in words:
            n += 1
            if w == "LONGWORD":
                rendered.append("z" * 300 + str(n))  # longer than a chunk: must be cut inside
            elif w.strip():
                rendered.append(f"{w}{n}")
            else:
                rendered.append(w)
        out.append(" ".join(rendered))
    return "\n".join(out)


def _check_cover(text: str, chunks, budget: int, tok) -> None:
    stream = "".join(text.split())
    lines = text.split("\n")
    pos = 0
    prev_end = 0
    prev_start_line = 0
    for n, c in enumerate(chunks):
        piece = "".join(c.text.split())
        assert piece, "no empty chunks"
        at = stream.find(piece, pos if n == 0 else pos + 1)
        assert at != -1, f"chunk {n} is not in the source in order"
        assert at <= prev_end, f"gap before chunk {n}"
        if n == 0:
            assert at == 0
        pos, prev_end = at, at + len(piece)
        # size: the model's own tokenizer agrees with the recorded count and the bound
        assert c.n_tokens <= budget
        assert tok.count_tokens([c.text])[0] <= budget
        assert tok.count_tokens([c.embed_text])[0] <= tok.max_tokens - 2
        # lines: valid, ordered, and really where the chunk starts and ends
        assert 1 <= c.start_line <= c.end_line <= len(lines)
        assert c.start_line >= prev_start_line
        prev_start_line = c.start_line
        words = c.text.split()
        assert words[0] in lines[c.start_line - 1]
        assert words[-1] in lines[c.end_line - 1]
    assert prev_end == len(stream), "the end of the text is not covered"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_doc, budget=st.integers(16, 120), overlap=st.integers(0, 40))
def test_text_chunks_cover_in_order_with_valid_lines_and_sizes(tok, doc, budget, overlap):
    text = _render(doc)
    if not text.split():
        return
    parsed = parse_bytes(text.encode(), Path("t.txt"))
    chunks = chunk_parsed(parsed, tok, budget, overlap)
    _check_cover(text, chunks, budget, tok)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sections=st.lists(st.tuples(st.integers(1, 3), _doc), min_size=1, max_size=6),
    budget=st.integers(24, 100),
)
def test_markdown_chunks_cover_in_order(tok, sections, budget):
    parts = []
    for i, (level, body) in enumerate(sections):
        parts.append("#" * level + f" Heading{i}")
        parts.append(_render(body).replace("#", ""))
    text = "\n\n".join(parts)
    chunks = chunk_parsed(parse_bytes(text.encode(), Path("t.md")), tok, budget, 10)
    _check_cover(text, chunks, budget, tok)
    for c in chunks:  # a chunk that starts with a heading carries that heading's path
        first = c.text.split("\n")[0]
        if first.startswith("#"):
            assert c.heading.endswith(first.lstrip("# ").strip())


def test_markdown_sections_start_new_chunks(tok):
    body = " ".join(f"word{i}" for i in range(30))  # 60 tokens: the whole is over 64
    md = f"# Title\n\n{body}\n\n## Install\n\nRun pip.\n\n## Usage\n\nCall it.\n"
    chunks = chunk_parsed(parse_bytes(md.encode(), Path("r.md")), tok, 64, 10)
    assert [c.heading for c in chunks] == ["Title", "Title > Install"]
    install = chunks[1]
    assert install.text.startswith("## Install") and "## Usage" in install.text
    assert (install.start_line, install.end_line) == (5, 11)
    assert install.embed_text.startswith("Title > Install\n\n## Install")


def test_code_chunks_follow_definitions(tok):
    funcs = "\n\n".join(
        f"def func{i}(x):\n    "
        + "\n    ".join(f"y{i}_{j} = x + {j}" for j in range(12))
        + "\n    return x"
        for i in range(3)
    )
    chunks = chunk_parsed(parse_bytes(funcs.encode(), Path("m.py")), tok, 120, 20)
    assert [c.heading for c in chunks] == ["def func0(x)", "def func1(x)", "def func2(x)"]
    assert all(c.text.startswith("def func") for c in chunks)
    assert [c.start_line for c in chunks] == [1, 16, 31]


def test_a_code_chunk_keeps_its_first_lines_indentation(tok):
    """A method's chunk reads as it does in the file: ``def`` at its own indentation, not at
    column 0 above a body at 8 (the model took the next method for a nested one)."""
    methods = "\n\n".join(
        f"    def method{i}(self, x):\n        "
        + "\n        ".join(f"y{i}_{j} = x + {j}" for j in range(12))
        + "\n        return x"
        for i in range(3)
    )
    src = f'class Thing:\n    """A thing."""\n\n{methods}\n'
    chunks = chunk_parsed(parse_bytes(src.encode(), Path("t.py")), tok, 120, 20)
    lines = src.split("\n")
    later = [c for c in chunks if c.start_line > 1]
    assert later and all(c.text.startswith("    ") for c in later)
    for c in later:  # the first line is the file's line, whole
        assert c.text.split("\n")[0] == lines[c.start_line - 1]
    # prose is cut as before: no chunk of a text file starts with blanks
    text = "\n".join(f"  indented line {i} of a note" for i in range(40))
    assert not any(
        c.text[0].isspace()
        for c in chunk_parsed(parse_bytes(text.encode(), Path("n.txt")), tok, 40)
    )


def test_pdf_pages_are_never_mixed_and_cite_their_page(tok):
    blocks = [Block("one " * 10, page=1), Block("two " * 10, page=2), Block("three", page=2)]
    chunks = chunk_parsed(Parsed("pdf", blocks), tok, 200, 0)
    assert [(c.page, c.start_line) for c in chunks] == [(1, None), (2, None)]
    assert "three" in chunks[1].text


def test_long_headings_are_trimmed_to_fit_the_model(tok):
    heading = " > ".join(f"section{i}" for i in range(200))
    blocks = [Block(" ".join(f"w{i}" for i in range(400)), 1, 1, heading=heading)]
    chunks = chunk_parsed(Parsed("text", blocks), tok, 1000, 0)
    assert chunks and all(c.n_tokens <= tok.max_tokens - 2 for c in chunks)
    for c in chunks:
        assert tok.count_tokens([c.embed_text])[0] <= tok.max_tokens - 2
        assert c.embed_text.startswith("… ") and "section199" in c.embed_text


def test_identical_text_gets_identical_hashes(tok):
    a = chunk_parsed(parse_bytes(b"same words here", Path("a.txt")), tok)
    b = chunk_parsed(parse_bytes(b"same words here", Path("b/c.txt")), tok)
    assert a[0].content_hash == b[0].content_hash
