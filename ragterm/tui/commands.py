"""Typed text -> a slash command: Tab completion and parsing. The commands themselves, with their
arguments, help and handlers, are the one table in ``slash.COMMANDS``."""

from __future__ import annotations

from ragterm.tui.slash import BY_NAME, COMMANDS, Command, matches

__all__ = ["BY_NAME", "COMMANDS", "Command", "complete", "matches", "parse"]


def complete(text: str) -> str | None:
    """The completed input for ``text`` (a unique match or the common prefix), else None."""
    found = matches(text)
    if not found:
        return None
    if len(found) == 1:
        c = found[0]
        return f"/{c.name}{' ' if c.args else ''}"
    names = [c.name for c in found]
    prefix = names[0]
    for n in names[1:]:
        while not n.startswith(prefix):
            prefix = prefix[:-1]
    return f"/{prefix}" if len(prefix) > len(text) - 1 else None


def parse(text: str) -> tuple[str, str] | None:
    """``("model", "NAME")`` for ``/model NAME``; None when the text is not a command."""
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, arg = text[1:].partition(" ")
    return name.strip().lower(), arg.strip()
