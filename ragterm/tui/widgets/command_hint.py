"""The slash commands matching what is being typed (Tab completes)."""

from __future__ import annotations

from textual.widgets import Static

from ragterm.tui import commands


class CommandHint(Static):
    def show_for(self, text: str) -> None:
        found = commands.matches(text)
        self.display = bool(found)
        if found:
            self.update(
                "  ".join(f"/{c.name}{' ' + c.args if c.args else ''}" for c in found[:8])
                + ("  … (Tab completes)" if len(found) > 8 else "  (Tab completes)")
            )
