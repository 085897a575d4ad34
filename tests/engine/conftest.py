"""Fixtures shared by the engine tests: one loaded chat model for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def bundled_llama() -> Iterator[Any]:
    """The bundled GGUF loaded once (n_ctx 1024, 2 threads) for every test that only asks it
    questions. Tests that change the model (adapters, closing it) load their own."""
    from ragterm.engine.models.llm import LocalLlama
    from ragterm.engine.models.registry import bundled_chat_path

    m = LocalLlama(bundled_chat_path(), n_ctx=1024, threads=2)
    yield m
    m.close()
