"""reStructuredText: section titles (under- and overlined) give the heading path."""

from __future__ import annotations

import re

from ragterm.engine.index.parse.blocks import Block, Parsed
from ragterm.engine.index.parse.markdown import HeadingPath
from ragterm.engine.index.parse.text import paragraphs

_ADORN = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}\s*$")


def _adornment(line: str) -> str | None:
    m = _ADORN.match(line)
    return m.group(1) if m else None


def parse_text(text: str) -> Parsed:
    lines = text.split("\n")
    blocks: list[Block] = []
    path = HeadingPath()
    styles: list[tuple[str, bool]] = []  # title styles in order of first use = their levels
    title = ""
    pending: list[str] = []
    pending_start = 0
    i = 0

    def flush() -> None:
        nonlocal pending
        if pending:
            blocks.extend(paragraphs(pending, pending_start + 1, str(path)))
        pending = []

    while i < len(lines):
        line = lines[i]
        heading: tuple[str, str, bool, int] | None = None  # text, char, overline, span
        over = _adornment(line)
        if (
            over
            and i + 2 < len(lines)
            and lines[i + 1].strip()
            and _adornment(lines[i + 2]) == over
            and not _adornment(lines[i + 1])
        ):
            heading = (lines[i + 1].strip(), over, True, 3)
        elif (
            line.strip()
            and not line[0].isspace()
            and i + 1 < len(lines)
            and (not pending or not pending[-1].strip())
            and not _adornment(line)
        ):
            under = _adornment(lines[i + 1])
            if under and len(lines[i + 1].rstrip()) >= len(line.rstrip()):
                heading = (line.strip(), under, False, 2)
        if heading:
            text_, char, overline, span = heading
            flush()
            style = (char, overline)
            if style not in styles:
                styles.append(style)
            level = styles.index(style) + 1
            path.push(level, text_)
            if not title:
                title = text_
            blocks.append(
                Block(
                    "\n".join(lines[i : i + span]), i + 1, i + span, heading=str(path), level=level
                )  # fmt: skip
            )
            i += span
            continue
        if not pending:
            pending_start = i
        pending.append(line)
        i += 1
    flush()
    return Parsed("rst", blocks, title=title)
