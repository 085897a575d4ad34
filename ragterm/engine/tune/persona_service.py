"""Personas for the CLI and the TUI: train, list, choose, remove, export, compare.

Training itself is ``runner.start_training``; this module holds what the faces share so both say
the same thing (a persona for another base model is refused here, once).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ragterm import config, paths
from ragterm.engine.models.registry import fingerprint, resolve_path
from ragterm.engine.tune.runner import TrainingJob, TrainSpec, persona_dir, start_training
from ragterm.engine.tune.spec import check_name
from ragterm.errors import TuningError
from ragterm.store import personas
from ragterm.store.db import Connection
from ragterm.store.personas import Persona
from ragterm.units import number

__all__ = [
    "Persona",
    "check_base",
    "compare",
    "export",
    "find",
    "get",
    "list_personas",
    "remove",
    "report",
    "tune",
    "unfinished",
    "use",
]


def tune(spec: TrainSpec, *, cfg: Any = None, conn: Any = None) -> TrainingJob:
    """Start training (checks first, see ``runner.prepare``); iterate ``.events()``."""
    return start_training(spec, cfg=cfg, conn=conn)


def list_personas(conn: Connection) -> list[Persona]:
    return personas.list_all(conn)


def find(conn: Connection, name: str) -> Persona | None:
    """The persona ``name``, or None if there is none."""
    return personas.get(conn, name)


def get(conn: Connection, name: str) -> Persona:
    """The persona ``name`` or a ``TuningError`` listing the known ones."""
    p = personas.get(conn, name)
    if p is None:
        known = ", ".join(x.name for x in personas.list_all(conn)) or "none yet"
        hint = "train one with `ragterm persona tune NAME --data FILE`"
        if name in unfinished():
            hint = f"its training did not finish: `ragterm persona tune {name} --resume`"
        raise TuningError(f"unknown persona {name!r} (known: {known})", hint=hint)
    return p


def unfinished() -> list[str]:
    """Personas whose training was cancelled or crashed and can be resumed."""
    root = paths.adapters_dir()
    if not root.is_dir():
        return []
    return sorted(
        d.name for d in root.iterdir() if (d / "run" / "checkpoint" / "trainer_state.pt").is_file()
    )


def check_base(p: Persona, model_path: Path | str, model_name: str = "") -> None:
    """Refuse a persona trained on another base model: its adapter would load and talk nonsense."""

    if fingerprint(model_path) != p.base_fingerprint:
        current = f" {model_name!r}" if model_name else ""
        raise TuningError(
            f"persona {p.name!r} was trained for base model {p.base_model!r}, not the current "
            f"chat model{current}",
            hint=f"switch with `ragterm models default {p.base_model}`, or train the persona again",
        )
    if not Path(p.adapter_path).is_file():
        raise TuningError(
            f"the adapter of persona {p.name!r} is missing ({p.adapter_path})",
            hint=f"train it again or remove it (`ragterm persona rm {p.name}`)",
        )


def use(conn: Connection, name: str | None, *, cfg: Any = None) -> Persona | None:
    """Make ``name`` the default persona (config ``chat.persona``); None or "off" clears it."""

    if not name or name in ("off", "none"):
        config.unset_value("chat.persona")
        return None
    p = get(conn, name)
    cfg = cfg or config.load()
    model = cfg["chat.model"]
    if cfg["chat.backend"] == "local":
        check_base(p, resolve_path(model, conn), model)
    config.set_value("chat.persona", name)
    return p


def remove(conn: Connection, name: str) -> None:
    """Delete the persona's record, adapter and checkpoints (and unset it if it was the default)."""

    folder = persona_dir(name)  # validates the name: rmtree must never leave adapters_dir
    known = personas.get(conn, name) is not None
    if not known and not folder.exists():
        get(conn, name)  # raises with the known names
    personas.delete(conn, name)
    shutil.rmtree(folder, ignore_errors=True)
    if config.read_file().get("chat.persona") == name:
        config.unset_value("chat.persona")


def export(conn: Connection, name: str, dest: Path | str, *, merged: bool = False) -> Path:
    """Copy the persona's GGUF adapter (or merged model) to ``dest`` (a file or a folder)."""

    p = get(conn, check_name(name))
    src = Path(p.merged_path) if merged and p.merged_path else Path(p.adapter_path)
    if merged and not p.merged_path:
        raise TuningError(
            f"persona {name!r} has no merged model",
            hint=f"train it with --merge: `ragterm persona tune {name} --data FILE --merge`",
        )
    if not src.is_file():
        raise TuningError(f"{src} is missing", hint=f"train persona {name!r} again")
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / (f"{name}-{src.name}" if src.name == "adapter.gguf" else src.name)
    if dest.exists() and dest.samefile(src):
        return dest
    try:
        paths.ensure_dir(dest.parent)
        shutil.copyfile(src, dest)
    except OSError as exc:
        raise TuningError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    return dest


def report(p: Persona) -> list[tuple[str, str]]:
    """(label, value) rows describing a persona: data, training and held-out quality."""
    m, d, prm = p.metrics, p.data_summary, p.params

    rows = [
        ("base model", p.base_model),
        ("adapter", p.adapter_path),
        (
            "data",
            f"{d.get('path', '?')}: {d.get('train', '?')} training, "
            f"{d.get('validation', '?')} held-out examples",
        ),  # fmt: skip
        (
            "training",
            f"{m.get('steps', '?')} steps, rank {prm.get('rank', '?')}, alpha "
            f"{prm.get('alpha', '?')}, lr {prm.get('lr', '?')}, "
            f"{m.get('backend', '?')} on {m.get('device', '?')}, "
            f"{number(m.get('seconds'), '{:.0f}')} s",
        ),  # fmt: skip
        (
            "val loss",
            f"{number(m.get('val_loss'))} with the persona, "
            f"{number(m.get('base_val_loss'))} without",
        ),  # fmt: skip
        (
            "perplexity",
            f"{number(m.get('val_ppl'), '{:.2f}')} with the persona, "
            f"{number(m.get('base_val_ppl'), '{:.2f}')} without",
        ),  # fmt: skip
    ]
    if m.get("gguf_val_loss") is not None:
        rows.append(("llama.cpp loss", number(m["gguf_val_loss"]) + " (the exported adapter)"))
    if d.get("bad_lines"):
        rows.append(("skipped lines", f"{d['bad_lines']}: " + "; ".join(d.get("bad", []))))
    if p.merged_path:
        rows.append(("merged model", p.merged_path))
    if p.system_prompt:
        rows.append(("system prompt", p.system_prompt))
    return rows


def compare(
    conn: Connection,
    name: str,
    question: str,
    *,
    cfg: Any = None,
    max_tokens: int = 200,
) -> Iterator[tuple[str, str]]:
    """The same question answered by the base model and by the persona (greedy, side by side).

    Yields ("base", text) then ("persona", text), so a UI can show the first while the second runs.
    """
    # lazy: llama_cpp loads only when this runs
    import llama_cpp

    cfg = cfg or config.load()
    p = get(conn, name)
    model_path = resolve_path(p.base_model, conn)
    check_base(p, model_path, p.base_model)
    messages = [{"role": "user", "content": question}]
    if p.system_prompt:
        messages.insert(0, {"role": "system", "content": p.system_prompt})
    for label, lora in (("base", None), ("persona", p.adapter_path)):
        llm = llama_cpp.Llama(
            model_path=str(model_path), lora_path=lora, n_ctx=2048, verbose=False, seed=0
        )
        try:
            out = llm.create_chat_completion(messages, temperature=0.0, max_tokens=max_tokens)
            yield label, str(out["choices"][0]["message"]["content"] or "").strip()
        finally:
            llm.close()
