"""Where the context window goes before you send: system, retrieved, history, reserved answer."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


def describe(b: Any, attached: list[Any] | None = None) -> str:
    """One line from a ``prompt.Budget`` (and the ``attach.FileFit`` of each attached file)."""
    if b is None:
        return ""
    used = b.used + b.reserved
    pct = 100 * used / b.n_ctx if b.n_ctx else 0
    line = (
        f"ctx {used}/{b.n_ctx} {pct:.0f}% │ system {b.system} · sources {b.retrieved} · "
        f"history {b.history} · question {b.question} · answer {b.reserved}"
    )
    if b.dropped_turns or b.dropped_chunks:
        line += f" │ drops {b.dropped_turns} turn(s), {b.dropped_chunks} excerpt(s)"
    elif b.next_drop and b.next_drop != "nothing":
        line += f" │ next to drop: {b.next_drop}"
    if attached:
        line += " │ attached " + ", ".join(
            f"{f.name} {'whole' if f.whole else f'{100 * f.share:.0f}%'}" for f in attached
        )
    return line


class ContextMeter(Static):
    def show(self, budget: Any, attached: list[Any] | None = None) -> None:
        self.update(describe(budget, attached))
