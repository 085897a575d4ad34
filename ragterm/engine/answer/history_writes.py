"""The writes that keep a conversation's history true while an answer streams.

The question and an empty answer marked "cancelled" are written before the model starts
(``begin``), the answer so far every second (``save_progress``), and the final answer with its
status at the end (``finish``): a killed process leaves the partial answer, marked; a failed one
is removed again with its question (``discard``), leaving the history as it was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from ragterm.engine.answer.prompt import Plan
from ragterm.engine.events import Done, Token
from ragterm.errors import RagtermError
from ragterm.store import chats
from ragterm.store.db import Connection, is_sqlite_error, storage_error, transaction
from ragterm.store.lock import db_file

PROGRESS_S = 1.0  # how often a streaming answer is saved (what survives a kill)


@dataclass
class Draft:
    """The rows of the turn being answered (written before the model starts)."""

    session_id: int
    user_id: int
    answer_id: int
    created_session: bool


def guarded(conn: Connection, write: Callable[..., Any], *args: Any) -> Any:
    """Run a history write; sqlite failures (disk full, read-only) become a StorageError."""
    try:
        return write(*args)
    except Exception as exc:
        if is_sqlite_error(exc):
            try:
                where: Any = db_file(conn) or "(memory)"
            except Exception:  # noqa: BLE001 - the first error is the one to report
                where = "history"
            raise storage_error(exc, where) from exc
        raise


def begin(
    conn: Connection,
    session_id: int | None,
    question: str,
    p: Plan,
    model_name: str,
    persona: str | None,
    system_prompt: str,
) -> Draft:
    """Store the question and an empty answer marked cancelled before the model starts: if
    the process dies mid-answer, the question and the part written so far stay, marked.
    ``session_id=None`` creates the session, titled by the question."""
    sources = [h.to_dict() for h in p.hits]
    with transaction(conn):
        created = session_id is None
        if session_id is None:
            session_id = chats.create_session(
                conn,
                title=question.splitlines()[0][:60],
                model=model_name,
                persona=persona,
                system_prompt=system_prompt,
            )
        user_id = chats.add_message(
            conn,
            session_id,
            "user",
            question,
            sent=p.user_sent if p.user_sent != question else None,
            sources=sources,
        )
        answer_id = chats.add_message(
            conn, session_id, "assistant", "", status="cancelled", sources=sources
        )
    return Draft(session_id, user_id, answer_id, created)


def save_progress(conn: Connection, draft: Draft, pieces: list[str]) -> None:
    """Save the answer so far (still marked cancelled); a failure here waits for the end."""
    try:
        with transaction(conn):
            chats.update_message(conn, draft.answer_id, content="".join(pieces))
    except Exception as exc:
        if not is_sqlite_error(exc):
            raise


def discard(conn: Connection, draft: Draft) -> None:
    """A failed answer leaves the history as it was before the question."""
    with transaction(conn):
        chats.delete_messages(conn, [draft.user_id, draft.answer_id])
        if draft.created_session:
            chats.delete_session(conn, draft.session_id)


def finish(
    conn: Connection, draft: Draft, done: Done, replace_from: int | None, model_name: str
) -> None:
    """The final answer, and (edit, regenerate) the end of the exchange it replaces: one
    transaction, so the old exchange goes only when the new one is stored."""
    with transaction(conn):
        if replace_from is not None:
            chats.delete_messages_from(conn, draft.session_id, replace_from, before=draft.user_id)
        chats.update_message(conn, draft.user_id, prompt_tokens=done.prompt_tokens)
        chats.update_message(
            conn,
            draft.answer_id,
            content=done.content,
            status=done.status,
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
            timings=done.timings,
            evidence=[e.to_dict() for e in done.evidence],
            grounding=done.grounding,
        )
        chats.update_session(conn, draft.session_id, model=model_name)
    done.message_id = draft.answer_id


def stream_saved(
    conn: Connection,
    stream: Iterator[str],
    draft: Draft,
    pieces: list[str],
    cancel: threading.Event | None,
) -> Generator[Token, None, tuple[str, str | None]]:
    """Yield the answer's pieces, saving them every PROGRESS_S; (status, error) at the end."""
    status, error = "ok", None
    saved_at = time.monotonic()
    try:
        for piece in stream:
            pieces.append(piece)
            yield Token(piece)
            if cancel is not None and cancel.is_set():
                break
            if time.monotonic() - saved_at >= PROGRESS_S:
                save_progress(conn, draft, pieces)
                saved_at = time.monotonic()
    except RagtermError as exc:
        status, error = "error", exc.message
    except KeyboardInterrupt:
        status = "cancelled"
    except GeneratorExit:  # the caller went away: keep what was written, marked
        if hasattr(stream, "close"):
            stream.close()
        save_progress(conn, draft, pieces)
        raise
    finally:
        close = getattr(stream, "close", None)
        if close is not None:  # releases the model now and records a partial answer's stats
            close()
    if status == "ok" and cancel is not None and cancel.is_set():
        status = "cancelled"
    return status, error
