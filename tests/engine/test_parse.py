"""Every supported kind of file becomes blocks that know their heading path and line or page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ragterm.engine.index.parse import ParseFailed, SkipFile, code, kind_of, parse_bytes


def make_pdf(pages: list[list[str]]) -> bytes:
    """A small real PDF with a text layer: one list of lines per page (empty list: no text)."""
    objects: list[bytes] = []
    n = len(pages)
    font_id = 3 + 2 * n
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    for i, lines in enumerate(pages):
        ops = ["BT /F1 12 Tf 14 TL 72 720 Td"]
        for line in lines:
            esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1") if lines else b""
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{num} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def make_docx(parts: list[tuple[str, str]]) -> bytes:
    """A real DOCX: ("h1"/"h2"/"p"/"table", text) parts in order (table cells split by '|')."""
    import docx

    d = docx.Document()
    for kind, text in parts:
        if kind.startswith("h"):
            d.add_heading(text, int(kind[1]))
        elif kind == "table":
            rows = [r.split("|") for r in text.split("\n")]
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    t.cell(r, c).text = cell
        else:
            d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_kinds_by_extension() -> None:
    assert kind_of(Path("a.MD")) == "markdown"
    assert kind_of(Path("a.rst")) == "rst"
    assert kind_of(Path("a.py")) == "code"
    assert kind_of(Path("a.htm")) == "html"
    assert kind_of(Path("a.pdf")) == "pdf"
    assert kind_of(Path("a.docx")) == "docx"
    assert kind_of(Path("notes")) == "text"


@pytest.mark.parametrize(
    "data",
    [
        "café déjà vu\n\nsecond paragraph".encode(),
        "café déjà vu\n\nsecond paragraph".encode("utf-16"),
        "café déjà vu\n\nsecond paragraph".encode("utf-8-sig"),
        "café déjà vu, naïve façade, à la carte, crème brûlée\n\nsecond paragraph".encode(
            "latin-1"
        ),
        b"caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu\r\n\r\nsecond paragraph",
    ],
)
def test_text_encodings_are_detected(data: bytes) -> None:
    parsed = parse_bytes(data, Path("notes.txt"))
    first, second = parsed.blocks
    assert first.text.startswith("café déjà vu")
    assert (first.start_line, second.start_line, second.text) == (1, 3, "second paragraph")


def test_empty_and_whitespace_files_are_skipped() -> None:
    with pytest.raises(SkipFile, match="empty"):
        parse_bytes(b"", Path("e.txt"))
    with pytest.raises(SkipFile):
        parse_bytes(b"\n\n   \n", Path("e.md"))


def test_markdown_heading_paths_fences_and_front_matter() -> None:
    md = (
        "---\ntitle: x\n---\n# Guide\n\nIntro.\n\n## Install\n\n```sh\n# not a heading\n\npip"
        " install x\n```\n\nSetext\n------\n\nBody.\n"
    )
    parsed = parse_bytes(md.encode(), Path("g.md"))
    by_text = {b.text.split("\n")[0]: b for b in parsed.blocks}
    assert parsed.title == "Guide"
    assert by_text["Intro."].heading == "Guide"
    fence = by_text["```sh"]
    assert fence.heading == "Guide > Install" and "# not a heading" in fence.text
    assert (fence.start_line, fence.end_line) == (10, 14)
    assert by_text["Body."].heading == "Guide > Setext"
    assert by_text["## Install"].level == 2


def test_rst_titles_by_adornment_order() -> None:
    rst = "=====\nTitle\n=====\n\nIntro.\n\nPart A\n------\n\nText A.\n\nDeep\n~~~~\n\nDeep text.\n"
    parsed = parse_bytes(rst.encode(), Path("doc.rst"))
    heads = {b.text.split("\n")[-1]: b.heading for b in parsed.blocks if not b.level}
    assert heads == {
        "Intro.": "Title",
        "Text A.": "Title > Part A",
        "Deep text.": "Title > Part A > Deep",
    }


def test_python_definitions_become_sections_with_decorators() -> None:
    src = (
        "import os\n\n\n# helper comment\n@decorator\ndef helper(x):\n    return x\n\n\n"
        "class Store:\n    def get(self):\n        return 1\n\n    def put(self, key, *, value):\n"
        '        """Keep value under key.\n\n        Overwrites.\n        """\n'
    )
    parsed = parse_bytes(src.encode(), Path("m.py"))
    starts = {b.heading: (b.start_line, b.level) for b in parsed.blocks if b.level}
    # each definition is named by its signature and its docstring's first line, under its class
    assert starts == {
        "def helper(x)": (4, 1),
        "class Store": (10, 1),
        "class Store > def get()": (11, 2),
        "class Store > def put(key, *, value) — Keep value under key.": (14, 2),
    }


def test_other_languages_are_read_by_their_grammar() -> None:
    go = (
        'package main\n\nimport "fmt"\n\n// Server serves.\n'
        "type Server struct {\n\tAddr string\n}\n\n// Serve accepts connections on l.\n"
        "func (s *Server) Serve(l net.Listener,\n\tn int) error {\n"
        "\tfmt.Println(1)\n\treturn nil\n}\n"
    )
    parsed = parse_bytes(go.encode(), Path("main.go"))
    starts = {b.heading: b.start_line for b in parsed.blocks if b.level}
    # signature (up to the body, on one line) and the first line of the doc comment above it;
    # the comment belongs to the definition's section
    assert starts == {
        "type Server struct — Server serves.": 5,
        "func (s *Server) Serve(l net.Listener, n int) error — Serve accepts connections on l.": 10,
    }
    ts = (
        "import { x } from './x';\n\n/** A calculator. */\nexport class Calc extends Base {\n"
        "  // Divide safely.\n  div(a: number, b: number): number {\n    return a / b;\n  }\n}\n"
        "export const twice = (n: number) => n * 2;\n"
    )
    parsed = parse_bytes(ts.encode(), Path("calc.ts"))
    levels = {b.heading: b.level for b in parsed.blocks if b.level}
    assert levels == {
        "class Calc extends Base — A calculator.": 1,
        "class Calc extends Base > div(a: number, b: number): number — Divide safely.": 2,
        "const twice = (n: number)": 1,
    }
    # a function call that spans lines is not a definition (the old line pattern's mistake)
    c = 'int main(void)\n{\n    printf("%d",\n           1);\n    return 0;\n}\n'
    parsed = parse_bytes(c.encode(), Path("m.c"))
    assert {b.heading for b in parsed.blocks if b.level} == {"int main(void)"}


def test_languages_without_a_grammar_and_broken_python_use_the_line_pattern() -> None:
    broken = "def ok():\n    pass\n\ndef broken(:\n    pass\n"
    parsed = parse_bytes(broken.encode(), Path("bad.py"))
    assert {b.heading for b in parsed.blocks if b.level} == {"def ok", "def broken"}
    # a language with no grammar: sections come from the line pattern
    assert code.parse_text("fn helper(x) {\n}\n", "nolang").blocks[0].heading == "fn helper"


def test_html_keeps_main_content_and_drops_chrome() -> None:
    html = """<html><head><title>Page</title><style>.x{}</style></head><body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<header class="site-header">Site banner</header>
<main>
<h1>Widgets<a class="headerlink" href="#w">¶</a></h1>
<p>Widgets are <b>small</b> things.</p>
<script>var tracking = 1;</script>
<h2>Sizes</h2>
<table><tr><th>name</th><th>mm</th></tr><tr><td>tiny</td><td>3</td></tr></table>
<pre>code  keeps
   its spacing</pre>
</main>
<footer>© 2024 cookie notice</footer>
</body></html>"""
    parsed = parse_bytes(html.encode(), Path("w.html"))
    texts = [b.text for b in parsed.blocks]
    joined = "\n".join(texts)
    for junk in ("Home", "Site banner", "tracking", "cookie", "¶", ".x{}"):
        assert junk not in joined
    assert "Widgets are small things." in texts
    assert "tiny | 3" in texts
    assert "code  keeps\n   its spacing" in texts
    sizes = next(b for b in parsed.blocks if b.text == "tiny | 3")
    assert sizes.heading == "Widgets > Sizes" and sizes.start_line == 9
    assert parsed.title == "Page"


def test_pdf_pages_keep_their_numbers() -> None:
    data = make_pdf([["First page text.", "More on page one."], [], ["Third page here."]])
    parsed = parse_bytes(data, Path("paper.pdf"))
    assert [(b.page, b.text.split("\n")[0]) for b in parsed.blocks] == [
        (1, "First page text."),
        (3, "Third page here."),
    ]


def test_pdf_without_text_layer_encrypted_or_malformed() -> None:
    with pytest.raises(SkipFile, match="no text layer"):
        parse_bytes(make_pdf([[], []]), Path("scan.pdf"))
    with pytest.raises(ParseFailed, match="malformed PDF"):
        parse_bytes(b"%PDF-1.4\nthis is not really a pdf", Path("bad.pdf"))
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["secret text"]]))))
    writer.encrypt("hunter2")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(SkipFile, match="encrypted"):
        parse_bytes(buf.getvalue(), Path("locked.pdf"))


def test_docx_headings_paragraphs_and_tables() -> None:
    data = make_docx(
        [("h1", "Report"), ("p", "Summary text."), ("h2", "Numbers"), ("table", "a|b\nc|d")]
    )
    parsed = parse_bytes(data, Path("r.docx"))
    got = [(b.text, b.heading) for b in parsed.blocks if not b.level]
    assert got == [
        ("Summary text.", "Report"),
        ("a | b", "Report > Numbers"),
        ("c | d", "Report > Numbers"),
    ]
    with pytest.raises(ParseFailed, match="not a valid DOCX"):
        parse_bytes(b"PK\x03\x04 broken zip", Path("bad.docx"))
