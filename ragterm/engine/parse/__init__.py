"""File bytes -> a list of text blocks with their place in the file.

One module per file kind; each exposes ``parse(data: bytes, path: Path) -> Parsed``. Parsers are
pure functions: they never touch the database or the embedding model. A block keeps its source
line range (text formats) or page (PDF) and the heading path it sits under, so every chunk built
from it can cite where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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


MARKDOWN_EXT = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mdx"})
RST_EXT = frozenset({".rst", ".rest"})
HTML_EXT = frozenset({".html", ".htm", ".xhtml"})
CODE_EXT = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".m": "objc",
    ".lua": "lua",
    ".r": "r",
    ".jl": "julia",
    ".pl": "perl",
    ".pm": "perl",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".fish": "shell",
    ".ps1": "powershell",
    ".sql": "sql",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".clj": "clojure",
    ".dart": "dart",
    ".vue": "vue",
    ".svelte": "svelte",
    ".el": "elisp",
    ".vim": "vim",
    ".zig": "zig",
    ".nim": "nim",
}


def kind_of(path: Path) -> str:
    """The parser a file goes to, from its name (content decides binary-or-not, in the walk)."""
    ext = path.suffix.lower()
    if ext in MARKDOWN_EXT:
        return "markdown"
    if ext in RST_EXT:
        return "rst"
    if ext in HTML_EXT:
        return "html"
    if ext == ".pdf":
        return "pdf"
    if ext == ".docx":
        return "docx"
    if ext in CODE_EXT:
        return "code"
    return "text"


def parse_bytes(data: bytes, path: Path, kind: str | None = None) -> Parsed:
    """Parse a file's bytes by kind; raises SkipFile or ParseFailed with a reason."""
    kind = kind or kind_of(path)
    if kind == "pdf":
        from ragterm.engine.parse import pdf

        parsed = pdf.parse(data, path)
    elif kind == "docx":
        from ragterm.engine.parse import docx

        parsed = docx.parse(data, path)
    else:
        from ragterm.engine.parse import text as textmod

        decoded = textmod.decode(data)
        if kind == "markdown":
            from ragterm.engine.parse import markdown

            parsed = markdown.parse_text(decoded)
        elif kind == "rst":
            from ragterm.engine.parse import rst

            parsed = rst.parse_text(decoded)
        elif kind == "html":
            from ragterm.engine.parse import html

            parsed = html.parse_text(decoded)
        elif kind == "code":
            from ragterm.engine.parse import code

            parsed = code.parse_text(decoded, CODE_EXT.get(path.suffix.lower(), ""))
        else:
            parsed = textmod.parse_text(decoded)
    if not any(b.text.strip() for b in parsed.blocks):
        raise SkipFile("no text" if data.strip() else "empty file")
    return parsed
