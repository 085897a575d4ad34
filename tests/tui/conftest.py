"""Pilot helpers: the real bundled model, short deterministic answers, a fixed terminal size."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


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
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


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
