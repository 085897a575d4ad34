"""Slash commands: one table drives /help, completion and the command palette."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # without the slash
    args: str  # usage of the arguments, "" if none
    help: str


COMMANDS: tuple[Command, ...] = (
    Command("help", "", "show commands and keys"),
    Command("new", "", "start a new conversation"),
    Command("sessions", "", "show or hide the conversations sidebar"),
    Command("model", "NAME", "switch to another chat model (no name: pick one)"),
    Command("persona", "NAME|off", "answer as a persona, or stop"),
    Command("tune", "", "fine-tune a persona (/tune NAME shows or resumes its training)"),
    Command("index", "PATH", "index a folder in the background"),
    Command("collections", "", "list indexed folders"),
    Command("attach", "PATH", "send a file with every question (no path: list them)"),
    Command("detach", "[NAME|N]", "stop sending an attached file (no name: all of them)"),
    Command(
        "rag",
        "on|off|rewrite auto|model|terms|off",
        "use the indexed folders when answering; how follow-ups are searched",
    ),  # fmt: skip
    Command("k", "N", "number of retrieved excerpts per question"),
    Command("sources", "", "show or hide the sources panel"),
    Command("inspect", "", "retrieval inspector for the selected answer"),
    Command("system", "TEXT", "set the system prompt of this conversation"),
    Command("regenerate", "", "answer the last question again"),
    Command("edit", "", "edit the last question and ask again"),
    Command("copy", "", "copy the selected answer to the clipboard"),
    Command("export", "[FILE]", "save the conversation as Markdown"),
    Command("clear", "", "clear the screen and start a new conversation"),
    Command("theme", "", "toggle light and dark themes"),
    Command("quit", "", "leave ragterm"),
)

BY_NAME = {c.name: c for c in COMMANDS}


def matches(text: str) -> list[Command]:
    """Commands whose name starts with what was typed after the slash."""
    if not text.startswith("/") or " " in text or "\n" in text:
        return []
    word = text[1:].lower()
    return [c for c in COMMANDS if c.name.startswith(word)]


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
