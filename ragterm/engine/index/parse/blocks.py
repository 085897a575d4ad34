"""What every parser returns: the file's text as blocks with their place in it, or why not."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Block:
    """A paragraph-like piece of a document.

    ``lines_exact``: the block's text has exactly the source's line breaks, so a line inside the
    block can be cited precisely; otherwise (HTML, DOCX) only the block's own range is known.
    """

    text: str
    start_line: int | None = None  # 1-based, in the source file
    end_line: int | None = None
    page: int | None = None  # 1-based
    heading: str = ""  # heading path in force, "Guide > Install > Linux"
    level: int = 0  # > 0: this block is itself a heading of that level
    lines_exact: bool = True
    in_term: bool = False  # inside an HTML definition (a dl's dt and dd), not after it


@dataclass
class Parsed:
    kind: str  # text | markdown | rst | code | html | pdf | docx
    blocks: list[Block] = field(default_factory=list)
    title: str = ""
    language: str = ""  # for code


class SkipFile(Exception):
    """The file is fine but has nothing to index (empty, scanned PDF...): a report line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ParseFailed(Exception):
    """The file is broken or cannot be read as its kind (malformed PDF, bad DOCX...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
