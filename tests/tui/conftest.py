"""Pilot helpers: the real bundled model, short deterministic answers, a fixed terminal size."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.content import Content


@pytest.fixture(autouse=True)
def short_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "16")
    monkeypatch.setenv("RAGTERM_CHAT__TEMPERATURE", "0")
    monkeypatch.setenv("RAGTERM_CHAT__SEED", "1")
    monkeypatch.setenv("RAGTERM_CHAT__CONTEXT_LENGTH", "2048")
    monkeypatch.setenv("RAGTERM_CHAT__THREADS", "2")


async def wait_for(pilot: Any, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until ``cond()`` holds (workers report through the message queue)."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for the app\n{diagnose(pilot.app)}")
        await pilot.pause(0.05)


def diagnose(app: Any) -> str:
    """What a timed-out test saw: the screen's text and what else was using the CPU."""
    lines = [f"screen {type(app.screen).__name__}:"]
    for widget in app.screen.query("Static, Label, Input"):
        if widget.display:
            shown = widget.value if hasattr(widget, "value") else widget.render()
            text = str(shown).strip() if isinstance(shown, str | Text | Content) else ""
            if text:
                lines.append(f"  #{widget.id or type(widget).__name__}: {text[:200]}")
    tuning = getattr(app, "tuning", None)
    p = getattr(tuning, "progress", None)
    if p is not None:  # the training the app runs, whichever screen shows it
        lines.append(
            f"training {p.name}: stage {p.stage!r} {p.detail!r}, step {p.step}/{p.total}, "
            f"running {p.running}, error {p.error!r}, result {p.result!r}, "
            f"listener {getattr(tuning.listener, '__self__', None)!r}"
        )
    ps = subprocess.run(
        ["ps", "-eo", "pid,ppid,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True
    )
    lines += ["processes:", *[f"  {line[:160]}" for line in ps.stdout.splitlines()[:8]]]
    return "\n".join(lines)


async def ready(pilot: Any) -> Any:
    """The chat screen once its model is loaded."""
    chat = pilot.app.chat
    await wait_for(pilot, lambda: chat.conv is not None)
    return chat


async def ask(pilot: Any, text: str) -> Any:
    chat = pilot.app.chat
    await pilot.click("#prompt")
    chat.query_one("#prompt").text = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: not chat.generating)
    await pilot.pause()
    return chat
