"""What the chat screen does, without Textual: the state machine behind send, stream, cancel,
regenerate, edit, switch model or conversation, and the settings a slash command changes.

``ChatScreen`` owns the widgets and the workers; it asks this class what to do and shows the
result. Tests drive it directly, with the real model and no pilot (tests/tui/test_chat_controller).
Methods marked *blocking* run in a worker thread; the rest are quick and run on the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragterm.engine.answer import assembly, sessions
from ragterm.engine.answer.conversation import Conversation, make_retriever, open_conversation
from ragterm.engine.answer.sessions import Session, StoredMessage
from ragterm.engine.events import Done
from ragterm.engine.index import collection_service
from ragterm.engine.retrieve import query_rewrite
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import RagtermError
from ragterm.tui.attachments import Attachments

BUSY = "an answer is being written (Esc cancels it)"
LOADING = "the model is still loading"


@dataclass
class Turn:
    """One answer being written: what was asked and how."""

    text: str
    regenerate: bool
    replace_from: int | None  # /edit: the stored exchange from this message is replaced
    cancel: threading.Event
    fitted: Any = (
        None  # engine.answer.attached_files.Fitted: the attached files as sent with this answer
    )

    @property
    def replaces(self) -> bool:
        """True when a stored exchange goes once this answer is stored (regenerate or edit)."""
        return self.regenerate or self.replace_from is not None


class ChatController:
    """One chat screen's conversation and settings. ``conn`` may be a ``PerThreadConnection``."""

    def __init__(
        self,
        cfg: Any,
        conn: Any,
        *,
        model: str | None = None,
        persona: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.conn = conn
        self.model_name: str = model or cfg["chat.model"]
        self.persona_name: str | None = (
            persona if persona is not None else (cfg["chat.persona"] or None)
        )
        self.conv: Conversation | None = None
        self.rag: bool = bool(cfg["rag.enabled"])
        self.k: int = int(cfg["rag.top_k"])
        self.pinned: dict[int, Hit] = {}  # chunk_id -> Hit, always sent (inspector "p")
        self.excluded: set[int] = set()  # chunk ids never sent (inspector "x")
        self.edit_from: int | None = None  # /edit: the next question replaces from this message
        self.turn: Turn | None = None  # the answer being written
        self.attachments = Attachments()  # /attach: while any, they are the sources
        self._retrieve: Callable[..., list[Hit]] | None = None
        self._retrieve_ready = False

    # -- the model -----------------------------------------------------------------------------

    def load(self, model: str, persona: str | None, session_id: int | None) -> Conversation:
        """*Blocking.* A conversation on ``model``; the current backend is reused when it holds
        that model already (a persona switch then changes only the adapter)."""
        reuse = self.conv.backend if self.conv is not None else None
        return open_conversation(
            self.cfg,
            self.conn,
            model=model,
            persona=persona or "off",
            session_id=session_id,
            reuse=reuse,
        )

    def loaded(self, conv: Conversation) -> None:
        """Use ``conv`` from now on; the old backend is closed unless ``conv`` reuses it."""
        old = self.conv
        self.conv = conv
        if old is not None and old.backend is not conv.backend:
            old.backend.close()
        self._retrieve_ready = False
        self.model_name = conv.model_name
        self.persona_name = getattr(conv.persona, "name", None)

    def switch(self, model: str, persona: str | None = None) -> tuple[str, str, int | None]:
        """(model, persona, session) to load for a switch; ``RagtermError`` while answering."""
        if self.generating:
            raise RagtermError("wait for the answer to finish (Esc cancels it)")
        self.model_name = model
        sid = self.conv.session_id if self.conv is not None else None
        return model, persona if persona is not None else (self.persona_name or "off"), sid

    # -- settings ------------------------------------------------------------------------------

    def set_rag(self, arg: str) -> bool:
        """``on``, ``off``, empty to toggle, or ``rewrite MODE`` (how follow-ups are searched)."""
        words = arg.split()
        if words[:1] == ["rewrite"]:
            mode = words[1] if len(words) > 1 else ""
            if mode not in query_rewrite.MODES:
                raise RagtermError(f"/rag rewrite takes one of {', '.join(query_rewrite.MODES)}",
                                   hint="/rag rewrite terms")  # fmt: skip
            self.cfg = self.cfg.with_overrides(**{"rag.rewrite": mode})
            if self.conv is not None:
                self.conv.cfg = self.conv.cfg.with_overrides(**{"rag.rewrite": mode})
        elif arg not in ("on", "off", ""):
            raise RagtermError(f"/rag takes on, off or rewrite MODE, not {arg!r}", hint="/rag on")
        else:
            self.rag = (not self.rag) if not arg else arg == "on"
        return self.rag

    def rag_text(self) -> str:
        """What /rag reports: retrieval on/off, chunks, how they are sent (the assembly for this
        model) and how follow-ups are searched."""
        backend = self.conv.backend if self.conv is not None else None
        asm = assembly.choose(self.cfg, backend)
        order = "best evidence first" if asm.order == "evidence" else "search order"
        return (
            f"retrieval {'on' if self.rag else 'off'}, {self.k} chunks ({order}); "
            f"sent as {asm.describe()}; " + query_rewrite.describe(self.cfg["rag.rewrite"], backend)
        )

    def set_k(self, arg: str) -> int:
        try:
            k = int(arg)
            if not 1 <= k <= 100:
                raise ValueError
        except ValueError:
            raise RagtermError(
                f"/k needs a number from 1 to 100, not {arg!r}", hint="/k 5"
            ) from None
        self.k = k
        return k

    def set_system_prompt(self, text: str) -> None:
        conv = self.require_conv()
        conv.system_prompt = text
        if conv.session_id is not None:
            sessions.set_system_prompt(self.conn, conv.session_id, text)

    def require_conv(self) -> Conversation:
        if self.conv is None:
            raise RagtermError(LOADING)
        return self.conv

    # -- answering -----------------------------------------------------------------------------

    @property
    def generating(self) -> bool:
        return self.turn is not None

    def begin(self, text: str, *, regenerate: bool = False) -> Turn:
        """Start an answer to ``text`` (or to the last question again); ``RagtermError`` if the
        model is loading or another answer is being written."""
        self.require_conv()
        if self.generating:
            raise RagtermError(BUSY)
        replace = None if regenerate else self.edit_from
        self.edit_from = None
        self.turn = Turn(text, regenerate, replace, threading.Event())
        return self.turn

    def events(self, turn: Turn) -> Iterator[Any]:
        """*Blocking.* The answer's events (``Retrieved``, ``Token``, ``Trimmed``, ``Done``);
        a ``RagtermError`` becomes a ``Done`` with status ``error``."""
        conv = self.require_conv()
        try:
            kwargs: dict[str, Any] = {
                "cancel": turn.cancel,
                "retrieve": self.retriever() if self.rag else None,
                "rag": self.rag,
                "k": self.k,
                "pinned": list(self.pinned.values()),
                "excluded": set(self.excluded),
            }
            if self.attachments:
                last = conv.last_question() if turn.regenerate else None
                asked = last.content if last is not None else turn.text
                turn.fitted = self.attachments.fit(asked, conv, kwargs["pinned"])
                kwargs.update(hits=turn.fitted.hits, retrieve=None)
            if turn.regenerate:
                yield from conv.regenerate(**kwargs)
            else:
                yield from conv.send(turn.text, replace_from=turn.replace_from, **kwargs)
        except RagtermError as exc:
            yield Done(content="", status="error", error=exc.message)

    def finished(self, done: Done) -> bool:
        """The answer ended; True when the stored conversation must be shown again (a failed
        regenerate or edit left the old exchange in place)."""
        turn, self.turn = self.turn, None
        return (
            done.status == "error"
            and turn is not None
            and turn.replaces
            and self.conv is not None
            and self.conv.session_id is not None
        )

    def cancel(self) -> bool:
        """Ask the answer being written to stop; False when there is none."""
        if self.turn is None:
            return False
        self.turn.cancel.set()
        return True

    def check_can_redo(self, what: str) -> Conversation:
        """The conversation, if there is a stored exchange to ``what`` (regenerate, edit)."""
        if self.conv is None or self.conv.session_id is None:
            raise RagtermError(f"nothing to {what} yet", hint="ask something first")
        if self.generating:
            raise RagtermError("an answer is being written", hint="Esc cancels it")
        return self.conv

    def start_edit(self) -> str:
        """/edit: the last question, to put back in the input; sending it replaces that
        exchange (only once the edited question gets its answer)."""
        conv = self.check_can_redo("edit")
        last = conv.last_question()
        if last is None:
            raise RagtermError("nothing to edit yet", hint="ask something first")
        self.edit_from = last.id
        return last.content

    # -- retrieval and the context meter -------------------------------------------------------

    def retriever(self) -> Callable[..., list[Hit]] | None:
        """*Blocking* the first time (opens the index); None when nothing is indexed."""
        if not self._retrieve_ready:
            self._retrieve = make_retriever(self.require_conv().conn, self.cfg)
            self._retrieve_ready = True
        return self._retrieve

    def index_changed(self) -> None:
        self._retrieve_ready = False

    def budget(self, text: str) -> tuple[Any, list[Hit]]:
        """*Blocking.* How the prompt for ``text`` would fill the context, and the hits in it."""
        conv = self.require_conv()
        hits: list[Hit] = []
        if self.attachments:
            hits = self.attachments.fit(text, conv, self.pinned.values()).hits
            return conv.budget_preview(text.strip() or "?", hits=hits), hits
        retrieve = self.retriever() if (self.rag and text.strip()) else None
        if retrieve is not None:
            hits = retrieve(text, self.k)
        return conv.budget_preview(text.strip() or "?", hits=hits), hits

    # -- conversations -------------------------------------------------------------------------

    def new_conversation(self, session_id: int | None = None) -> Conversation:
        """Start a new conversation, or continue a stored one, on the same backend."""
        if self.generating:
            raise RagtermError("wait for the answer to finish (Esc cancels it)")
        conv = self.require_conv()
        self.conv = Conversation(
            conv.backend,
            conv.conn,
            self.cfg,
            session_id=session_id,
            persona=conv.persona,
            model_name=conv.model_name,
        )
        self.edit_from = None
        self.pinned.clear()
        self.excluded.clear()
        return self.conv

    @property
    def session_id(self) -> int | None:
        return self.conv.session_id if self.conv is not None else None

    def sessions(self, query: str = "") -> list[Session]:
        return sessions.list_sessions(self.conn, query)

    def history(self) -> list[str]:
        """The questions of the current conversation (the input's Up/Down history)."""
        sid = self.session_id
        return sessions.user_history(self.conn, sid) if sid is not None else []

    def messages(self, session_id: int) -> list[StoredMessage]:
        return [m for m in sessions.messages(self.conn, session_id) if m.role != "system"]

    def rename(self, session_id: int, title: str) -> None:
        sessions.rename(self.conn, session_id, title)

    def delete(self, session_id: int) -> bool:
        """Delete a stored conversation; True when it was the current one (start a new one)."""
        current = self.session_id == session_id
        if current and self.generating:
            raise RagtermError("wait for the answer to finish")
        sessions.delete(self.conn, session_id)
        return current

    def export(self, arg: str) -> Path:
        """/export [FILE]: the conversation as Markdown (default: in the working folder)."""
        sid = self.session_id
        if sid is None:
            raise RagtermError("nothing to export yet", hint="ask something first")
        path = Path(arg).expanduser() if arg else Path.cwd() / f"ragterm-chat-{sid}.md"
        return sessions.export(self.conn, sid, path)

    # -- the index -----------------------------------------------------------------------------

    def collection_count(self) -> int:
        try:
            return collection_service.count(self.conn)
        except Exception:  # a damaged database must not stop the screen from opening
            return 0

    def collections_text(self) -> str:
        found = collection_service.list_collections(self.conn)
        return "\n".join(f"{c.name}: {c.root} ({c.files} files)" for c in found)
