"""A conversation: history from SQLite + retrieval + prompt budget + streaming + persistence.

``Conversation.send`` is an iterator of events (Retrieved, Trimmed, Token, Done); the CLI prints
them and the TUI turns them into messages. The question and an empty answer marked "cancelled" are
written when the answer starts, the answer so far every second, and the final answer with its
status at the end: a killed process leaves the partial answer, marked; a failed one leaves the
history as it was.

Typical use::

    conv = open_conversation(cfg, conn)                # loads the model (or reuse=old_backend)
    for ev in conv.send("question", cancel=event, retrieve=make_retriever(conn, cfg)):
        ...                                            # Retrieved, Trimmed?, Token..., Done
    conv.budget_preview("next question")               # what the next turn would spend
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragterm.engine import assembly, evidence
from ragterm.engine.events import Done, Hit, Retrieved, Token, Trimmed
from ragterm.engine.llm import Backend, Message, SamplingParams, open_backend
from ragterm.engine.models import bundled_chat_path, resolve_path
from ragterm.engine.prompt import (
    Budget,
    Plan,
    check_citations,
    check_quote_sources,
    check_quotes,
    plan,
)
from ragterm.engine.tune import personas
from ragterm.errors import RagtermError
from ragterm.store import chats
from ragterm.store.db import Connection, is_sqlite_error, storage_error, transaction

Retrieve = Callable[[str, int], list[Hit]]
Event = Retrieved | Trimmed | Token | Done
PROGRESS_S = 1.0  # how often a streaming answer is saved (what survives a kill)


@dataclass
class _Draft:
    """The rows of the turn being answered (written before the model starts)."""

    session_id: int
    user_id: int
    answer_id: int
    created_session: bool


class Conversation:
    """One conversation with one backend; turns are appended to the session in SQLite.

    ``session_id=None`` starts a new session on the first answer. The system prompt comes from
    ``system_prompt``, else the stored session, else the persona, else ``chat.system_prompt``.
    Not thread-safe: one ``send`` at a time (``budget_preview`` may run beside it).
    """

    def __init__(
        self,
        backend: Backend,
        conn: Connection,
        cfg: Any,
        *,
        session_id: int | None = None,
        system_prompt: str | None = None,
        persona: Any = None,
        model_name: str = "",
    ) -> None:
        self.backend = backend
        self.conn = conn
        self.cfg = cfg
        self.persona = persona
        self.model_name = model_name or backend.name
        self.session_id = session_id
        self._window_start_id: int | None = None  # first message id inside the context window
        self._last_user_id: int | None = None
        self._replace_from: int | None = None  # during a regenerate/edit: the exchange replaced
        self.last_rewrite: Any = None  # the last turn's search query (engine.rewrite.Rewrite)
        stored_system = None
        if session_id is not None:
            session = chats.get_session(conn, session_id)
            stored_system = session.system_prompt
        self.system_prompt = (
            system_prompt
            if system_prompt is not None
            else stored_system
            if stored_system is not None
            else (
                persona.system_prompt
                if persona is not None and persona.system_prompt
                else cfg["chat.system_prompt"]
            )
        )

    # -- history -------------------------------------------------------------------------------

    def _stored(self) -> list[chats.StoredMessage]:
        if self.session_id is None:
            return []
        cut = self._replace_from
        return [
            m
            for m in chats.messages(self.conn, self.session_id)
            if m.status != "error" and (cut is None or m.id < cut)
        ]

    def history(self) -> list[Message]:
        """Past turns exactly as the model saw them (failed answers are not part of it)."""
        return [{"role": m.role, "content": m.as_sent} for m in self._stored()]

    def _hits(
        self,
        text: str,
        *,
        hits: list[Hit] | None,
        retrieve: Retrieve | None,
        rag: bool | None,
        k: int | None,
        pinned: Iterable[Hit],
        excluded: Iterable[int],
    ) -> list[Hit]:
        pinned = list(pinned)
        self.last_rewrite = None
        if hits is None:
            use = self.cfg["rag.enabled"] if rag is None else rag
            query = text
            if use and retrieve:
                self.last_rewrite = self._standalone(text)
                query = self.last_rewrite.query
            hits = retrieve(query, k or self.cfg["rag.top_k"]) if (use and retrieve) else []
        skip = set(excluded) | {h.chunk_id for h in pinned}
        return pinned + [h for h in hits if h.chunk_id not in skip]

    def _standalone(self, text: str) -> Any:
        """The follow-up as a standalone search query (rag.rewrite; engine.rewrite says how)."""
        from ragterm.engine import rewrite

        turns: list[tuple[str, str]] = []
        for m in self._stored():
            if m.role == "user":
                turns.append((m.content, ""))
            elif m.role == "assistant" and turns:
                turns[-1] = (turns[-1][0], m.content)
        return rewrite.standalone(text, turns[-2:], self.cfg["rag.rewrite"], self.backend)

    def budget_preview(
        self, text: str, *, hits: list[Hit] | None = None, max_tokens: int | None = None
    ) -> Budget:
        """What the next turn would spend, without sending it (for the context meter).

        Raises GenerationError when ``text`` alone cannot fit the context window.
        """
        return self._plan(text or " ", hits or [], max_tokens)[0].budget

    def source_assembly(self) -> assembly.Assembly:
        """How this conversation sends sources to its model (``rag.assembly``)."""
        return assembly.choose(self.cfg, self.backend)

    def _plan(
        self,
        text: str,
        hits: list[Hit],
        max_tokens: int | None,
        asm: assembly.Assembly | None = None,
    ) -> tuple[Plan, list[chats.StoredMessage]]:
        stored = self._stored()
        start = 0
        if self._window_start_id is not None:
            start = next(
                (i for i, m in enumerate(stored) if m.id >= self._window_start_id), len(stored)
            )
        p = plan(
            self.backend,
            self.system_prompt,
            [{"role": m.role, "content": m.as_sent} for m in stored],
            text,
            hits,
            max_tokens or self.cfg["chat.max_tokens"],
            context_share=self.cfg["rag.context_share"],
            start=start,
            rules=(asm or self.source_assembly()).rules,
        )
        return p, stored

    # -- a turn --------------------------------------------------------------------------------

    def send(
        self,
        text: str,
        *,
        cancel: threading.Event | None = None,
        retrieve: Retrieve | None = None,
        hits: list[Hit] | None = None,
        rag: bool | None = None,
        k: int | None = None,
        pinned: Iterable[Hit] = (),
        excluded: Iterable[int] = (),
        replace_from: int | None = None,
        **sampling: Any,
    ) -> Iterator[Event]:
        """Answer ``text``: yields Retrieved, then Trimmed if anything was left out, Token per
        piece, and Done last (also after a cancel or an error, with its status).

        Hits: ``hits`` as given, else ``retrieve(text, k or rag.top_k)`` when ``rag`` (default
        ``rag.enabled``); ``pinned`` hits go first, chunk ids in ``excluded`` are left out.
        ``sampling``: per-call overrides of SamplingParams fields (``temperature=0``, ...).
        Raises GenerationError before any event for an empty or too long question. The question
        and the answer are saved as the answer streams (see the module docstring); an answer
        that ends in status "error" is removed again, with its question.
        ``replace_from``: a message id of this session; that message and the ones after it are
        left out of the prompt and deleted in the transaction that saves the new answer (edit,
        regenerate), so a failed answer leaves the history as it was (and a killed one keeps
        both, the new partial answer marked).
        """
        self._replace_from = replace_from
        try:
            yield from self._send(
                text.strip(),
                cancel=cancel,
                retrieve=retrieve,
                hits=hits,
                rag=rag,
                k=k,
                pinned=pinned,
                excluded=excluded,
                sampling=sampling,
            )
        finally:
            self._replace_from = None

    def _send(
        self,
        text: str,
        *,
        cancel: threading.Event | None,
        retrieve: Retrieve | None,
        hits: list[Hit] | None,
        rag: bool | None,
        k: int | None,
        pinned: Iterable[Hit],
        excluded: Iterable[int],
        sampling: dict[str, Any],
    ) -> Iterator[Event]:
        found = self._hits(
            text, hits=hits, retrieve=retrieve, rag=rag, k=k, pinned=pinned, excluded=excluded
        )
        use_rag = self.cfg["rag.enabled"] if rag is None else rag
        searched = hits is None and bool(use_rag and retrieve)
        asm = self.source_assembly()
        units: list[Any] = []
        if found and (self.cfg["rag.evidence"] or asm.lines or asm.order == "evidence"):
            asked = self.last_rewrite.query if self.last_rewrite is not None else text
            units = evidence.rank(asked, found, getattr(retrieve, "embedder", None))
            found = evidence.as_sent(found, units, order=asm.order, lines=asm.lines)
        params = SamplingParams.from_config(self.cfg, **sampling)
        p, stored = self._plan(text, found, params.max_tokens, asm)
        params.max_tokens = p.max_tokens
        quotes = []
        k_quotes = self.cfg["rag.evidence"] or (0 if asm.generates else 1)
        if units and k_quotes:
            quotes = evidence.select(
                units, p.hits, k=k_quotes,
                follow_symlinks=self.cfg.get("index.follow_symlinks", "inside"),
            )  # fmt: skip
        rw = self.last_rewrite
        yield Retrieved(
            p.hits,
            evidence=quotes,
            searched=searched,
            query=rw.query if rw is not None else "",
            rewrite=rw.method if rw is not None else "none",
        )
        if p.budget.dropped_turns or p.budget.dropped_chunks:
            parts = []
            if p.budget.dropped_turns:
                parts.append(f"{p.budget.dropped_turns} oldest exchange(s)")
            if p.budget.dropped_chunks:
                parts.append(f"{p.budget.dropped_chunks} lower-ranked excerpt(s)")
            yield Trimmed(
                p.budget.dropped_turns,
                p.budget.dropped_chunks,
                "left out to fit the context window: " + " and ".join(parts),
            )
        switch = getattr(self.backend, "use_adapter", None)
        if self.persona is None and switch is not None:
            # retrieval adapter for sources (when the assembly wants it); general chat: bare
            switch(bool(p.hits) and asm.adapter)
        draft = self._guard(self._begin, text, p)
        pieces: list[str] = []
        status, error = "ok", None
        saved_at = time.monotonic()
        extractive = bool(p.hits) and not asm.generates
        stream = (
            iter([assembly.extract(quotes)])
            if extractive
            else self.backend.stream(p.messages, params, cancel)
        )
        try:
            for piece in stream:
                pieces.append(piece)
                yield Token(piece)
                if cancel is not None and cancel.is_set():
                    break
                if time.monotonic() - saved_at >= PROGRESS_S:
                    self._progress(draft, pieces)
                    saved_at = time.monotonic()
        except RagtermError as exc:
            status, error = "error", exc.message
        except KeyboardInterrupt:
            status = "cancelled"
        except GeneratorExit:  # the caller went away: keep what was written, marked
            if hasattr(stream, "close"):
                stream.close()
            self._progress(draft, pieces)
            raise
        finally:
            close = getattr(stream, "close", None)
            if close is not None:  # releases the model now and records a partial answer's stats
                close()
        if status == "ok" and cancel is not None and cancel.is_set():
            status = "cancelled"
        cited = check_citations("".join(pieces), len(p.hits))
        stats = {} if extractive else self.backend.last_stats()
        done = Done(
            content=cited.text,
            status=status,
            prompt_tokens=int(stats.get("prompt_tokens", 0)),
            completion_tokens=int(stats.get("completion_tokens", 0)),
            timings={k: v for k, v in stats.items() if k.endswith(("_s", "per_s"))},
            sources=p.hits,
            error=error,
            evidence=quotes,
            citations=cited.valid,
            invalid_citations=cited.invalid,
            unquoted=check_quotes(cited.text, [h.text for h in p.hits]) if p.hits else [],
            miscited=check_quote_sources(cited.text, [h.text for h in p.hits]) if p.hits else [],
            grounding=(
                "sources"
                if p.hits
                else "nothing_found"
                if searched
                else "no_index"
                if use_rag and hits is None
                else "no_rag"
            ),
            assembly=asm.name if p.hits else "",
        )
        if status == "error":
            self._guard(self._discard, draft)
        else:
            self._guard(self._finish, draft, done)
            if p.history_start:
                # keep this window start for the next turns: their prompts extend this one
                first = stored[p.history_start] if p.history_start < len(stored) else None
                self._window_start_id = first.id if first else self._last_user_id
        done.session_id = self.session_id
        yield done

    def _guard(self, write: Callable[..., Any], *args: Any) -> Any:
        """Run a history write; sqlite failures (disk full, read-only) become a StorageError."""
        try:
            return write(*args)
        except Exception as exc:
            if is_sqlite_error(exc):
                from ragterm.store.lock import db_file

                try:
                    where: Any = db_file(self.conn) or "(memory)"
                except Exception:  # noqa: BLE001 - the first error is the one to report
                    where = "history"
                raise storage_error(exc, where) from exc
            raise

    def _begin(self, question: str, p: Plan) -> _Draft:
        """Store the question and an empty answer marked cancelled before the model starts: if
        the process dies mid-answer, the question and the part written so far stay, marked."""
        sources = [h.to_dict() for h in p.hits]
        with transaction(self.conn):
            created = self.session_id is None
            if self.session_id is None:
                self.session_id = chats.create_session(
                    self.conn,
                    title=question.splitlines()[0][:60],
                    model=self.model_name,
                    persona=getattr(self.persona, "name", None),
                    system_prompt=self.system_prompt,
                )
            user_id = chats.add_message(
                self.conn,
                self.session_id,
                "user",
                question,
                sent=p.user_sent if p.user_sent != question else None,
                sources=sources,
            )
            answer_id = chats.add_message(
                self.conn, self.session_id, "assistant", "", status="cancelled", sources=sources
            )
        return _Draft(self.session_id, user_id, answer_id, created)

    def _progress(self, draft: _Draft, pieces: list[str]) -> None:
        """Save the answer so far (still marked cancelled); a failure here waits for the end."""
        try:
            with transaction(self.conn):
                chats.update_message(self.conn, draft.answer_id, content="".join(pieces))
        except Exception as exc:
            if not is_sqlite_error(exc):
                raise

    def _discard(self, draft: _Draft) -> None:
        """A failed answer leaves the history as it was before the question."""
        with transaction(self.conn):
            chats.delete_messages(self.conn, [draft.user_id, draft.answer_id])
            if draft.created_session:
                chats.delete_session(self.conn, draft.session_id)
        if draft.created_session:
            self.session_id = None

    def _finish(self, draft: _Draft, done: Done) -> None:
        """The final answer, and (edit, regenerate) the end of the exchange it replaces: one
        transaction, so the old exchange goes only when the new one is stored."""
        with transaction(self.conn):
            if self._replace_from is not None:
                chats.delete_messages_from(
                    self.conn, draft.session_id, self._replace_from, before=draft.user_id
                )
            chats.update_message(self.conn, draft.user_id, prompt_tokens=done.prompt_tokens)
            chats.update_message(
                self.conn,
                draft.answer_id,
                content=done.content,
                status=done.status,
                prompt_tokens=done.prompt_tokens,
                completion_tokens=done.completion_tokens,
                timings=done.timings,
                evidence=[e.to_dict() for e in done.evidence],
                grounding=done.grounding,
            )
            chats.update_session(self.conn, draft.session_id, model=self.model_name)
        self._last_user_id = draft.user_id
        done.message_id = draft.answer_id

    def last_question(self) -> chats.StoredMessage | None:
        """The last question of this session (what regenerate and edit replace)."""
        if self.session_id is None:
            return None
        msgs = chats.messages(self.conn, self.session_id)
        return next((m for m in reversed(msgs) if m.role == "user"), None)

    def regenerate(self, **kwargs: Any) -> Iterator[Event]:
        """Answer the last question again. The old exchange is replaced only when the new answer
        is saved (also a cancelled, marked one); after an error it is still there."""
        last_user = self.last_question()
        if last_user is None:
            raise RagtermError("nothing to regenerate yet", hint="ask something first")
        return self.send(last_user.content, replace_from=last_user.id, **kwargs)


def load_persona(conn: Connection, name: str, model_path: Any, model_name: str = "") -> Any:
    """The stored persona ``name``, refused if it was trained on another base model."""
    p = personas.get(conn, name)
    if model_path is not None:
        personas.check_base(p, model_path, model_name)
    return p


RAG_ADAPTER_FILE = "rag-smollm2-135m.gguf"


def rag_adapter_path(cfg: Any, model_path: Path | None) -> str | None:
    """The LoRA adapter that teaches the model to answer from sources (``rag.adapter``).

    ``auto``: the adapter shipped in the package, for the bundled model only (an adapter fits the
    base it was trained on); ``off``: none; anything else: a GGUF LoRA adapter path.
    """
    setting = cfg["rag.adapter"]
    if setting == "off" or model_path is None:
        return None
    if setting != "auto":
        given = Path(setting).expanduser()
        if not given.is_file():
            raise RagtermError(
                f"rag.adapter {setting!r} is not a file",
                hint="set rag.adapter to auto, off, or the path of a GGUF LoRA adapter",
            )
        return str(given)

    try:
        if Path(model_path).resolve() != bundled_chat_path().resolve():
            return None
    except RagtermError:
        return None
    shipped = Path(__file__).resolve().parent.parent / "adapters" / RAG_ADAPTER_FILE
    return str(shipped) if shipped.is_file() else None


class IndexSearch:
    """Retrieval over the index as a ``Retrieve`` callable; its embedder also scores evidence."""

    def __init__(self, retriever: Any, threshold: float | None) -> None:
        self.retriever = retriever
        self.threshold = threshold

    def __call__(self, query: str, k: int) -> list[Hit]:
        return self.retriever.search(query, k=k, threshold=self.threshold)

    def preload(self) -> None:
        """Load the embedding model and the vector index in a thread (Retriever.preload)."""
        self.retriever.preload()

    def wait_preload(self) -> None:
        self.retriever.wait_preload()

    @property
    def embedder(self) -> Any:
        return self.retriever.embedder


def make_retriever(conn: Connection, cfg: Any) -> IndexSearch | None:
    """A retrieval callable over the index, or None when nothing is indexed (or no index code)."""
    try:
        from ragterm.engine import retrieval
    except ImportError:
        return None
    if not retrieval.has_index(conn):
        return None
    threshold = cfg["rag.threshold"]
    return IndexSearch(retrieval.Retriever(conn, cfg=cfg), threshold or None)


def open_conversation(
    cfg: Any,
    conn: Connection,
    *,
    model: str | None = None,
    persona: str | None = None,
    session_id: int | None = None,
    system_prompt: str | None = None,
    reuse: Backend | None = None,
) -> Conversation:
    """Load the model (with the persona's adapter) and open or continue a conversation.

    Pass the current backend as ``reuse`` when switching: the same model is kept loaded and only
    its LoRA adapter changes. If the returned ``conv.backend`` is not ``reuse``, close ``reuse``.
    """

    persona_name = persona if persona is not None else (cfg["chat.persona"] or None)
    if session_id is not None:
        s = chats.get_session(conn, session_id)
        model = model or s.model or None
        persona_name = persona if persona is not None else s.persona
    model_name = model or cfg["chat.model"]
    p = None
    path = resolve_path(model_name, conn) if cfg["chat.backend"] == "local" else None
    if persona_name and persona_name != "off":
        p = load_persona(conn, persona_name, path, model_name)
    # a persona's adapter replaces the retrieval adapter (llama.cpp applies one here)
    lora = p.adapter_path if p is not None else rag_adapter_path(cfg, path)
    backend = open_backend(cfg, model=model_name, conn=conn, lora_path=lora, reuse=reuse)
    return Conversation(
        backend,
        conn,
        cfg,
        session_id=session_id,
        system_prompt=system_prompt,
        persona=p,
        model_name=model_name,
    )
