"""An optional cross-encoder pass over the top retrieval candidates (``rag.rerank``).

Why optional and off by default: a cross-encoder reads the question and each candidate together,
which can order candidates better than fused BM25 + vector scores, but it costs a model run per
candidate on every question, and published CPU results show it can also lose to a good hybrid
(docs/benchmarks.md). No reranker weights ship with ragterm (none are on PyPI), so:

- ``rag.rerank = Xenova/ms-marco-MiniLM-L-6-v2`` (or another fastembed ``TextCrossEncoder``
  name): downloaded once from the Hugging Face hub (``HF_ENDPOINT`` for a mirror) into the cache;
- ``rag.rerank = /path/to/folder``: a copy of such a model's hub repository (``onnx/model.onnx``
  and ``tokenizer.json`` …), for machines that never go online;
- ``rag.rerank = off``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragterm import paths
from ragterm.engine.models import hub
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import ModelError

DEFAULT = "Xenova/ms-marco-MiniLM-L-6-v2"  # 80 MB, Apache-2.0, MiniLM-L6 like the embedder
HOW_TO_GET = (
    "online, set rag.rerank to a model name and it downloads on first use (~80 MB for "
    f"{DEFAULT}; HF_ENDPOINT names a mirror); offline, copy that hub repository's files "
    "(onnx/model.onnx, tokenizer.json, config.json …) to a folder and `ragterm config set "
    "rag.rerank /that/folder`; or `ragterm config set rag.rerank off`"
)


REQUIRED = ("tokenizer.json", "config.json")
OPTIONAL = ("tokenizer_config.json", "special_tokens_map.json")


def describe_model(name: str) -> dict[str, Any]:
    """fastembed's description of a cross-encoder (hub repo, ONNX file) by its name."""
    # lazy: fastembed loads only when this runs
    from fastembed.rerank.cross_encoder import TextCrossEncoder

    for m in TextCrossEncoder.list_supported_models():
        if m["model"].lower() == name.lower():
            return m
    raise ModelError(
        f"unknown reranking model {name!r}",
        hint=f"use a fastembed TextCrossEncoder name such as {DEFAULT}, a folder, or off",
    )


def fetch(name: str, cancel: threading.Event | None = None) -> Path:
    """The model's files in the cache, downloaded from the hub on first use (engine.models.hub:
    resumable, checksummed, HF_ENDPOINT and HF_HUB_OFFLINE honoured)."""

    desc = describe_model(name)
    repo = desc["sources"]["hf"]
    folder = paths.cache_dir() / "rerankers" / repo.replace("/", "--")
    if (folder / ".complete").is_file():
        return folder
    files = [desc["model_file"], *desc.get("additional_files", []), *REQUIRED, *OPTIONAL]
    for f in files:
        try:
            for _ in hub.download(repo, f, folder / Path(f).parent, cancel=cancel, gguf=False):
                pass
        except ModelError as exc:
            if f in OPTIONAL:  # not every repository has them; the required ones came
                continue
            raise ModelError(
                f"the reranking model {name!r} is not installed and cannot be fetched: "
                f"{exc.message}",
                hint=HOW_TO_GET,
            ) from None
    (folder / ".complete").write_text(repo)
    return folder


class Reranker:
    """Scores (question, chunk) pairs with a fastembed ``TextCrossEncoder``."""

    def __init__(self, name: str, *, threads: int | None = None) -> None:
        try:
            # lazy: fastembed loads only when this runs
            from fastembed.rerank.cross_encoder import TextCrossEncoder
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelError("fastembed is not installed", hint="reinstall ragterm") from exc
        local = Path(name).expanduser()
        if local.is_dir():
            folder, model = local.resolve(), DEFAULT
        else:
            folder, model = fetch(name), describe_model(name)["model"]
        self.name = name
        model_file = folder / describe_model(model)["model_file"]
        if not model_file.is_file():
            raise ModelError(
                f"{folder} holds no {model_file.relative_to(folder)}: not a cross-encoder folder",
                hint=HOW_TO_GET,
            )
        try:
            self._model = TextCrossEncoder(model, specific_model_path=str(folder), threads=threads)
            inner: Any = self._model.model  # fastembed's ONNX wrapper: loads lazily
            if getattr(inner, "model", None) is None:  # load now, not mid-question
                inner.load_onnx_model()
        except Exception as exc:  # noqa: BLE001 - a broken file, a missing tokenizer
            raise ModelError(
                f"cannot load the reranking model in {folder}: {_short(exc)}", hint=HOW_TO_GET
            ) from None

    def scores(self, query: str, texts: Sequence[str], batch_size: int = 16) -> list[float]:
        return [float(s) for s in self._model.rerank(query, list(texts), batch_size=batch_size)]

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` best first by the cross-encoder (its score kept in ``rerank_score``)."""
        if not hits:
            return []
        texts = [f"{h.heading}\n\n{h.text}" if h.heading else h.text for h in hits]
        scored = [
            replace(h, rerank_score=s) for h, s in zip(hits, self.scores(query, texts), strict=True)
        ]
        return sorted(scored, key=lambda h: -(h.rerank_score or 0.0))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


_cache: dict[str, Reranker] = {}
_lock = threading.Lock()


def load_reranker(name: str) -> Reranker | None:
    """The process-wide reranker for ``rag.rerank`` (None when it is off)."""
    if not name or name.lower() in ("off", "none", "false", "0"):
        return None
    with _lock:
        if name not in _cache:
            _cache[name] = Reranker(name)
        return _cache[name]
