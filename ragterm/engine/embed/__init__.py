"""Text -> vectors: the bundled MiniLM or a fastembed model here (local_embedder), an
OpenAI-compatible server (remote_embedder), and ragterm's own server for one (embed_server).

``load_embedder`` picks one from the settings; every embedder has ``embed``, ``embed_query``,
``dim``, ``count_tokens`` and ``token_offsets``."""

from ragterm.engine.embed.embedder_loader import configured_name, load_embedder, load_tokenizer
from ragterm.engine.embed.local_embedder import (
    BUNDLED,
    BUNDLED_DIM,
    BUNDLED_MAX_TOKENS,
    Embedder,
    Tokenizer,
    bundled_model_dir,
)

__all__ = [
    "BUNDLED",
    "BUNDLED_DIM",
    "BUNDLED_MAX_TOKENS",
    "Embedder",
    "Tokenizer",
    "bundled_model_dir",
    "configured_name",
    "load_embedder",
    "load_tokenizer",
]
