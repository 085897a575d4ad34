"""Config keys are checked on every read: a misspelt or removed key fails, never a silent None."""

from __future__ import annotations

import pytest

from ragterm import config
from ragterm.errors import ConfigError


def test_unknown_keys_fail_on_read():
    cfg = config.load()
    with pytest.raises(ConfigError, match="unknown config key 'rag.candidates'"):
        cfg.get("rag.candidates")
    with pytest.raises(ConfigError, match="did you mean rag.top_k"):
        cfg["rag.top_kk"]
    with pytest.raises(ConfigError):
        cfg.with_overrides(**{"chat.temprature": 0})


def test_known_keys_read_alike():
    cfg = config.load()
    assert cfg.get("rag.top_k") == cfg["rag.top_k"] == config.SETTINGS["rag.top_k"].default
