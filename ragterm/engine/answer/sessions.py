"""Saved conversations as the front ends use them: list, search, rename, delete, export.

A service over ``store/chats`` (elia's ``ChatsManager`` habit): screens and commands call these
functions with a connection and get dataclasses back; none of them runs SQL. A conversation in
progress (its prompt, stream and persistence) is ``engine.answer.conversation.Conversation``.
"""

from __future__ import annotations

from pathlib import Path

from ragterm.errors import RagtermError
from ragterm.store import chats
from ragterm.store.chats import Session, StoredMessage
from ragterm.store.db import Connection

__all__ = [
    "Session",
    "StoredMessage",
    "delete",
    "export",
    "export_markdown",
    "list_sessions",
    "messages",
    "rename",
    "set_system_prompt",
    "user_history",
]


def list_sessions(conn: Connection, query: str = "") -> list[Session]:
    """Most recent first; ``query`` filters by title and message text."""
    return chats.list_sessions(conn, query)


def messages(conn: Connection, session_id: int) -> list[StoredMessage]:
    return chats.messages(conn, session_id)


def user_history(conn: Connection, session_id: int) -> list[str]:
    """The questions asked in a session, oldest first (the input box's Up/Down history)."""
    return [m.content for m in chats.messages(conn, session_id) if m.role == "user"]


def rename(conn: Connection, session_id: int, title: str) -> None:
    chats.rename_session(conn, session_id, title)


def delete(conn: Connection, session_id: int) -> None:
    chats.delete_session(conn, session_id)


def set_system_prompt(conn: Connection, session_id: int, text: str) -> None:
    chats.update_session(conn, session_id, system_prompt=text)


def export_markdown(conn: Connection, session_id: int) -> str:
    return chats.export_markdown(conn, session_id)


def export(conn: Connection, session_id: int, path: Path) -> Path:
    """Write the session as Markdown to ``path``; a ``RagtermError`` names a file not written."""
    try:
        path.write_text(chats.export_markdown(conn, session_id), encoding="utf-8")
    except OSError as exc:
        raise RagtermError(f"cannot write {path}: {exc.strerror}", hint="/export FILE") from None
    return path
