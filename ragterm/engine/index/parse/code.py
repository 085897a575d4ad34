"""Source code: top-level definitions (and methods) become sections named after them.

A Python section's heading is its signature and the first line of its docstring (methods under
their class), so a chunk reaches the model and the embedder with what names it.

Python goes through ``ast`` (exact ranges, decorators and comments attached); other languages
through their tree-sitter grammar (``code_syntax``: signature and doc comment, methods under their
class); a line pattern for definitions is the fallback when no grammar reads the file.
"""

from __future__ import annotations

import ast
import re

from ragterm.engine.index.parse import code_syntax
from ragterm.engine.index.parse.blocks import Block, Parsed
from ragterm.engine.index.parse.text import paragraphs

_DEF = re.compile(
    r"^(?P<indent>[ \t]{0,4})"
    r"(?:(?:export|default|pub(?:\([\w:]+\))?|public|private|protected|internal|static|final|"
    r"abstract|async|unsafe|extern|inline|virtual|override|open|data|sealed|const|local)\s+)*"
    r"(?P<kw>def|class|function|func|fn|impl|struct|enum|trait|interface|type|module|namespace|"
    r"object|record|protocol|extension|macro_rules!|sub|proc|fun|defmodule|defp?|package)\b"
    r"\s*(?P<name>[\w$.:<>!]*)"
)
_C_FUNC = re.compile(r"^(?:[\w*&:<>,\[\]]+\s+)+\**(?P<name>[A-Za-z_]\w*(?:::\w+)?)\s*\([^;]*$")
_COMMENT = re.compile(r"^\s*(#|//|/\*|\*|--|;|@)")


def _attach_leading(lines: list[str], start: int, floor: int) -> int:
    """Move a definition's start up over the decorators and comments right above it."""
    while start > floor and _COMMENT.match(lines[start - 1]) and lines[start - 1].strip():
        start -= 1
    return start


def _python_name(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    """What a reader needs to name a definition: ``def rule(title, *, style) — Draw a line.``

    The parameter names (no annotations or defaults: the heading stays short) and the first
    line of the docstring. A chunk that starts mid-function still says what it belongs to, and
    the model can name the thing from its summary (``def loop_last(values) — Iterate and
    generate a tuple with a flag for last value.``).
    """
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        head = f"class {node.name}" + (f"({bases})" if bases else "")
    else:
        a = node.args
        names = [x.arg for x in (*a.posonlyargs, *a.args)]
        if names and names[0] in ("self", "cls"):
            names = names[1:]
        if a.vararg:
            names.append(f"*{a.vararg.arg}")
        elif a.kwonlyargs:
            names.append("*")
        names += [x.arg for x in a.kwonlyargs]
        if a.kwarg:
            names.append(f"**{a.kwarg.arg}")
        head = f"def {node.name}({', '.join(names)})"
    doc = ast.get_docstring(node) or ""
    summary = next((x.strip() for x in doc.splitlines() if x.strip()), "")
    if len(summary) > 100:
        summary = summary[:99].rstrip() + "…"
    return f"{head} — {summary}" if summary else head


def _python_sections(text: str, lines: list[str]) -> list[tuple[int, str, int]] | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    out: list[tuple[int, str, int]] = []
    floor = 0

    def start_of(node: ast.AST) -> int:
        decos = [d.lineno for d in getattr(node, "decorator_list", [])]
        return min([node.lineno, *decos]) - 1  # type: ignore[attr-defined]

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            s = _attach_leading(lines, start_of(node), floor)
            out.append((s, _python_name(node), 1))
            floor = (node.end_lineno or node.lineno) if hasattr(node, "end_lineno") else s
            if isinstance(node, ast.ClassDef):
                inner_floor = node.lineno
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        ss = _attach_leading(lines, start_of(sub), inner_floor)
                        out.append((ss, f"class {node.name} > {_python_name(sub)}", 2))
                        inner_floor = sub.end_lineno or sub.lineno
        elif out and out[-1][2] != 0:
            # module-level code after a definition starts its own (unnamed) section
            out.append((_attach_leading(lines, node.lineno - 1, floor), "", 0))
            floor = getattr(node, "end_lineno", None) or node.lineno
    return out


def _generic_sections(lines: list[str], c_like: bool) -> list[tuple[int, str, int]]:
    out: list[tuple[int, str, int]] = []
    floor = 0
    for i, line in enumerate(lines):
        m = _DEF.match(line)
        if m and (m.group("name") or m.group("kw") in ("impl", "module")):
            depth = 1 if not m.group("indent") else 2
            heading = f"{m.group('kw')} {m.group('name')}".strip()
            if depth == 2 and out and out[-1][2] >= 1:
                parent = out[-1][1].split(" > ")[0]
                heading = f"{parent} > {heading}"
            out.append((_attach_leading(lines, i, floor), heading, depth))
            floor = i + 1
            continue
        if c_like and not line[:1].isspace():
            fm = _C_FUNC.match(line)
            if fm and not line.rstrip().endswith(";") and fm.group("name") not in _NOT_FUNCS:
                out.append((_attach_leading(lines, i, floor), f"{fm.group('name')}()", 1))
                floor = i + 1
    return out


_NOT_FUNCS = frozenset({"if", "for", "while", "switch", "return", "sizeof", "else", "case"})
_C_LIKE = frozenset({"c", "cpp", "java", "csharp", "kotlin", "scala", "swift", "objc", "dart"})


def parse_text(text: str, language: str = "") -> Parsed:
    lines = text.split("\n")
    if language == "python":
        sections = _python_sections(text, lines)
    else:
        found = code_syntax.sections(text, language)
        sections = [(_attach_leading(lines, s, 0), h, d) for s, h, d in found] if found else None
    if sections is None:
        sections = _generic_sections(lines, language in _C_LIKE)
    sections = sorted({s[0]: s for s in sections}.values())  # one section per start line
    starts = [(0, "", 0)] + [s for s in sections if s[0] > 0]
    if sections and sections[0][0] == 0:
        starts[0] = sections[0]
    blocks: list[Block] = []
    for n, (start, heading, depth) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        part = paragraphs(lines[start:end], start + 1, heading)
        if part and depth:
            part[0].level = depth
        blocks.extend(part)
    return Parsed("code", blocks, language=language)
