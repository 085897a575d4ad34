"""What the /tune form says: file path suggestions, the data check, the training estimate.

Plain functions over engine results (``DatasetError``, ``Dataset.summary``, ``Plan.summary``):
the screen lays them out, nothing here reads an engine message apart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual.suggester import Suggester

from ragterm.engine.tune.spec import DatasetError


class PathSuggester(Suggester):
    """Completes file and folder names as the path is typed (Right or End accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or "\n" in value:
            return None
        path = Path(value).expanduser()
        folder, prefix = (path, "") if value.endswith(os.sep) else (path.parent, path.name)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return None
        for e in entries:
            if not e.name.startswith(prefix) or (e.name.startswith(".") and not prefix):
                continue
            rest = e.name[len(prefix) :] + (os.sep if e.is_dir() else "")
            if rest:
                return value + rest
        return None


def short(text: str, width: int = 70) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def data_problem(exc: DatasetError) -> str:
    """The first bad line named (with how many there are), or what is wrong with the path."""
    if exc.bad:
        n = exc.bad_total
        return f"{exc.bad[0]}" + (f" (the first of {n} bad lines)" if n > 1 else "")
    return exc.message + (f" — {exc.remedy}" if exc.remedy else "")


def describe(ds: Any) -> str:
    s = ds.summary()
    if "writing" in s["formats"]:
        what = f"folder of writing: {s['examples']} training pairs built"
    else:
        what = (
            f"{s['examples']} examples ("
            + ", ".join(f"{k} {v}" for k, v in s["formats"].items())
            + ")"
        )
    out = f"{what}; {s['train']} to train on, {s['validation']} held out"
    if s["notes"]:
        out += "\n  " + "\n  ".join(s["notes"][:3])
    return out


def describe_estimate(plan: Any) -> str:
    """The plan's summary (``Plan.summary``), the estimate first; the form shows the data above."""
    lines = dict((kind, line) for kind, line in plan.summary() if kind != "note")
    estimate = lines["estimate"]
    out = [estimate[:1].upper() + estimate[1:], "  " + lines["model"]]
    out += [f"  note: {line}" for kind, line in plan.summary() if kind == "note"]
    return "\n".join(out)
