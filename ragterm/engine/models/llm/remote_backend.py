"""The remote backend: any OpenAI-compatible server (llama-server, Ollama, vLLM)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Generator
from typing import Any

from ragterm.engine.models.llm.backend_base import Message, SamplingParams
from ragterm.engine.openai_http import open_connection, request_headers
from ragterm.errors import GenerationError, ModelError


class _Request:
    """One POST to an OpenAI-compatible server with a cancel that does not wait for it.

    Once ``cancel`` is set, a watcher thread shuts the socket down, so a read blocked on a
    stalled server (no headers yet, or a pause mid-stream) returns at once instead of holding the
    user for ``remote.timeout`` seconds.
    """

    def __init__(self, url: str, timeout: float, cancel: threading.Event | None) -> None:
        self.conn, self.path = open_connection(url, timeout)
        self.cancel = cancel
        self.done = threading.Event()
        if cancel is not None:
            threading.Thread(target=self._watch, daemon=True, name="ragterm-remote").start()

    def _watch(self) -> None:
        assert self.cancel is not None
        while not self.done.is_set():
            if self.cancel.wait(0.05):
                sock = self.conn.sock
                if sock is None:  # not connected yet: send() checks cancel once it is
                    time.sleep(0.02)
                    continue
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return

    def send(self, body: bytes, headers: dict[str, str]) -> Any:
        """The response (status and headers read), or OSError/HTTPException."""
        self.conn.connect()
        if self.cancel is not None and self.cancel.is_set():
            raise ConnectionAbortedError("cancelled")
        self.conn.request("POST", self.path, body=body, headers=headers)
        return self.conn.getresponse()

    def close(self) -> None:
        self.done.set()
        self.conn.close()


class RemoteOpenAI:
    """Any OpenAI-compatible server (llama-server, Ollama, vLLM) behind the same interface.

    Token counts are estimated on the safe side (3 characters a token, where English averages
    about 4): the server owns the tokenizer, and an underestimate would overflow its context.
    """

    continues = False

    def __init__(
        self,
        url: str,
        *,
        model: str = "",
        api_key: str = "",
        timeout: float = 120.0,
        n_ctx: int = 8192,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ModelError(
                f"invalid remote.url {url!r}",
                hint="set it to http://HOST:PORT/v1 (ragterm config set remote.url …)",
            )
        self.url = url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.n_ctx = n_ctx
        self.name = model or self.url
        self._stats: dict[str, float] = {}

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(m["content"]) // 3 + 5 for m in messages) + 3

    def count_text(self, text: str) -> int:
        return len(text) // 3 + 1

    def stream(
        self,
        messages: list[Message],
        params: SamplingParams,
        cancel: threading.Event | None = None,
        prefix: str = "",
    ) -> Generator[str, None, None]:
        if prefix:  # the chat API has no portable way to continue an answer (continues=False)
            raise GenerationError("this server cannot continue an answer")
        body: dict[str, Any] = {
            "model": self.model or "default",
            "messages": messages,
            "stream": True,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            # llama.cpp's names; llama-server and llama-cpp-python honour them, others ignore them
            "top_k": params.top_k,
            "min_p": params.min_p,
            "repeat_penalty": params.repeat_penalty,
        }
        if params.seed >= 0:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = params.stop
        headers = request_headers(self.api_key, accept="text/event-stream")
        t0 = time.perf_counter()
        first = None
        n = 0
        self._stats = {"prompt_tokens": float(self.count_tokens(messages))}
        req = _Request(f"{self.url}/chat/completions", self.timeout, cancel)
        try:
            resp = req.send(json.dumps(body).encode(), headers)
        except (OSError, http.client.HTTPException) as exc:
            req.close()
            if cancel is not None and cancel.is_set():
                return  # cancelled while waiting for the server: an empty, cancelled answer
            raise GenerationError(
                f"cannot reach the server at {self.url}: {exc}",
                hint="start the server, or set chat.backend to local",
            ) from exc
        if resp.status >= 400:
            detail = resp.read(2000).decode("utf-8", "replace")[:200]
            req.close()
            raise GenerationError(
                f"the server at {self.url} answered HTTP {resp.status}: {detail}",
                hint="check remote.model and the server's log",
            )
        try:
            with resp:
                for raw in resp:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        payload = json.loads(data)
                    except ValueError:
                        continue
                    if isinstance(payload, dict) and payload.get("error"):
                        err = payload["error"]
                        raise GenerationError(
                            f"the server at {self.url} failed: "
                            f"{err.get('message', err) if isinstance(err, dict) else err}",
                            hint="check the server's log (is the prompt longer than its context?)",
                        )
                    try:
                        delta = payload["choices"][0].get("delta", {}).get("content") or ""
                    except (KeyError, IndexError, TypeError, AttributeError):
                        continue
                    if delta:
                        n += 1
                        first = first or time.perf_counter()
                        yield delta
                    if cancel is not None and cancel.is_set():
                        break
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # a cancel shuts the socket down under a blocked read: that is not a broken server
            if cancel is None or not cancel.is_set():
                raise GenerationError(
                    f"the connection to {self.url} broke mid-answer: {exc}",
                    hint="check that the server is still running",
                ) from exc
        finally:
            req.close()
            end = time.perf_counter()
            gen_s = end - (first or end)
            self._stats = {
                "prompt_tokens": float(self.count_tokens(messages)),
                "completion_tokens": float(n),
                "ttft_s": (first or end) - t0,
                "total_s": end - t0,
                "tokens_per_s": (n - 1) / gen_s if n > 1 and gen_s > 0 else 0.0,
            }

    def last_stats(self) -> dict[str, float]:
        return dict(self._stats)

    def close(self) -> None:
        pass
