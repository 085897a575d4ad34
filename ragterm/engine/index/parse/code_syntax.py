"""Definitions in source code other than Python, found by a real parser (tree-sitter).

A line pattern cannot tell a method from a call that spans lines, or a C function from a
declaration; the grammar can. Each definition becomes a section named by its signature (the
text up to its body) and the first line of the comment above it, with methods under their class
(``class Server > func (s *Server) Serve(l net.Listener) error — Serve accepts connections.``).

``tree-sitter-language-pack`` < 1.0 ships its grammars prebuilt in the wheel (1.x downloads them
at run time, which an offline app cannot do). Without it, or for a language it does not know,
``sections`` returns None and the caller falls back to line patterns.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# ragterm's language names (parse.CODE_EXT) -> tree-sitter-language-pack's
_GRAMMAR = {"shell": "bash", "typescript": "tsx"}

# nodes that are definitions a reader names: functions, methods, types, modules
_FUNCS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_definition",
        "function_item",
        "function_signature_item",
        "method_definition",
        "method_declaration",
        "constructor_declaration",
        "method",
        "singleton_method",
        "function_statement",  # lua
        "local_function_statement",
        "func_literal_declaration",
    }
)
_TYPES = frozenset(
    {
        "class_declaration",
        "abstract_class_declaration",
        "class_definition",
        "class_specifier",
        "struct_specifier",
        "struct_item",
        "enum_item",
        "enum_declaration",
        "enum_specifier",
        "union_item",
        "trait_item",
        "impl_item",
        "mod_item",
        "interface_declaration",
        "type_declaration",
        "type_alias_declaration",
        "record_declaration",
        "protocol_declaration",
        "object_declaration",
        "object_definition",
        "trait_definition",
        "trait_declaration",
        "namespace_definition",
        "namespace_declaration",
        "module",
        "class",
    }
)
# nodes looked through to find definitions (bodies, exports, preprocessor blocks)
_THROUGH = re.compile(
    r"(body|declaration_list|^export_statement$|^preproc_|^template_declaration$|"
    r"^linkage_specification$|^program$|^source_file$|^translation_unit$|^compilation_unit$|"
    r"^chunk$|^block$|^statement_block$|^namespace_body$|^class_body$|^enum_class_body$)"
)
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function"})
_WRAPPERS = frozenset({"export_statement", "template_declaration", "decorated_definition"})
_BODY = re.compile(r"body|block|declaration_list|compound_statement")
_COMMENT_START = re.compile(r"^(#|//|/\*|\*|--)")
_TAG = re.compile(r"<[^>]+>")
_COMMENT_MARK = re.compile(r"^\s*(/\*\*?|\*/|\*|///?|//!|#+|--+|;+)\s?")
_MAX_HEAD = 110


@cache
def _parser(language: str) -> Any | None:
    try:
        # lazy: imported here: ~30 ms and only needed when a folder holds such code
        from tree_sitter_language_pack import get_parser
    except ImportError:
        return None
    try:
        return get_parser(_GRAMMAR.get(language, language))  # type: ignore[arg-type]
    except Exception:  # an unknown language or a grammar that does not load
        return None


def available(language: str) -> bool:
    return bool(language) and language != "python" and _parser(language) is not None


def _signature(node: Any, src: bytes) -> str:
    """The definition's text up to its body: ``func (s *Server) Serve(l net.Listener) error``."""
    body = node.child_by_field_name("body")
    if body is None and node.type in ("lexical_declaration", "variable_declaration"):
        for decl in node.named_children:
            value = decl.child_by_field_name("value")
            if value is not None and value.child_by_field_name("body") is not None:
                body = value.child_by_field_name("body")
    if body is None:
        body = next((c for c in node.named_children if _BODY.search(c.type)), None)
    end = body.start_byte if body is not None else node.end_byte
    text = src[node.start_byte : end].decode("utf-8", "replace")
    if body is None and "{" in text:
        text = text[: text.index("{")]
    lines = [x.strip() for x in text.splitlines()[:4] if x.strip()]
    lines = lines[:1] + [x for x in lines[1:] if not _COMMENT_START.match(x)]
    # skip annotations/attributes written on their own lines above the signature
    while len(lines) > 1 and lines[0].startswith(("@", "#[", "[")):
        lines.pop(0)
    head = " ".join(" ".join(lines).split()).rstrip("{:= ").strip()
    if head.endswith("=>"):  # an arrow function's parameters
        head = head[:-2].rstrip()
    if head.endswith(" end"):  # a one-line Lua/Ruby definition
        head = head[:-4]
    if len(head) > _MAX_HEAD:
        head = head[: _MAX_HEAD - 1].rstrip() + "…"
    return head


def _doc(node: Any, src: bytes) -> str:
    """The first line of the comment right above a definition (its doc comment)."""
    if node.parent is not None and node.parent.type in _WRAPPERS:
        node = node.parent  # the comment sits above `export class …`, `template <…> …`
    prev = node.prev_sibling
    if prev is None or "comment" not in prev.type or prev.end_point[0] < node.start_point[0] - 1:
        return ""
    first = prev
    while (
        first.prev_sibling is not None
        and "comment" in first.prev_sibling.type
        and first.prev_sibling.end_point[0] >= first.start_point[0] - 1
    ):
        first = first.prev_sibling
    text = src[first.start_byte : prev.end_byte].decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith("#!"):  # a shebang is not documentation
            continue
        line = _TAG.sub("", _COMMENT_MARK.sub("", line)).strip().rstrip("*/").strip()
        if line:
            return line[:99].rstrip() + "…" if len(line) > 100 else line
    return ""


def _arrow_name(node: Any, src: bytes) -> bool:
    """``const run = async (x) => …``: a JS/TS function defined as a variable."""
    if node.type not in ("lexical_declaration", "variable_declaration"):
        return False
    for decl in node.named_children:
        value = decl.child_by_field_name("value") if decl.type == "variable_declarator" else None
        if value is not None and value.type in _FUNCTION_VALUES:
            return True
    return False


def sections(text: str, language: str) -> list[tuple[int, str, int]] | None:
    """(start line, heading, depth) per definition, or None when no grammar can read it."""
    parser = _parser(language) if language and language != "python" else None
    if parser is None:
        return None
    src = text.encode("utf-8", "surrogatepass")
    try:
        tree = parser.parse(src)
    except Exception:
        return None
    out: list[tuple[int, str, int]] = []

    def visit(node: Any, parent: str, depth: int, hops: int) -> None:
        for child in node.named_children:
            is_def = child.type in _FUNCS or child.type in _TYPES or _arrow_name(child, src)
            if is_def:
                head = _signature(child, src)
                if not head:
                    continue
                doc = _doc(child, src)
                heading = f"{head} — {doc}" if doc else head
                if parent:
                    heading = f"{parent} > {heading}"
                out.append((child.start_point[0], heading, depth))
                # members of a type (not the insides of a function) get their own sections
                if child.type in _TYPES and depth < 3:
                    visit(child, head, depth + 1, 0)
            elif hops < 6 and _THROUGH.search(child.type):
                visit(child, parent, depth, hops + 1)

    visit(tree.root_node, "", 1, 0)
    return out
