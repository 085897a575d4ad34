"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` server (``embed.backend = remote``).

Why: embedding is the slow part of indexing a big folder on a laptop. Any server that speaks the
OpenAI embeddings API works: llama.cpp's ``llama-server --embedding``, vLLM, Ollama, Hugging Face
Text Embeddings Inference, or ``python -m ragterm.engine.embed_serve`` on a bigger machine.

Texts go in batches of ``embed.batch_size`` over one keep-alive connection. A refused connection,
a timeout, 429 or 5xx are retried ``embed.retries`` times with exponential backoff (honouring
``Retry-After``); anything else fails at once with the server's own message. The vectors' dimension
is learnt from the first answer and must match the index's (``index_vectors.check_model``).

Chunk sizes are measured with the bundled MiniLM tokenizer: the OpenAI API has no tokenizer
endpoint, and a WordPiece count is close to what most embedding models see.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ragterm.engine.embed.local_embedder import bundled_tokenizer
from ragterm.engine.openai_http import error_message, open_connection, request_headers
from ragterm.errors import ModelError

PREFIX = "remote:"
BACKOFF_S = 0.5  # first retry waits this long, then doubles
MAX_BACKOFF_S = 8.0
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


def endpoint(url: str) -> str:
    """``http://host:8080``, ``…/v1`` or ``…/v1/embeddings`` -> the embeddings URL."""
    url = url.strip().rstrip("/")
    if not url:
        raise ModelError(
            "embed.backend is remote but embed.url is not set",
            hint="ragterm config set embed.url http://HOST:PORT/v1",
        )
    if "://" not in url:
        url = "http://" + url
    if url.endswith("/embeddings"):
        return url
    if url.endswith("/v1"):
        return url + "/embeddings"
    return url + "/v1/embeddings"


class _Unavailable(Exception):
    """A failure worth retrying: the server is down, busy or slow."""


class RemoteEmbedder:
    """The Embedder interface (``embed``, ``embed_query``, ``dim``, ``count_tokens``) over HTTP."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str = "",
        timeout: float = 60.0,
        retries: int = 3,
        backoff_s: float = BACKOFF_S,
        batch_size: int = 32,
    ) -> None:
        if not model:
            raise ModelError(
                "embed.backend is remote but embed.remote_model is not set",
                hint="name the server's model: ragterm config set embed.remote_model NAME "
                "(e.g. all-MiniLM-L6-v2; `curl URL/models` lists them)",
            )
        self.url = endpoint(url)
        self.model = model
        self.name = PREFIX + model
        self.api_key = api_key
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.batch_size = max(1, batch_size)
        self._dim: int | None = None
        self._local = threading.local()  # one keep-alive connection per thread
        self._tokenizer = bundled_tokenizer()
        self.max_tokens = self._tokenizer.max_tokens
        self.requests = 0
        self.retried = 0

    # -- the Embedder interface -----------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The server model's dimension, asked once (a one-word request)."""
        if self._dim is None:
            self._request(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._tokenizer.count_tokens(texts)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self._tokenizer.token_offsets(text)

    def embed(self, texts: Iterable[str], batch_size: int | None = None) -> np.ndarray:
        """L2-normalised float32 rows in input order, ``batch_size`` texts per request."""
        items = list(texts)
        size = max(1, batch_size or self.batch_size)
        parts = [self._request(items[k : k + size]) for k in range(0, len(items), size)]
        if not parts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        out = np.concatenate(parts)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- HTTP -----------------------------------------------------------------------------------

    def _request(self, texts: list[str]) -> np.ndarray:
        body = json.dumps({"model": self.model, "input": texts, "encoding_format": "float"})
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                payload = self._post(body.encode())
                break
            except _Unavailable as exc:
                if attempt == self.retries:
                    raise ModelError(
                        f"the embedding server at {self.url} is not answering: {exc} "
                        f"({self.retries + 1} tries)",
                        hint="start it (python -m ragterm.engine.embed_serve), fix embed.url, "
                        "or embed here: ragterm config set embed.backend local",
                    ) from None
                self.retried += 1
                wait = getattr(exc, "retry_after", None) or delay
                time.sleep(min(wait, MAX_BACKOFF_S))
                delay = min(delay * 2, MAX_BACKOFF_S)
        return self._vectors(payload, len(texts))

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn, _ = open_connection(self.url, self.timeout)
            self._local.conn = conn
        return conn

    def _post(self, body: bytes) -> Any:
        headers = request_headers(self.api_key)
        path = urllib.parse.urlsplit(self.url).path or "/v1/embeddings"
        conn = self._connection()
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # a half-read connection is never reused
            if isinstance(exc, socket.timeout | TimeoutError):
                raise _Unavailable(f"no answer within {self.timeout:g} s (embed.timeout)") from None
            if isinstance(exc, ConnectionRefusedError):
                raise _Unavailable("connection refused") from None
            raise _Unavailable(str(exc) or type(exc).__name__) from None
        self.requests += 1
        if resp.status in _RETRY_STATUS:
            err = _Unavailable(f"HTTP {resp.status} {error_message(data)}")
            after = resp.getheader("Retry-After")
            err.retry_after = float(after) if after and after.isdigit() else None  # type: ignore[attr-defined]
            raise err
        if resp.status != 200:
            hint = "check embed.remote_model against the server's models (GET /v1/models)"
            if resp.status in (401, 403):
                hint = "set the server's key: ragterm config set embed.api_key KEY"
            raise ModelError(
                f"the embedding server at {self.url} refused the request: HTTP {resp.status} "
                f"{error_message(data)}",
                hint=hint,
            )
        try:
            return json.loads(data)
        except ValueError:
            raise ModelError(
                f"the embedding server at {self.url} did not answer JSON",
                hint="is embed.url an OpenAI-compatible /v1 endpoint?",
            ) from None

    def _vectors(self, payload: Any, n: int) -> np.ndarray:
        try:
            rows = sorted(payload["data"], key=lambda d: d.get("index", 0))
            mat = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ModelError(
                f"the embedding server at {self.url} answered without float embeddings",
                hint="is embed.url an OpenAI-compatible /v1 endpoint?",
            ) from None
        if mat.ndim != 2 or len(mat) != n:
            raise ModelError(
                f"the embedding server at {self.url} returned {len(mat)} vectors for {n} texts"
            )
        if self._dim is None:
            self._dim = int(mat.shape[1])
        elif mat.shape[1] != self._dim:
            raise ModelError(
                f"the embedding server's vectors changed from {self._dim} to {mat.shape[1]} "
                "dimensions: it serves another model now",
                hint="point embed.url back at the same model, or re-embed: ragterm index --reembed",
            )
        return mat


def from_config(cfg: Any, model: str | None = None) -> RemoteEmbedder:
    """The remote embedder the settings describe (``model`` overrides embed.remote_model)."""
    return RemoteEmbedder(
        str(cfg["embed.url"]),
        model if model is not None else str(cfg["embed.remote_model"]),
        api_key=str(cfg["embed.api_key"]),
        timeout=float(cfg["embed.timeout"]),
        retries=int(cfg["embed.retries"]),
        batch_size=int(cfg["embed.batch_size"]),
    )
