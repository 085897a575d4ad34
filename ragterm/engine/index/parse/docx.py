"""DOCX: paragraphs and tables in document order; Heading/Title styles give the heading path."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from ragterm.engine.index.parse.blocks import Block, Parsed, ParseFailed
from ragterm.engine.index.parse.markdown import HeadingPath

_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre|título|titolo)\s*(\d)$", re.I)


def _level(style_name: str) -> int:
    if style_name.lower() == "title":
        return 1
    m = _HEADING_STYLE.match(style_name.strip())
    return int(m.group(1)) + 1 if m else 0


# python-docx inflates every part into memory: a small file can expand to gigabytes (a zip bomb).
# The sizes a zip declares bound what zipfile will inflate, so they can be checked first.
MAX_XML_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 512 * 2**20


def _check_sizes(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ParseFailed(f"not a valid DOCX file: {exc}") from None
    xml = sum(i.file_size for i in infos if i.filename.endswith((".xml", ".rels")))
    total = sum(i.file_size for i in infos)
    if xml > MAX_XML_BYTES or total > MAX_TOTAL_BYTES:
        raise ParseFailed(
            f"DOCX expands to {max(xml, total) / 2**20:.0f} MB from {len(data) / 2**20:.1f} MB "
            "(a zip bomb?)"
        )


def parse(data: bytes, path: Path) -> Parsed:
    _check_sizes(data)
    try:
        # lazy: docx loads only when this runs
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ParseFailed("python-docx is not installed") from exc
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ParseFailed(f"not a valid DOCX file: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - lxml and zip errors on bad input vary
        raise ParseFailed(f"not a valid DOCX file: {type(exc).__name__}: {exc}") from None
    title = ""
    try:
        title = document.core_properties.title or ""
    except Exception:  # noqa: BLE001
        title = ""
    headings = HeadingPath()
    blocks: list[Block] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, document)
            text = para.text.strip()
            if not text:
                continue
            style = para.style.name if para.style is not None else ""
            level = _level(style or "")
            if level:
                headings.push(level, text)
                title = title or text
            blocks.append(Block(text, heading=str(headings), level=level, lines_exact=False))
        elif tag == "tbl":
            table = Table(child, document)
            for row in table.rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = " ".join(cell.text.split())
                    if t and (not cells or cells[-1] != t):  # merged cells repeat
                        cells.append(t)
                if cells:
                    blocks.append(
                        Block(" | ".join(cells), heading=str(headings), lines_exact=False)
                    )
    return Parsed("docx", blocks, title=title)
