"""A small OpenAI-compatible ``/v1/embeddings`` server over a local embedder.

Why it exists: a laptop can hand its embedding work to a bigger machine (``embed.backend =
remote``) without installing vLLM or llama.cpp there, and the tests and benchmarks need a real
server on loopback. The standard library's ``ThreadingHTTPServer`` is enough: the model runs
one request at a time (a lock) and uses all the cores it was given inside that request.

    python -m ragterm.engine.embed_serve --port 8089            # the bundled MiniLM
    python scripts/serve_embeddings.py --model BAAI/bge-small-en-v1.5 --port 8089
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ragterm.engine.embed.embedder_loader import load_embedder
from ragterm.engine.embed.local_embedder import BUNDLED

MAX_BODY = 64 * 1024 * 1024
MAX_INPUTS = 4096


class Busy(Exception):
    """The model cannot take this request now (still loading, overloaded): a 503, retry later."""


class EmbeddingServer(ThreadingHTTPServer):
    """Serves ``POST /v1/embeddings`` and ``GET /v1/models`` for one embedder."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], embedder: Any, model_name: str = "") -> None:
        super().__init__(address, _Handler)
        self.embedder = embedder
        self.model_name = model_name or str(embedder.name).removeprefix("bundled:")
        self.lock = threading.Lock()
        self.requests = 0
        self.texts = 0
        self.busy_s = 0.0  # seconds spent inside the model: the server's own throughput

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def embed(self, texts: list[str]) -> list[list[float]]:
        with self.lock:
            t = time.perf_counter()
            vecs = self.embedder.embed(texts, batch_size=max(len(texts), 1))
            self.busy_s += time.perf_counter() - t
            self.requests += 1
            self.texts += len(texts)
        return vecs.tolist()

    def start(self) -> threading.Thread:
        """Serve in a daemon thread (tests, benchmarks); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="embed-serve", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: EmbeddingServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses one connection

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        route = self.path.rstrip("/").removeprefix("/v1")
        if route == "/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name,
                                                         "object": "model"}]})  # fmt: skip
        elif route == "/stats":  # the server's own throughput, for benchmarks
            srv = self.server
            self._send(200, {"requests": srv.requests, "texts": srv.texts, "busy_s": srv.busy_s})
        elif route in ("/health", ""):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
            self._error(404, f"no route {self.path}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._error(413 if length else 400, "request body missing or too large")
            return
        try:
            req = json.loads(self.rfile.read(length))
            texts = req["input"]
        except (ValueError, KeyError, TypeError):
            self._error(400, "the body must be JSON with an 'input' string or list of strings")
            return
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self._error(400, "'input' must be a string or a list of strings (not token ids)")
            return
        if len(texts) > MAX_INPUTS:
            self._error(413, f"at most {MAX_INPUTS} inputs per request")
            return
        model = req.get("model") or self.server.model_name
        if model != self.server.model_name:
            self._error(404, f"model {model!r} is not served here (this serves "
                             f"{self.server.model_name!r})")  # fmt: skip
            return
        try:
            vecs = self.server.embed(texts)
        except Busy as exc:
            self._error(503, f"busy: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - report it to the client, keep serving
            self._error(500, f"embedding failed: {exc}")
            return
        self._send(
            200,
            {
                "object": "list",
                "model": self.server.model_name,
                "data": [
                    {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vecs)
                ],
                "usage": {"prompt_tokens": 0, "total_tokens": 0},
            },
        )


def serve(host: str = "127.0.0.1", port: int = 0, model: str | None = None) -> EmbeddingServer:
    """A started server for ``model`` (default: the configured local model); port 0 = any."""
    server = EmbeddingServer((host, port), load_embedder(model))
    server.start()
    return server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Serve an embedding model at /v1/embeddings.")
    ap.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines")
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--model", default=None, help="fastembed model name (default: bundled)")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    args = ap.parse_args(argv)
    embedder = load_embedder(args.model or BUNDLED, threads=args.threads)
    server = EmbeddingServer((args.host, args.port), embedder)
    print(f"serving {server.model_name} ({embedder.dim} dims) at {server.url}/embeddings")
    print(
        f"on the client: ragterm config set embed.backend remote; ragterm config set embed.url "
        f"{server.url}; ragterm config set embed.remote_model {server.model_name}"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
