"""One line: model, persona, collections, context used/total, tokens/s, RAG on/off."""

from __future__ import annotations

from dataclasses import dataclass, fields

from textual.widgets import Static


@dataclass
class Status:
    model: str = "loading…"
    persona: str = ""
    collections: int = 0
    ctx_used: int = 0
    ctx_total: int = 0
    tokens_per_s: float | None = None
    rag: bool = True
    k: int = 0
    activity: str = ""  # "indexing 3/10", "loading model"…
    training: str = ""  # "tuning pirate 3/24" while a persona trains in the background


class StatusBar(Static):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.status = Status()

    def set(self, **values: object) -> None:
        names = {f.name for f in fields(Status)}
        for k, v in values.items():
            if k in names:
                setattr(self.status, k, v)
        self.update(self.render_status())

    def render_status(self) -> str:
        s = self.status
        parts = [s.model, f"persona {s.persona}" if s.persona else "no persona"]
        parts.append(f"{s.collections} coll")
        if s.ctx_total:
            parts.append(f"ctx {s.ctx_used}/{s.ctx_total}")
        if s.tokens_per_s is not None:
            parts.append(f"{s.tokens_per_s:.1f} tok/s")
        parts.append(f"RAG {'on' if s.rag else 'off'}" + (f" k={s.k}" if s.rag and s.k else ""))
        if s.activity:
            parts.append(s.activity)
        if s.training:
            parts.append(s.training)
        return " · ".join(parts)
