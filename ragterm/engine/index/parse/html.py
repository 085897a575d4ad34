"""HTML: the page's main content as blocks under their heading path.

Navigation, headers, footers, sidebars, scripts, styles and forms are dropped. Parsed with the
stdlib-backed ``html.parser`` because it records each tag's source line, so hits cite lines of the
HTML file itself.
"""

from __future__ import annotations

import re
from typing import Any

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from ragterm.engine.index.parse.blocks import Block, Parsed, ParseFailed
from ragterm.engine.index.parse.markdown import HeadingPath

DROP = frozenset(
    {
        "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
        "button", "select", "input", "textarea", "iframe", "object", "embed", "svg", "canvas",
        "head", "title", "meta", "link", "dialog", "menu",
    }
)  # fmt: skip
BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "pre",
        "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "blockquote", "figure",
        "figcaption", "details", "summary", "address", "hr", "br", "body", "html", "center",
    }
)  # fmt: skip
SOFT_HEADING = 7  # a block that starts something (dt) without being a titled section
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACE = re.compile(r"\s+")
# Boilerplate by role or class name: skip-links, cookie banners, breadcrumbs, permalinks.
_JUNK_CLASS = re.compile(
    r"(^|[-_ ])(nav|navbar|navigation|menu|sidebar|breadcrumbs?|footer|header|cookie|banner|"
    r"skip-link|headerlink|toc|related)($|[-_ ])",
    re.I,
)
_JUNK_ROLE = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})


def _is_junk(tag: Tag) -> bool:
    if tag.name in DROP:
        return True
    attrs = tag.attrs or {}
    if attrs.get("role") in _JUNK_ROLE or attrs.get("aria-hidden") == "true":
        return True
    if "hidden" in attrs:
        return True
    classes: Any = attrs.get("class") or []
    ident = " ".join(classes) if isinstance(classes, list) else str(classes)
    return bool(ident and _JUNK_CLASS.search(ident))


def _main(soup: BeautifulSoup) -> Tag:
    for finder in (
        lambda: soup.find("main"),
        lambda: soup.find(None, {"role": "main"}),
        lambda: soup.find("article"),
    ):
        found = finder()
        if isinstance(found, Tag):
            return found
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


class _Emitter:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.path = HeadingPath()
        self.buf: list[str] = []
        self.first_line: int | None = None
        self.last_line: int | None = None
        self.title = ""
        self.in_dl = 0  # depth of definition lists around the text being read

    def note_line(self, tag: Tag | None) -> None:
        line = getattr(tag, "sourceline", None)
        if line is None:
            return
        if self.first_line is None:
            self.first_line = line
        self.last_line = max(self.last_line or line, line)

    def flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self.buf)).strip()
        if text:
            self._add(text, 0)
        self.buf = []
        self.first_line = self.last_line = None

    def _add(self, text: str, level: int) -> None:
        start = self.first_line
        end = self.last_line if self.last_line is not None else start
        self.blocks.append(
            Block(
                text,
                start,
                end,
                heading=str(self.path),
                level=level,
                lines_exact=False,
                in_term=self.in_dl > 0,
            )
        )

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                if child.strip():
                    if self.first_line is None:
                        self.note_line(node)
                    self.buf.append(str(child))
                elif self.buf:
                    self.buf.append(" ")
                continue
            if not isinstance(child, Tag) or _is_junk(child):
                continue
            name = child.name
            if name in HEADINGS:
                self.flush()
                text = _SPACE.sub(" ", child.get_text(" ")).strip().rstrip("¶").strip()
                if text:
                    level = HEADINGS[name]
                    self.path.push(level, text)
                    if not self.title:
                        self.title = text
                    self.note_line(child)
                    self._add(text, level)
                    self.first_line = self.last_line = None
            elif name == "pre":
                self.flush()
                text = child.get_text().strip("\n")
                if text.strip():
                    self.note_line(child)
                    line = getattr(child, "sourceline", None)
                    self.last_line = line + text.count("\n") if line else None
                    self._add(text, 0)
                    self.first_line = self.last_line = None
            elif name == "tr":
                self.flush()
                cells = [
                    _SPACE.sub(" ", c.get_text(" ")).strip()
                    for c in child.find_all(("td", "th"), recursive=False)
                    if not _is_junk(c)
                ]
                text = " | ".join(c for c in cells if c)
                if text:
                    self.note_line(child)
                    self._add(text, 0)
                    self.first_line = self.last_line = None
            elif name == "dt":
                # a definition term (API signature, glossary word): a good place to cut
                self.flush()
                self.walk(child)
                text = _SPACE.sub(" ", "".join(self.buf)).strip().rstrip("¶").strip()
                if text:
                    self._add(text, SOFT_HEADING)
                self.buf = []
                self.first_line = self.last_line = None
            elif name in BLOCK:
                self.flush()
                self.in_dl += name == "dl"
                self.walk(child)
                self.flush()
                self.in_dl -= name == "dl"
            else:  # inline: a, span, code, em...
                if self.first_line is None:
                    self.note_line(child)
                self.walk(child)
                self.last_line = max(self.last_line or 0, getattr(child, "sourceline", 0) or 0)


def _escape_open_tail(text: str) -> str:
    """The text with every ``<`` that no ``>`` follows written as ``&lt;``.

    html.parser reads such a ``<`` as text anyway, but only after scanning the rest of the file
    for its ``>``, once for each: quadratic. A 30 KB file of ``<a `` took 18 s to parse and a
    1 MB one would hang the indexer (found by fuzzing, tests/faults/fuzz.py). Escaped, it parses
    in linear time to the same text, on the same lines."""
    end = text.rfind(">")
    if "<" not in text[end + 1 :]:
        return text
    return text[: end + 1] + text[end + 1 :].replace("<", "&lt;")


def parse_text(text: str) -> Parsed:
    # lazy: bs4 loads only when this runs
    from bs4.exceptions import ParserRejectedMarkup

    try:
        soup = BeautifulSoup(_escape_open_tail(text), "html.parser")
    except (ParserRejectedMarkup, AssertionError) as exc:  # html.parser's own asserts: "<!["
        why = str(exc).split("Original exception(s) from parser:")[-1].strip()
        raise ParseFailed(f"the HTML parser rejected it: {why}") from None
    page_title = ""
    t = soup.find("title")
    if isinstance(t, Tag):
        page_title = _SPACE.sub(" ", t.get_text(" ")).strip()
    em = _Emitter()
    em.walk(_main(soup))
    em.flush()
    return Parsed("html", em.blocks, title=page_title or em.title)
