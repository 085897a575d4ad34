"""Plain text: encoding detection and paragraph blocks."""

from __future__ import annotations

import codecs

from ragterm.engine.index.parse.blocks import Block, Parsed, ParseFailed

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode(data: bytes) -> str:
    """Bytes -> str with ``\\n`` line ends: BOM, then UTF-8, then charset-normalizer's guess."""
    text: str | None = None
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(enc)
            except UnicodeDecodeError:
                text = None
            break
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _guess(data)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\0", "")


def _guess(data: bytes) -> str:
    """charset-normalizer's pick, except that Windows-1252 wins near-ties: on short Western
    text the detector often prefers a Baltic or Central European code page by a hair."""
    # lazy: charset_normalizer loads only when this runs
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise ParseFailed("cannot detect the text encoding (not text?)")
    best = matches[0]
    for m in matches:
        if m.encoding == "cp1252" and m.chaos <= best.chaos + 0.1:
            return str(m)
    return str(best)


def paragraphs(lines: list[str], first_line: int = 1, heading: str = "") -> list[Block]:
    """Runs of non-blank lines, each a block with its exact line range."""
    blocks: list[Block] = []
    start: int | None = None
    for i, line in enumerate(lines):
        if line.strip():
            if start is None:
                start = i
        elif start is not None:
            blocks.append(_block(lines, start, i, first_line, heading))
            start = None
    if start is not None:
        blocks.append(_block(lines, start, len(lines), first_line, heading))
    return blocks


def _block(lines: list[str], a: int, b: int, first_line: int, heading: str) -> Block:
    return Block(
        "\n".join(lines[a:b]),
        start_line=first_line + a,
        end_line=first_line + b - 1,
        heading=heading,
    )


def parse_text(text: str) -> Parsed:
    return Parsed("text", paragraphs(text.split("\n")))
