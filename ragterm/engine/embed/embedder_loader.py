"""Which embedder the settings ask for, loaded once: the bundled or a fastembed model here, or an
OpenAI-compatible server (``embed.backend = remote``)."""

from __future__ import annotations

from typing import Any

from ragterm import config
from ragterm.engine.embed.local_embedder import (
    BUNDLED,
    Embedder,
    Tokenizer,
    bundled_tokenizer,
    local_embedder,
)
from ragterm.engine.embed.remote_embedder import PREFIX, from_config


def configured_name(cfg: Any) -> str:
    """The model name the settings ask for: ``remote:NAME`` when embedding on a server."""
    if cfg["embed.backend"] == "remote":
        return PREFIX + str(cfg["embed.remote_model"])
    return str(cfg["embed.model"])


def load_embedder(name: str | None = None, *, threads: int | None = None, cfg: Any = None) -> Any:
    """A process-wide embedder per model name (loading takes a second; do it once).

    ``remote:NAME`` is served by ``embed.url`` (embed/remote_embedder.py), made afresh each time
    so a changed URL takes effect."""
    if name is None or name.startswith(PREFIX):
        if cfg is None:
            cfg = config.load()
        name = name or configured_name(cfg)
        if name.startswith(PREFIX):
            return from_config(cfg, name.removeprefix(PREFIX))
    return local_embedder(name, threads)


def load_tokenizer(name: str = BUNDLED) -> Tokenizer | Embedder:
    """The tokenizer of an embedding model; for the bundled one, without loading ONNX."""
    if name != BUNDLED:
        return load_embedder(name)
    return bundled_tokenizer()
