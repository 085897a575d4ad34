"""Conversations: sessions and their messages."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ragterm.errors import RagtermError
from ragterm.store.db import Connection


@dataclass
class Session:
    id: int
    title: str
    model: str
    persona: str | None
    system_prompt: str | None
    created_at: float
    updated_at: float
    n_messages: int = 0


@dataclass
class StoredMessage:
    id: int
    session_id: int
    role: str
    content: str
    sent: str | None = None
    status: str = "ok"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    grounding: str | None = None  # sources | nothing_found | no_rag (answers only)

    @property
    def as_sent(self) -> str:
        """The text the model saw for this turn: prompts stay byte-identical across turns."""
        return self.sent if self.sent is not None else self.content


def _session(r: Any) -> Session:
    return Session(
        r["id"],
        r["title"],
        r["model"],
        r["persona"],
        r["system_prompt"],
        r["created_at"],
        r["updated_at"],
        r["n"] if "n" in r.keys() else 0,
    )


def create_session(
    conn: Connection,
    *,
    title: str = "",
    model: str = "",
    persona: str | None = None,
    system_prompt: str | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO sessions(title, model, persona, system_prompt) VALUES (?, ?, ?, ?)",
        (title, model, persona, system_prompt),
    )
    return int(cur.lastrowid)


def get_session(conn: Connection, session_id: int) -> Session:
    r = conn.execute(
        "SELECT s.*, (SELECT count(*) FROM messages m WHERE m.session_id = s.id) AS n "
        "FROM sessions s WHERE id = ?",
        (session_id,),
    ).fetchone()
    if r is None:
        raise RagtermError(
            f"no conversation with id {session_id}", hint="list them with /sessions in the chat"
        )
    return _session(r)


def list_sessions(conn: Connection, query: str = "", limit: int = 200) -> list[Session]:
    sql = (
        "SELECT s.*, (SELECT count(*) FROM messages m WHERE m.session_id = s.id) AS n "
        "FROM sessions s"
    )
    args: list[Any] = []
    if query:
        sql += (
            " WHERE s.title LIKE ? OR EXISTS (SELECT 1 FROM messages m WHERE "
            "m.session_id = s.id AND m.content LIKE ?)"
        )
        args += [f"%{query}%", f"%{query}%"]
    sql += " ORDER BY s.updated_at DESC, s.id DESC LIMIT ?"
    args.append(limit)
    return [_session(r) for r in conn.execute(sql, args)]


def rename_session(conn: Connection, session_id: int, title: str) -> None:
    conn.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))


def delete_session(conn: Connection, session_id: int) -> None:
    conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


def update_session(conn: Connection, session_id: int, **values: Any) -> None:
    allowed = {"title", "model", "persona", "system_prompt"}
    sets = {k: v for k, v in values.items() if k in allowed}
    cols = ", ".join(f"{k} = ?" for k in sets)
    conn.execute(
        f"UPDATE sessions SET {cols + ', ' if cols else ''}updated_at = ? WHERE id = ?",
        (*sets.values(), time.time(), session_id),
    )


def add_message(
    conn: Connection,
    session_id: int,
    role: str,
    content: str,
    *,
    sent: str | None = None,
    status: str = "ok",
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    timings: dict[str, float] | None = None,
    sources: list[dict[str, Any]] | None = None,
    evidence: list[dict[str, Any]] | None = None,
    grounding: str | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO messages(session_id, role, content, sent, status, prompt_tokens, "
        "completion_tokens, timings, sources, evidence, grounding) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            session_id,
            role,
            content,
            sent,
            status,
            prompt_tokens,
            completion_tokens,
            json.dumps(timings) if timings else None,
            json.dumps(sources) if sources else None,
            json.dumps(evidence) if evidence else None,
            grounding,
        ),
    )
    return int(cur.lastrowid)


def messages(conn: Connection, session_id: int) -> list[StoredMessage]:
    return [
        StoredMessage(
            id=r["id"],
            session_id=r["session_id"],
            role=r["role"],
            content=r["content"],
            sent=r["sent"],
            status=r["status"],
            prompt_tokens=r["prompt_tokens"],
            completion_tokens=r["completion_tokens"],
            timings=json.loads(r["timings"] or "{}"),
            sources=json.loads(r["sources"] or "[]"),
            created_at=r["created_at"],
            evidence=json.loads(r["evidence"] or "[]"),
            grounding=r["grounding"],
        )
        for r in conn.execute(
            "SELECT * FROM messages WHERE session_id = ? ORDER BY id", (session_id,)
        )
    ]


def delete_messages_from(
    conn: Connection, session_id: int, message_id: int, *, before: int | None = None
) -> None:
    """Forget ``message_id`` and everything after it, up to (not including) ``before``
    (regenerate, edit: the replaced exchange, not its replacement)."""
    if before is None:
        conn.execute(
            "DELETE FROM messages WHERE session_id = ? AND id >= ?", (session_id, message_id)
        )
    else:
        conn.execute(
            "DELETE FROM messages WHERE session_id = ? AND id >= ? AND id < ?",
            (session_id, message_id, before),
        )


def delete_messages(conn: Connection, ids: list[int]) -> None:
    conn.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])


def update_message(conn: Connection, message_id: int, **values: Any) -> None:
    """Change an answer as it streams and when it ends (content, status, tokens, timings)."""
    allowed = {"content", "status", "prompt_tokens", "completion_tokens", "timings"}
    allowed |= {"evidence", "grounding"}
    sets = {k: v for k, v in values.items() if k in allowed}
    for key in ("timings", "evidence"):
        if key in sets:
            sets[key] = json.dumps(sets[key]) if sets[key] else None
    if not sets:
        return
    cols = ", ".join(f"{k} = ?" for k in sets)
    conn.execute(f"UPDATE messages SET {cols} WHERE id = ?", (*sets.values(), message_id))


def export_markdown(conn: Connection, session_id: int) -> str:
    s = get_session(conn, session_id)
    out = [f"# {s.title or 'Conversation'}", "", f"_model: {s.model}_", ""]
    for m in messages(conn, session_id):
        who = {"user": "You", "assistant": "Assistant", "system": "System"}[m.role]
        mark = " (cancelled)" if m.status == "cancelled" else ""
        out += [f"## {who}{mark}", "", m.content, ""]
        if m.sources:
            out += [
                "Sources:",
                *[f"- [{i}] {src.get('citation', '')}" for i, src in enumerate(m.sources, 1)],
                "",
            ]
    return "\n".join(out)
