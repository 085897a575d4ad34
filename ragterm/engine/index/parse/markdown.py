"""Markdown: ATX and setext headings give the heading path; fenced code stays one block."""

from __future__ import annotations

import re

from ragterm.engine.index.parse.blocks import Block, Parsed
from ragterm.engine.index.parse.text import paragraphs

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


class HeadingPath:
    """The stack of headings above the current line."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))

    def __str__(self) -> str:
        return " > ".join(t for _, t in self.stack if t)


def parse_text(text: str) -> Parsed:
    lines = text.split("\n")
    blocks: list[Block] = []
    path = HeadingPath()
    title = ""
    pending: list[str] = []  # prose lines since the last structural element
    pending_start = 0
    i = 0

    def flush(end: int) -> None:
        nonlocal pending
        if pending:
            blocks.extend(paragraphs(pending, pending_start + 1, str(path)))
        pending = []

    # YAML front matter is metadata, not prose: keep it as one block
    if lines and lines[0].strip() == "---":
        for j in range(1, min(len(lines), 200)):
            if lines[j].strip() in ("---", "..."):
                blocks.append(Block("\n".join(lines[: j + 1]), 1, j + 1))
                i = j + 1
                break
    pending_start = i
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush(i)
            marker = fence.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith(marker):
                j += 1
            end = min(j, len(lines) - 1)
            blocks.append(Block("\n".join(lines[i : end + 1]), i + 1, end + 1, heading=str(path)))
            i = end + 1
            pending_start = i
            continue
        atx = _ATX.match(line)
        setext = (
            not atx
            and i + 1 < len(lines)
            and bool(line.strip())
            and (not pending or not pending[-1].strip())  # a one-line paragraph only
            and _SETEXT.match(lines[i + 1]) is not None
            and not line.lstrip().startswith(("-", "*", "+", ">", "|"))
        )
        if atx or setext:
            if atx:
                level, heading, span = len(atx.group(1)), (atx.group(2) or "").strip(), 1
            else:
                level = 1 if lines[i + 1].strip().startswith("=") else 2
                heading, span = line.strip(), 2
            flush(i)
            path.push(level, heading)
            if level == 1 and not title:
                title = heading
            blocks.append(
                Block(
                    "\n".join(lines[i : i + span]), i + 1, i + span, heading=str(path), level=level
                )  # fmt: skip
            )
            i += span
            pending_start = i
            continue
        if not pending:
            pending_start = i
        pending.append(line)
        i += 1
    flush(len(lines))
    return Parsed("markdown", blocks, title=title)
