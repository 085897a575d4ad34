"""Personas: trained LoRA adapters with their base-model fingerprint, prompt and metrics.

A row exists only for a persona that finished training and passed its llama.cpp smoke test; runs
in progress or cancelled live as checkpoints in the persona's folder until they finish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ragterm.store.db import Connection


@dataclass
class Persona:
    name: str
    base_model: str
    base_fingerprint: str
    adapter_path: str
    system_prompt: str = ""
    data_summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    status: str = "ready"
    created_at: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)  # the training run's settings
    merged_path: str | None = None  # merged full GGUF (``--merge``)


def _row(r: Any) -> Persona:
    keys = r.keys()
    return Persona(
        name=r["name"],
        base_model=r["base_model"],
        base_fingerprint=r["base_fingerprint"],
        adapter_path=r["adapter_path"],
        system_prompt=r["system_prompt"],
        data_summary=json.loads(r["data_summary"] or "{}"),
        metrics=json.loads(r["metrics"] or "{}"),
        status=r["status"],
        created_at=r["created_at"],
        params=json.loads(r["params"] or "{}") if "params" in keys else {},
        merged_path=r["merged_path"] if "merged_path" in keys else None,
    )


def get(conn: Connection, name: str) -> Persona | None:
    r = conn.execute("SELECT * FROM personas WHERE name = ?", (name,)).fetchone()
    return _row(r) if r else None


def list_all(conn: Connection) -> list[Persona]:
    return [_row(r) for r in conn.execute("SELECT * FROM personas ORDER BY name")]


def save(conn: Connection, p: Persona) -> None:
    """Insert or replace by name (training a persona again replaces it)."""
    conn.execute(
        "INSERT INTO personas(name, base_model, base_fingerprint, adapter_path, system_prompt, "
        "data_summary, metrics, status, params, merged_path) VALUES (?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET "
        "base_model=excluded.base_model, base_fingerprint=excluded.base_fingerprint, "
        "adapter_path=excluded.adapter_path, system_prompt=excluded.system_prompt, "
        "data_summary=excluded.data_summary, metrics=excluded.metrics, status=excluded.status, "
        "params=excluded.params, merged_path=excluded.merged_path, "
        "created_at=unixepoch('subsec')",
        (
            p.name,
            p.base_model,
            p.base_fingerprint,
            p.adapter_path,
            p.system_prompt,
            json.dumps(p.data_summary),
            json.dumps(p.metrics),
            p.status,
            json.dumps(p.params),
            p.merged_path,
        ),
    )


def delete(conn: Connection, name: str) -> bool:
    return conn.execute("DELETE FROM personas WHERE name = ?", (name,)).rowcount > 0
