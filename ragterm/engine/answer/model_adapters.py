"""Which LoRA adapter a chat model runs with: a persona's, refused when it was trained on another
base model, or the retrieval adapter shipped for the bundled model (``rag.adapter``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragterm.engine.models.registry import bundled_chat_path
from ragterm.engine.tune import persona_service
from ragterm.errors import RagtermError
from ragterm.store.db import Connection


def load_persona(conn: Connection, name: str, model_path: Any, model_name: str = "") -> Any:
    """The stored persona ``name``, refused if it was trained on another base model."""
    p = persona_service.get(conn, name)
    if model_path is not None:
        persona_service.check_base(p, model_path, model_name)
    return p


RAG_ADAPTER_FILE = "rag-smollm2-135m.gguf"


def rag_adapter_path(cfg: Any, model_path: Path | None) -> str | None:
    """The LoRA adapter that teaches the model to answer from sources (``rag.adapter``).

    ``auto``: the adapter shipped in the package, for the bundled model only (an adapter fits the
    base it was trained on); ``off``: none; anything else: a GGUF LoRA adapter path.
    """
    setting = cfg["rag.adapter"]
    if setting == "off" or model_path is None:
        return None
    if setting != "auto":
        given = Path(setting).expanduser()
        if not given.is_file():
            raise RagtermError(
                f"rag.adapter {setting!r} is not a file",
                hint="set rag.adapter to auto, off, or the path of a GGUF LoRA adapter",
            )
        return str(given)

    try:
        if Path(model_path).resolve() != bundled_chat_path().resolve():
            return None
    except RagtermError:
        return None
    shipped = Path(__file__).resolve().parents[2] / "adapters" / RAG_ADAPTER_FILE
    return str(shipped) if shipped.is_file() else None
