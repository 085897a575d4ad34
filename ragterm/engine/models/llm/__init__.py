"""The loaded chat model: render a conversation with the model's own template, count its tokens,
and stream an answer. Backends (local llama.cpp, a remote OpenAI-compatible server) share one
Protocol so the chat logic above never cares which one answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragterm.config import remote_api_key
from ragterm.engine.models.llm.backend_base import CHATML, Backend, Message, SamplingParams
from ragterm.engine.models.llm.cpu_threads import physical_cores
from ragterm.engine.models.llm.local_backend import LocalLlama
from ragterm.engine.models.llm.remote_backend import RemoteOpenAI
from ragterm.engine.models.registry import resolve_path
from ragterm.errors import ModelError

__all__ = [
    "CHATML",
    "Backend",
    "LocalLlama",
    "Message",
    "RemoteOpenAI",
    "SamplingParams",
    "open_backend",
    "physical_cores",
]


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
