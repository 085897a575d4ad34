"""Every test gets its own RAGTERM_HOME, so nothing touches the user's real data."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# A suite started in the background of a non-interactive shell (`cmd &`, nohup) inherits SIGINT
# ignored, and so would every `ragterm` child: the Ctrl-C tests would then test nothing but that.
# Children inherit an ignored signal across exec but not a handler, so catching it here gives
# them the default (KeyboardInterrupt), however the suite was started.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def ragterm_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RAGTERM_HOME", str(home))
    # Keep discovery of LM Studio / Ollama folders away from the developer's real ones.
    monkeypatch.setenv("HOME", str(home / "user"))
    monkeypatch.setenv("OLLAMA_MODELS", str(home / "user" / ".ollama" / "models"))
    monkeypatch.delenv("RAGTERM_CONFIG", raising=False)
    monkeypatch.delenv("RAGTERM_SQLITE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for key in list(os.environ):
        if key.startswith("RAGTERM_") and "__" in key:
            monkeypatch.delenv(key)
    return home


@pytest.fixture(scope="session")
def shared_embed_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One assembled copy of the bundled embedding model for the whole session."""
    return tmp_path_factory.mktemp("embed-cache")


@pytest.fixture
def bundled_gguf() -> Path:
    from ragterm.engine.models.registry import bundled_chat_path

    return bundled_chat_path()
