"""What the chat shows, built from data: saved sources and evidence back into objects, the notes
under a saved answer, a chunk's preview in its file, and the help page."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from ragterm.engine.answer.turn import answer_checks
from ragterm.engine.events import Done
from ragterm.engine.index.walk import link_rule
from ragterm.engine.retrieve.evidence import Evidence
from ragterm.engine.retrieve.hits import Hit
from ragterm.tui import slash


def hit_from_dict(d: dict[str, Any]) -> Hit:
    """A stored source (``Hit.to_dict()``) back into a Hit."""
    names = {f.name for f in fields(Hit)}
    return Hit(**{k: v for k, v in d.items() if k in names})


def preview_markdown(h: Any, evidence: list[Any] | None = None, follow: str = "inside") -> str:
    """The chunk in its file's context with line numbers; evidence lines marked with ★.

    The file is read only where the symlink rule (``follow``, index.follow_symlinks) allows:
    otherwise the chunk is shown as indexed, with the reason."""
    text = h.text
    marked = {e.line for e in evidence or [] if e.status == "current" and e.line}
    refused = link_rule(h.path, h.root, follow) if os.path.lexists(h.path) else None
    try:
        if refused:
            raise OSError(refused)
        lines = Path(h.path).read_text(encoding="utf-8", errors="replace").splitlines()
        if h.start_line:
            lo = max(1, h.start_line - 3)
            hi = min(len(lines), (h.end_line or h.start_line) + 3)
            width = len(str(hi))

            def mark(i: int) -> str:
                if i in marked:
                    return "★"
                return ">" if h.start_line <= i <= (h.end_line or h.start_line) else " "

            text = "\n".join(f"{mark(i)}{i:>{width}} {lines[i - 1]}" for i in range(lo, hi + 1))
    except OSError:
        pass
    head = f"**{h.citation()}** · score {h.score:.3f}" + (f" · {h.heading}" if h.heading else "")
    if refused:
        head += f"\n\nthe file was not read: {refused}; shown as indexed"
    quotes = "".join(f"\n\n★ line {e.line}: “{e.text}”" for e in evidence or [] if e.line in marked)
    return f"{head}{quotes}\n\n```\n{text}\n```\n\n`{h.path}`"


def evidence_from_dict(d: dict[str, Any]) -> Evidence:
    known = Evidence.__dataclass_fields__
    return Evidence(**{k: v for k, v in d.items() if k in known})


def stored_notes(m: Any, question: str = "", earlier: Sequence[str] = ()) -> list[str]:
    """The notes of a saved answer (``question``: the message it answers; ``earlier``: the
    messages before it, as sent), as they were shown when it was written."""
    if m.role != "assistant" or m.grounding is None:
        return []
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", m.content)]
    hits = [hit_from_dict(s) for s in m.sources if s.get("text")]
    checks = answer_checks(
        m.content, question, hits, cited, finished=m.status == "ok", earlier=earlier
    )
    done = Done(content=m.content, grounding=m.grounding, sources=hits, citations=cited, **checks)
    return done.notes


def help_markdown() -> str:
    """F1: the keys, then every slash command from the one table."""
    return (
        "## Keys\n\n| key | does |\n|---|---|\n"
        "| Enter | send |\n| ctrl+j / shift+enter | new line |\n"
        "| Up / Down | input history |\n| Tab | complete a /command, move focus |\n"
        "| Esc | cancel the answer being written |\n| ctrl+n | new conversation |\n"
        "| ctrl+b | conversations sidebar (Enter resume, r rename, d delete) |\n"
        "| ctrl+o | sources panel (Enter preview, e open in $EDITOR) |\n"
        "| ctrl+r | regenerate |\n| f2 | retrieval inspector |\n| ctrl+t | light/dark theme |\n"
        "| ctrl+p | command palette |\n| ctrl+q | quit |\n\n"
        f"## Commands\n\n| command | does |\n|---|---|\n{slash.help_table()}\n"
    )
