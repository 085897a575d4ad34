"""Health checks behind `ragterm doctor`: each says OK / WARN / FAIL and, when not OK, the fix."""

from __future__ import annotations

import importlib.util
import platform
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ragterm import config, paths
from ragterm.engine.embed import configured_name, load_embedder
from ragterm.engine.models.registry import read_gguf, resolve_path
from ragterm.errors import RagtermError
from ragterm.store.db import can_load_extensions, check_fts5, connect, schema_state, sqlite_info


@dataclass
class Check:
    name: str
    status: str  # OK | WARN | FAIL
    detail: str
    fix: str = ""


def check_python() -> Check:
    v = sys.version_info
    status = "OK" if v >= (3, 10) else "FAIL"
    return Check(
        "python",
        status,
        f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "" if status == "OK" else "install Python 3.10 or newer",
    )


def check_config() -> Check:

    try:
        config.load()
    except RagtermError as exc:
        return Check("config", "FAIL", exc.message, exc.hint or "")
    path = paths.config_file()
    return Check("config", "OK", f"{path}" + ("" if path.exists() else " (defaults, no file yet)"))


def check_llama() -> Check:
    try:
        # lazy: llama_cpp loads only when this runs
        import llama_cpp
    except ImportError as exc:
        return Check(
            "llama.cpp",
            "FAIL",
            f"llama-cpp-python not importable: {exc}",
            "pipx reinstall ragterm (needs a C++ compiler and cmake to build)",
        )
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    feats = []
    for part in info.replace(":", "|").split("|"):
        key, _, value = part.partition("=")
        if value.strip() == "1":
            feats.append(key.strip())
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    detail = (
        f"llama-cpp-python {llama_cpp.__version__}; GPU offload: {'yes' if gpu else 'no'}; "
        f"CPU features: {' '.join(feats) or 'baseline'}"
    )
    if gpu:
        return Check("llama.cpp", "OK", detail)
    return Check("llama.cpp", "OK", detail + " (CPU build)")


def check_sqlite() -> Check:
    try:
        conn = connect(":memory:")
        info = sqlite_info(conn)
        check_fts5(conn)
        conn.close()
    except RagtermError as exc:
        return Check("sqlite-vec", "FAIL", exc.message, exc.hint or "")
    except Exception as exc:
        return Check(
            "sqlite-vec",
            "FAIL",
            f"{type(exc).__name__}: {exc}",
            "pip install sqlean-py sqlite-vec into ragterm's environment",
        )
    why = "" if can_load_extensions(sqlite3) else " (this Python's sqlite3 cannot load extensions)"
    return Check(
        "sqlite-vec",
        "OK",
        f"sqlite-vec {info['sqlite_vec']} on SQLite {info['sqlite']} "
        f"via {info['module']}{why}; FTS5 ok",
    )


def check_chat_model() -> Check:

    try:
        name = config.load()["chat.model"]
        path = resolve_path(name)
        gi = read_gguf(path)
    except RagtermError as exc:
        return Check("chat model", "FAIL", exc.message, exc.hint or "")
    try:
        # lazy: llama_cpp loads only when this runs
        from llama_cpp import Llama

        llm = Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)
        llm.close()
    except Exception as exc:
        return Check(
            "chat model",
            "FAIL",
            f"{name}: llama.cpp cannot load {path}: {exc}",
            "download the model again or choose another: ragterm models default NAME",
        )
    return Check(
        "chat model",
        "OK",
        f"{name}: {gi.architecture} {gi.parameters} {gi.quantization},"
        f" context {gi.context_length}, loads",
    )


def check_embedder() -> Check:

    try:
        cfg = config.load()
        name = configured_name(cfg)
        emb = load_embedder(name, cfg=cfg)
        vec = emb.embed(["ragterm doctor"])
    except RagtermError as exc:
        return Check("embedding model", "FAIL", exc.message, exc.hint or "")
    return Check("embedding model", "OK", f"{name}: {vec.shape[1]} dimensions, embeds")


def check_database() -> Check:

    db = paths.db_path()
    try:
        conn = connect(db)
        version, mode = schema_state(conn)
        conn.close()
    except RagtermError as exc:
        return Check("database", "FAIL", exc.message, exc.hint or "")
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    return Check("database", "OK", f"{db} ({size / 1e6:.1f} MB, schema v{version}, {mode})")


def check_tuning() -> Check:
    have = {m: importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "peft")}
    missing = [m for m, ok in have.items() if not ok]
    if missing:
        return Check(
            "tuning",
            "WARN",
            f"missing {', '.join(missing)}: personas cannot be trained",
            "pipx install 'ragterm[tune]' (or pipx inject ragterm torch transformers peft)",
        )
    # lazy: torch loads only when this runs
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    unsloth = importlib.util.find_spec("unsloth") is not None
    device = "CUDA " + torch.cuda.get_device_name(0) if cuda else ("Apple MPS" if mps else "CPU")
    detail = (
        f"torch {torch.__version__} on {device}; PEFT ready; unsloth {'yes' if unsloth else 'no'}"
    )
    if cuda and not unsloth:
        return Check("tuning", "WARN", detail, "pipx inject ragterm unsloth  (faster GPU training)")
    return Check("tuning", "OK", detail)


CHECKS: list[Callable[[], Check]] = [
    check_python,
    check_config,
    check_llama,
    check_sqlite,
    check_database,
    check_chat_model,
    check_embedder,
    check_tuning,
]


def run_checks() -> Iterator[Check]:
    for fn in CHECKS:
        try:
            yield fn()
        except Exception as exc:  # a check must never crash the report
            yield Check(
                fn.__name__.removeprefix("check_"),
                "FAIL",
                f"{type(exc).__name__}: {exc}",
                "run `ragterm --debug doctor` and report it",
            )
