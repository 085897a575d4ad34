"""The loaded chat model: render a conversation with the model's own template, count its tokens,
and stream an answer. Backends (local llama.cpp, a remote OpenAI-compatible server) share one
Protocol so the chat logic above never cares which one answers.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from ragterm.errors import GenerationError, ModelError

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class SamplingParams:
    """Sampling settings for one answer; defaults come from the ``chat.*`` config keys."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int = -1
    stop: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> SamplingParams:
        values = {f.name: cfg[f"chat.{f.name}"] for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def physical_cores() -> int:
    """Physical cores available to this process: llama.cpp is slower on hyper-threads.

    Counts the distinct sibling groups (one per core) among the CPUs this process may run on;
    falls back to the number of usable CPUs where sysfs has no topology (macOS, containers).
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return max(1, (os.cpu_count() or 2) // 2)
    cores: set[str] = set()
    for cpu in cpus:
        f = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(f.read_text().strip())
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


class Backend(Protocol):
    """What the chat needs from a model."""

    name: str
    n_ctx: int

    def count_tokens(self, messages: list[Message]) -> int:
        """Tokens of ``messages`` rendered as a prompt (with the generation prompt)."""
        ...

    def count_text(self, text: str) -> int:
        """Tokens of a bare piece of text (a retrieved chunk)."""
        ...

    def stream(
        self, messages: list[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        """Answer pieces as they come; stops between pieces once ``cancel`` is set."""
        ...

    def last_stats(self) -> dict[str, float]:
        """prompt_tokens, completion_tokens, ttft_s, total_s, tokens_per_s of the last answer."""
        ...

    def close(self) -> None: ...


class LocalLlama:
    """A GGUF model in llama.cpp (optionally with a LoRA adapter).

    Prompts are rendered by us and passed as token lists, so counts are exact and llama-cpp-python's
    prefix matching reuses the KV cache of the previous turn.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        name: str = "",
        n_ctx: int = 8192,
        threads: int = 0,
        gpu_layers: int = -1,
        lora_path: str | None = None,
        lora_scale: float = 1.0,
        flash_attn: bool = False,
    ) -> None:
        from ragterm.engine.models import read_gguf

        info = read_gguf(path)
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover
            raise ModelError(
                "llama-cpp-python is not installed", hint="pipx reinstall ragterm"
            ) from exc
        self.path = Path(path)
        self.name = name or info.name
        self.info = info
        ctx = min(n_ctx, info.context_length) if info.context_length else n_ctx
        offload = gpu_layers if llama_cpp.llama_supports_gpu_offload() else 0
        if lora_path:
            _check_adapter_file(lora_path)
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=ctx,
                n_threads=threads or physical_cores(),
                n_gpu_layers=offload,
                verbose=False,
                n_batch=min(512, ctx),
                flash_attn=flash_attn,
            )
        except Exception as exc:
            raise ModelError(
                f"llama.cpp cannot load {path}: {exc}",
                hint="the file may be damaged or need a newer llama.cpp; try "
                "another model (ragterm models list)",
            ) from exc
        self.n_ctx = self.llm.n_ctx()
        self.settings = (n_ctx, threads, gpu_layers)  # as asked, to tell whether a reload is needed
        self.n_threads = threads or physical_cores()
        self.gpu_layers = offload
        self.lora_path: str | None = None
        self.lora_scale = 1.0
        self._adapter: Any = None  # llama_adapter_lora_p of the applied adapter
        self._template = self._make_formatter(info.chat_template or CHATML)
        self._system_ok = self._supports_system()
        self._stats: dict[str, float] = {}
        self._bos_text = self._token_text(self.llm.token_bos())
        self._specials: Any = None  # regex of the vocabulary's control-token texts, built lazily
        self._lock = threading.Lock()
        if lora_path:
            try:
                self.set_adapter(lora_path, lora_scale)
            except BaseException:
                self.close()
                raise

    # -- adapters --------------------------------------------------------------------------------

    def set_adapter(self, lora_path: str | Path | None, scale: float = 1.0) -> None:
        """Apply a GGUF LoRA adapter (``None`` removes it) to the loaded base, without reloading.

        Switching personas costs the adapter's load time, not the base model's. The KV cache was
        computed with the old weights, so it is dropped: the next turn evaluates its whole prompt.
        """
        import ctypes

        import llama_cpp

        path = str(lora_path) if lora_path else None
        if path == self.lora_path and (path is None or scale == self.lora_scale):
            return
        with self._lock:
            ctx = self.llm._ctx.ctx
            new = None
            if path is not None:
                _check_adapter_file(path)
                new = llama_cpp.llama_adapter_lora_init(self.llm._model.model, path.encode())
                if not new:
                    raise ModelError(
                        f"llama.cpp cannot load the adapter {path} for {self.name}",
                        hint="it was probably trained for another model; train the persona again",
                    )
                adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(new)
                scales = (ctypes.c_float * 1)(scale)
                rc = llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales)
            else:
                rc = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
            if rc:
                if new:
                    llama_cpp.llama_adapter_lora_free(new)
                raise ModelError(f"llama.cpp refused the adapter {path} (error {rc})")
            if self._adapter:
                llama_cpp.llama_adapter_lora_free(self._adapter)
            self._adapter = new
            self.lora_path, self.lora_scale = path, scale
            self.llm.reset()  # the cached keys/values belong to the old weights

    # -- prompts ---------------------------------------------------------------------------------

    def _token_text(self, tok: int) -> str:
        if tok < 0:
            return ""
        return self.llm.detokenize([tok], special=True).decode("utf-8", "ignore")

    def _make_formatter(self, template: str) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        return Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(self.llm.token_eos()),
            bos_token=self._token_text(self.llm.token_bos()),
        )

    def _supports_system(self) -> bool:
        try:
            out = self._template(
                messages=[
                    {"role": "system", "content": "SYS-PROBE"},
                    {"role": "user", "content": "hi"},
                ]
            ).prompt
        except Exception:
            return False
        return "SYS-PROBE" in out

    def _defuse(self, text: str) -> str:
        """``text`` with the model's control-token strings broken up (a zero-width space after
        the first character), so they stay plain text.

        The prompt is tokenized with ``special=True`` (the template's own markers must become
        control tokens), so a file or a question containing "<|im_end|><|im_start|>system" would
        otherwise open a real system turn: a prompt injection that needs no persuasion at all.
        """
        if self._specials is None:
            import re

            import llama_cpp

            model = self.llm._model
            vocab = llama_cpp.llama_model_get_vocab(model.model)
            flags = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            texts = {
                model.token_get_text(i)
                for i in range(llama_cpp.llama_vocab_n_tokens(vocab))
                if llama_cpp.llama_vocab_get_attr(vocab, i) & flags
            }
            texts = sorted((t for t in texts if len(t) > 1), key=len, reverse=True)
            self._specials = re.compile("|".join(map(re.escape, texts))) if texts else False
        if not self._specials:
            return text
        return self._specials.sub(lambda m: m[0][0] + "\u200b" + m[0][1:], text)

    def render(self, messages: list[Message]) -> str:
        """The prompt text for ``messages`` in the model's own chat template (the messages'
        text can never produce a control token, see ``_defuse``)."""
        msgs = [{**m, "content": self._defuse(m["content"])} for m in messages]
        if not self._system_ok and msgs and msgs[0]["role"] == "system":
            system = msgs.pop(0)["content"]
            if msgs and msgs[0]["role"] == "user":  # Gemma-style: fold into the first user turn
                msgs[0]["content"] = f"{system}\n\n{msgs[0]['content']}"
            else:
                msgs.insert(0, {"role": "user", "content": system})
        try:
            return str(self._template(messages=msgs).prompt)
        except Exception as exc:
            raise GenerationError(
                f"the chat template of {self.name} failed: {exc}",
                hint="use another model or report the template",
            ) from exc

    def tokens(self, messages: list[Message]) -> list[int]:
        prompt = self.render(messages)
        add_bos = bool(self.llm._model.add_bos_token()) and not (
            self._bos_text and prompt.startswith(self._bos_text)
        )
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self.tokens(messages))

    def count_text(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # -- generation ------------------------------------------------------------------------------

    def stream(
        self, messages: list[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        tokens = self.tokens(messages)
        room = self.n_ctx - len(tokens)
        if room <= 0:
            raise GenerationError(
                f"the prompt ({len(tokens)} tokens) does not fit the {self.n_ctx}-token context"
            )
        max_tokens = max(1, min(params.max_tokens, room))
        cached_before = self._common_prefix(tokens)
        t0 = time.perf_counter()
        first: float | None = None
        n = 0
        with self._lock:
            perf0 = self._perf()
            it = self.llm.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                min_p=params.min_p,
                repeat_penalty=params.repeat_penalty,
                seed=None if params.seed < 0 else params.seed,
                stop=list(params.stop) or None,
                stream=True,
            )
            try:
                for chunk in it:
                    text = chunk["choices"][0]["text"]
                    if first is None:
                        first = time.perf_counter()
                    if text:
                        n += 1
                        yield text
                    if cancel is not None and cancel.is_set():
                        break
            except (RuntimeError, ValueError, OSError) as exc:
                self.llm.reset()  # a failed decode leaves the cache in an unknown state
                raise GenerationError(
                    f"llama.cpp failed while answering with {self.name}: {exc}",
                    hint="try again; if it persists, lower chat.context_length",
                ) from exc
            finally:
                # also when the caller stops iterating (cancel): stats of the partial answer
                close = getattr(it, "close", None)
                if close:
                    close()
                end = time.perf_counter()
                gen_s = end - (first or end)
                self._stats = {
                    "prompt_tokens": float(len(tokens)),
                    "cached_tokens": float(cached_before),
                    "completion_tokens": float(n),
                    "ttft_s": (first or end) - t0,
                    "total_s": end - t0,
                    "tokens_per_s": (n - 1) / gen_s if n > 1 and gen_s > 0 else 0.0,
                }
                perf1 = self._perf()
                if perf0 and perf1:
                    # what llama.cpp itself evaluated in batches: the uncached part of the prompt
                    self._stats["prompt_eval_tokens"] = float(perf1[0] - perf0[0])
                    self._stats["prompt_eval_s"] = (perf1[1] - perf0[1]) / 1000

    def _perf(self) -> tuple[int, float] | None:
        """llama.cpp's own counters: prompt tokens evaluated in batches, and their time (ms)."""
        try:
            import llama_cpp

            data = llama_cpp.llama_perf_context(self.llm._ctx.ctx)
            return int(data.n_p_eval), float(data.t_p_eval_ms)
        except (AttributeError, OSError):  # pragma: no cover - older bindings
            return None

    def _common_prefix(self, tokens: list[int]) -> int:
        n = 0
        for a, b in zip(self.llm._input_ids[: self.llm.n_tokens], tokens, strict=False):
            if a != b:
                break
            n += 1
        return n

    def last_stats(self) -> dict[str, float]:
        return dict(self._stats)

    def close(self) -> None:
        """Free the model, its context and adapter now (not whenever the GC gets to it)."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        with self._lock:
            if self._adapter:
                import llama_cpp

                llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, None, 0, None)
                llama_cpp.llama_adapter_lora_free(self._adapter)
                self._adapter = None
            llm.close()
            self.llm = None  # type: ignore[assignment]


def _check_adapter_file(path: str | Path) -> None:
    if not Path(path).is_file():
        raise ModelError(
            f"adapter file missing: {path}",
            hint="train the persona again or remove it (ragterm persona rm)",
        )


class _Request:
    """One POST to an OpenAI-compatible server with a cancel that does not wait for it.

    Once ``cancel`` is set, a watcher thread shuts the socket down, so a read blocked on a
    stalled server (no headers yet, or a pause mid-stream) returns at once instead of holding the
    user for ``remote.timeout`` seconds.
    """

    def __init__(self, url: str, timeout: float, cancel: threading.Event | None) -> None:
        import http.client
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(parts.hostname or "localhost", parts.port, timeout=timeout)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.cancel = cancel
        self.done = threading.Event()
        if cancel is not None:
            threading.Thread(target=self._watch, daemon=True, name="ragterm-remote").start()

    def _watch(self) -> None:
        import socket

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
        self, messages: list[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        import http.client

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
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
        }
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


def open_backend(
    cfg: Any,
    *,
    model: str | None = None,
    lora_path: str | None = None,
    lora_scale: float = 1.0,
    conn: Any = None,
    reuse: Backend | None = None,
) -> LocalLlama | RemoteOpenAI:
    """The backend the config asks for (``chat.backend``), with model ``model`` or the default.

    ``reuse``: the backend in use now. If it already holds this model with the same settings it
    is returned with its adapter switched in place (a persona switch costs no model load);
    otherwise a new backend is returned and closing the old one is the caller's business.
    """
    if cfg["chat.backend"] == "remote":
        from ragterm.config import remote_api_key

        url = cfg["remote.url"]
        if not url:
            raise ModelError(
                "chat.backend is 'remote' but remote.url is not set",
                hint="ragterm config set remote.url http://localhost:8080/v1",
            )
        name = model or cfg["remote.model"]
        if isinstance(reuse, RemoteOpenAI) and (reuse.url, reuse.model) == (url.rstrip("/"), name):
            return reuse
        return RemoteOpenAI(
            url,
            model=name,
            api_key=remote_api_key(cfg),
            timeout=cfg["remote.timeout"],
            n_ctx=cfg["chat.context_length"],
        )
    from ragterm.engine.models import resolve_path

    name = model or cfg["chat.model"]
    path = resolve_path(name, conn)
    settings = (cfg["chat.context_length"], cfg["chat.threads"], cfg["chat.gpu_layers"])
    if (
        isinstance(reuse, LocalLlama)
        and reuse.llm is not None
        and reuse.path.resolve() == Path(path).resolve()
        and reuse.settings == settings
    ):
        reuse.set_adapter(lora_path, lora_scale)
        reuse.name = name
        return reuse
    return LocalLlama(
        path,
        name=name,
        n_ctx=cfg["chat.context_length"],
        threads=cfg["chat.threads"],
        gpu_layers=cfg["chat.gpu_layers"],
        lora_path=lora_path,
        lora_scale=lora_scale,
    )
