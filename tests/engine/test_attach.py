"""Attached files (engine.attach) with the real bundled model, parsers and embedding model."""

from __future__ import annotations

import pytest

from ragterm import config
from ragterm.engine.answer import attached_files
from ragterm.engine.answer.conversation import Conversation
from ragterm.engine.events import Done, Retrieved, Trimmed
from ragterm.engine.retrieve.hybrid_search import has_index
from ragterm.errors import RagtermError
from ragterm.store.db import connect
from tests.engine.test_parse import make_docx, make_pdf


@pytest.fixture
def model(bundled_llama):
    """The session's bundled model (tests/engine/conftest.py)."""
    return bundled_llama


@pytest.fixture
def cfg(monkeypatch):
    monkeypatch.setenv("RAGTERM_CHAT__TEMPERATURE", "0")
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "16")
    monkeypatch.setenv("RAGTERM_CHAT__SEED", "1")
    return config.load()


@pytest.fixture
def conv(model, cfg):
    return Conversation(model, connect(), cfg)


def long_notes(tmp_path, fact_at: int = 30):
    """A Markdown file far longer than a 1024-token context, one section holding a fact."""
    parts = []
    for n in range(1, 60):
        body = (
            "The hangar door code for the zeppelin is 7781."
            if n == fact_at
            else f"Routine maintenance log entry {n}: checked the ropes, oiled the winches, "
            "swept the floor and signed the sheet."
        )
        parts.append(f"## Section {n}\n\n{body}\n")
    p = tmp_path / "hangar.md"
    p.write_text("# Hangar handbook\n\n" + "\n".join(parts))
    return p


def test_a_file_that_fits_goes_in_whole_cited_by_line_and_is_not_indexed(conv, tmp_path):
    notes = tmp_path / "office.txt"
    lines = [f"Line {i}: the kettle is descaled on day {i}." for i in range(1, 9)]
    lines[5] = "The office wifi password is tangerine-42."
    notes.write_text("\n".join(lines) + "\n")
    fitted = attached_files.fit(
        [attached_files.load(notes, cwd=tmp_path)], "What is the wifi password?", conv
    )
    assert [f.whole for f in fitted.files] == [True] and fitted.notes == []
    events = list(conv.send("What is the wifi password?", hits=fitted.hits))
    done = events[-1]
    assert isinstance(done, Done) and done.status == "ok"
    assert [h.citation() for h in done.sources] == ["office.txt:1-8"]
    assert done.sources[0].attached and done.grounding == "sources"
    # every line went to the model (retrieved chunks are cut to their best lines; files are not)
    sent = conv.history()[-2]["content"]
    assert all(line in sent for line in lines)
    assert [e.citation() for e in done.evidence][:1] == ["office.txt:6"]
    assert "tangerine-42" in done.evidence[0].text
    assert not has_index(conv.conn)  # attaching indexes nothing


def test_a_long_file_sends_its_own_chunks_best_for_the_question_first(conv, tmp_path):
    f = attached_files.load(long_notes(tmp_path), cwd=tmp_path)
    question = "What is the hangar door code of the zeppelin?"
    fitted = attached_files.fit([f], question, conv)
    (fit,) = fitted.files
    assert not fit.whole and fit.by == "question" and 0 < fit.share < 0.6
    assert 0 < fit.parts < fit.parts_total
    assert "7781" in fitted.hits[0].text and fitted.hits[0].citation().startswith("hangar.md:")
    assert fitted.notes == [
        f"hangar.md is too long for the context window: sent the parts most related to the "
        f"question, {fit.parts} of {fit.parts_total} parts ({100 * fit.share:.0f}% of the file)"
    ]
    events = list(conv.send(question, hits=fitted.hits))
    retrieved = next(e for e in events if isinstance(e, Retrieved))
    assert len(retrieved.hits) == fit.parts  # all of it fits: nothing is dropped later
    assert not [e for e in events if isinstance(e, Trimmed)]


def test_a_question_that_names_nothing_in_the_file_gets_its_beginning(conv, tmp_path):
    f = attached_files.load(long_notes(tmp_path), cwd=tmp_path)
    fitted = attached_files.fit([f], "Summarise this document", conv)
    assert fitted.files[0].by == "start"
    assert fitted.hits[0].start_line == 1 and "Hangar handbook" in fitted.hits[0].text
    assert "its beginning (the question names nothing in it)" in fitted.notes[0]


def test_small_files_go_whole_beside_a_long_one(conv, tmp_path):
    small = tmp_path / "small.md"
    small.write_text("# Keys\n\nThe spare key is under the blue pot.\n")
    files = [
        attached_files.load(long_notes(tmp_path), cwd=tmp_path),
        attached_files.load(small, cwd=tmp_path),
    ]
    fitted = attached_files.fit(files, "Where is the spare key and the door code?", conv)
    assert [(f.name, f.whole) for f in fitted.files] == [("hangar.md", False), ("small.md", True)]
    assert fitted.hits[0].rel_path == "small.md"  # whole files first, then the chunks
    assert len({h.chunk_id for h in fitted.hits}) == len(fitted.hits)


def test_pdf_docx_and_html_go_through_the_index_parsers(conv, tmp_path):
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(make_pdf([["Results are on page one."], ["Methods are on page two."]]))
    docx = tmp_path / "memo.docx"
    docx.write_bytes(make_docx([("Heading 1", "Memo"), ("Normal", "Lunch moves to noon.")]))
    html = tmp_path / "page.html"
    html.write_text(
        "<html><body><nav>Home | About</nav><main><h1>Guide</h1>"
        "<p>Press the red button twice.</p></main></body></html>"
    )
    files = [attached_files.load(p, cwd=tmp_path) for p in (pdf, docx, html)]
    fitted = attached_files.fit(files, "What do these say?", conv)
    cites = [h.citation() for h in fitted.hits]
    assert "paper.pdf#page=1" in cites and "paper.pdf#page=2" in cites
    by_name = {h.rel_path: h.text for h in fitted.hits}
    assert "Lunch moves to noon." in by_name["memo.docx"]
    assert "Press the red button twice." in by_name["page.html"]
    assert "Home | About" not in by_name["page.html"]  # the same main-content rule as indexing


def test_files_that_cannot_be_attached_say_why_in_one_line(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary\x00")
    (tmp_path / "big.txt").write_text("word " * 1000)
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\nnot really")
    cases = {
        "missing.txt": "missing.txt: no such file",
        "folder": "is a folder, not a file",
        "empty.txt": "empty.txt: nothing to read (empty file)",
        "blob.bin": "blob.bin is a binary file, not a document",
        "bad.pdf": "bad.pdf cannot be read as pdf",
    }
    for name, message in cases.items():
        with pytest.raises(RagtermError) as err:
            attached_files.load(tmp_path / name)
        assert message in err.value.message and "\n" not in err.value.message
    with pytest.raises(RagtermError, match=r"big.txt is too large"):
        attached_files.load(tmp_path / "big.txt", max_mb=0.001)
