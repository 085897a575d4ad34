"""File bytes -> a list of text blocks with their place in the file.

One module per file kind; each exposes ``parse(data: bytes, path: Path) -> Parsed`` (or
``parse_text(text)``) and builds the types of ``blocks``. A new file kind: a module here, its
extensions in ``kind_of`` and a branch in ``parse_bytes``. Parsers are
pure functions: they never touch the database or the embedding model. A block keeps its source
line range (text formats) or page (PDF) and the heading path it sits under, so every chunk built
from it can cite where it came from.
"""

from __future__ import annotations

from pathlib import Path

from ragterm.engine.index.parse import code, docx, markdown, pdf, rst
from ragterm.engine.index.parse import text as textmod
from ragterm.engine.index.parse.blocks import Block, Parsed, ParseFailed, SkipFile

__all__ = ["Block", "Parsed", "ParseFailed", "SkipFile", "kind_of", "parse_bytes"]


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
        parsed = pdf.parse(data, path)
    elif kind == "docx":
        parsed = docx.parse(data, path)
    else:
        decoded = textmod.decode(data)
        if kind == "markdown":
            parsed = markdown.parse_text(decoded)
        elif kind == "rst":
            parsed = rst.parse_text(decoded)
        elif kind == "html":
            from ragterm.engine.index.parse import html  # lazy: bs4 takes ~60 ms to import

            parsed = html.parse_text(decoded)
        elif kind == "code":
            parsed = code.parse_text(decoded, CODE_EXT.get(path.suffix.lower(), ""))
        else:
            parsed = textmod.parse_text(decoded)
    if not any(b.text.strip() for b in parsed.blocks):
        raise SkipFile("no text" if data.strip() else "empty file")
    return parsed
