"""The files attached to the chat (/attach, /detach): read once, fitted to each question.

While files are attached they are the sources of every answer (answer.attached_files decides how
much of each fits); the index is searched again once they are all detached. Kept apart from
``ChatController`` so that the controller only asks this class for the hits of a turn.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragterm.engine.answer import attached_files
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import RagtermError
from ragterm.units import format_size


class Attachments:
    """An ordered set of attached files, by resolved path."""

    def __init__(self) -> None:
        self.files: list[attached_files.Attachment] = []
        self.last: attached_files.Fitted | None = (
            None  # how the last question or preview fitted them
        )

    def __bool__(self) -> bool:
        return bool(self.files)

    def add(self, arg: str, cfg: Any) -> attached_files.Attachment:
        """*Blocking* (reads and parses the file). /attach PATH."""
        if not arg.strip():
            raise RagtermError("/attach needs a file", hint="/attach ~/notes/report.pdf")
        found = attached_files.load(arg.strip(), max_mb=float(cfg["index.max_file_mb"]))
        self.files = [f for f in self.files if f.path != found.path] + [found]
        self.last = None
        return found

    def remove(self, arg: str) -> list[str]:
        """/detach [NAME|N]: that file (by name, path or number in /attach's list), or all."""
        arg = arg.strip()
        if not self.files:
            raise RagtermError("no files are attached", hint="/attach PATH")
        if not arg or arg == "all":
            gone, self.files = self.files, []
        else:
            gone = [f for n, f in enumerate(self.files, 1) if _named(f, arg, n)]
            if not gone:
                names = ", ".join(f.name for f in self.files)
                raise RagtermError(f"{arg!r} is not attached (attached: {names})",
                                   hint="/detach NAME, /detach N or /detach for all")  # fmt: skip
            self.files = [f for f in self.files if f not in gone]
        self.last = None
        return [f.name for f in gone]

    def describe(self) -> str:
        """What /attach lists: each file and how much of it the last question could take."""
        if not self.files:
            return ""
        fits = {f.path: f for f in self.last.files} if self.last is not None else {}
        lines = []
        for n, f in enumerate(self.files, 1):
            fit = fits.get(str(f.path))
            how = "" if fit is None else " · whole" if fit.whole else f" · {100 * fit.share:.0f}%"
            lines.append(f"{n}. {f.name} ({f.kind}, {format_size(f.size)}{how})")
        return "\n".join(lines)

    def fit(
        self, question: str, conv: Any, pinned: Iterable[Hit] = (), max_tokens: int | None = None
    ) -> attached_files.Fitted:
        """*Blocking* (may rank a long file's chunks with the embedding model)."""
        self.last = attached_files.fit(
            self.files, question, conv, pinned=pinned, max_tokens=max_tokens
        )
        return self.last


def _named(f: attached_files.Attachment, arg: str, n: int) -> bool:
    if arg == str(n) or arg in (f.name, str(f.path), f.path.name):
        return True
    try:
        return Path(os.path.expanduser(arg)).resolve() == f.path
    except (OSError, RuntimeError):
        return False


def complete_path(arg: str, limit: int = 200) -> tuple[str | None, list[str]]:
    """Tab completion of a file path: (the completed argument or None, the candidates' names).

    A unique folder gets its ``/``; several candidates complete to their common prefix. The
    argument keeps its ``~``; hidden files show only when the name typed starts with a dot.
    """
    typed = os.path.expanduser(arg)
    folder, part = os.path.split(typed)
    try:
        with os.scandir(folder or ".") as it:
            names = sorted(
                e.name + ("/" if _is_dir(e) else "")
                for e in it
                if e.name.startswith(part) and (part.startswith(".") or not e.name.startswith("."))
            )[:limit]
    except OSError:
        return None, []
    if not names:
        return None, []
    common = os.path.commonprefix(names)
    if len(common) <= len(part):
        return None, names
    head = arg[: len(arg) - len(part)] if part else arg
    return head + common, names


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
