"""The slash commands matching what is being typed (Tab completes)."""

from __future__ import annotations

from textual.widgets import Static

from ragterm.tui import slash
from ragterm.tui.attachments import complete_path


class CommandHint(Static):
    def show_for(self, text: str) -> None:
        if text.startswith("/attach ") and "\n" not in text:
            _, names = complete_path(text[len("/attach ") :])
            self.display = bool(names)
            if names:
                self.update("  ".join(names[:8]) + ("  …" if len(names) > 8 else "") + "  (Tab)")
            return
        found = slash.matches(text)
        self.display = bool(found)
        if found:
            self.update(
                "  ".join(f"/{c.name}{' ' + c.args if c.args else ''}" for c in found[:8])
                + ("  … (Tab completes)" if len(found) > 8 else "  (Tab completes)")
            )
