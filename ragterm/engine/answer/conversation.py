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
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import replace
from typing import Any

from ragterm.engine.answer import assembly, history_writes
from ragterm.engine.answer.model_adapters import load_persona, rag_adapter_path
from ragterm.engine.answer.prompt import (
    NAME_IT,
    Budget,
    Plan,
    plan,
)
from ragterm.engine.answer.turn import (
    NAME_IT_TOKENS,
    Ask,
    Quotes,
    Turn,
    checked_answer,
    merged_stats,
    name_request,
    trimmed,
)
from ragterm.engine.events import Done, Retrieved, Token, Trimmed
from ragterm.engine.models.llm import Backend, Message, SamplingParams, open_backend
from ragterm.engine.models.registry import resolve_path
from ragterm.engine.retrieve import evidence, query_rewrite
from ragterm.engine.retrieve.hits import Hit

# make_retriever lives in retrieve/index_search.py; callers have long imported it from here
from ragterm.engine.retrieve.index_search import IndexSearch as IndexSearch
from ragterm.engine.retrieve.index_search import make_retriever as make_retriever
from ragterm.errors import RagtermError
from ragterm.store import chats
from ragterm.store.db import Connection

Retrieve = Callable[[str, int], list[Hit]]
Event = Retrieved | Trimmed | Token | Done


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
        self.last_rewrite: Any = (
            None  # the last turn's search query (engine.retrieve.query_rewrite.Rewrite)
        )
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

    def _hits(self, ask: Ask, asm: assembly.Assembly) -> list[Hit]:
        pinned = list(ask.pinned)
        hits, retrieve = ask.hits, ask.retrieve
        self.last_rewrite = None
        if hits is None:
            use = self.cfg["rag.enabled"] if ask.rag is None else ask.rag
            k, hits = ask.k or self.cfg["rag.top_k"], []
            if use and retrieve:
                self.last_rewrite = self._standalone(ask.text)
                query = self.last_rewrite.query
                if isinstance(retrieve, IndexSearch):
                    # an extractive answer quotes a line: a chunk brought in for one matching
                    # line wins the quote, right or not (docs/benchmarks.md, "the candidates'
                    # lines")
                    hits = retrieve(query, k, read_lines=asm.generates)
                else:
                    hits = retrieve(query, k)
        skip = set(ask.excluded) | {h.chunk_id for h in pinned}
        return pinned + [h for h in hits if h.chunk_id not in skip]

    def _standalone(self, text: str) -> Any:
        """The follow-up as a standalone search query (rag.rewrite; query_rewrite says how)."""

        turns: list[tuple[str, str]] = []
        for m in self._stored():
            if m.role == "user":
                turns.append((m.content, ""))
            elif m.role == "assistant" and turns:
                turns[-1] = (turns[-1][0], m.content)
        return query_rewrite.standalone(text, turns[-2:], self.cfg["rag.rewrite"], self.backend)

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
            rules=(asm := asm or self.source_assembly()).rules,
            layout=asm.layout,
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
                Ask(text.strip(), cancel, retrieve, hits, rag, k, pinned, excluded, sampling)
            )
        finally:
            self._replace_from = None

    def _send(self, ask: Ask) -> Iterator[Event]:
        """The steps of a turn: sources, the prompt, what was found and left out, the stored
        draft, the streamed answer, the checked and saved result."""
        text, cancel, hits = ask.text, ask.cancel, ask.hits
        use_rag = self.cfg["rag.enabled"] if ask.rag is None else ask.rag
        t = self._prepare(ask)
        searched = hits is None and bool(use_rag and ask.retrieve)
        rw = self.last_rewrite
        query, rewrite = (rw.query, rw.method) if rw is not None else ("", "none")
        yield Retrieved(
            t.plan.hits, evidence=t.quotes, searched=searched, query=query, rewrite=rewrite
        )
        left_out = trimmed(t.plan)
        if left_out is not None:
            yield left_out
        switch = getattr(self.backend, "use_adapter", None)
        if self.persona is None and switch is not None:
            # retrieval adapter for sources (when the assembly wants it); general chat: bare
            switch(bool(t.plan.hits) and t.asm.adapter)
        draft = self._guard(self._begin, text, t.plan)
        pieces: list[str] = []
        stream = (
            iter([assembly.extract(t.quotes)])
            if t.extractive
            else self.backend.stream(t.plan.messages, t.params, cancel)
        )
        status, error = yield from self._stream(stream, draft, pieces, cancel)
        stats = {} if t.extractive else self.backend.last_stats()
        again = name_request(t, "".join(pieces), text, self.backend) if status == "ok" else None
        if again is not None:  # the answer only restated the question: have it name the thing
            pieces.append(NAME_IT)
            yield Token(NAME_IT)
            room = replace(t.params, max_tokens=min(t.params.max_tokens, NAME_IT_TOKENS))
            room.stop = [*room.stop, "\n\n"]
            rest = self.backend.stream(t.plan.messages, room, cancel, prefix=again)
            status, error = yield from self._stream(rest, draft, pieces, cancel)
            stats = merged_stats(stats, self.backend.last_stats())
        grounding = (
            "sources" if t.plan.hits
            else "nothing_found" if searched
            else "no_index" if use_rag and hits is None
            else "no_rag"
        )  # fmt: skip
        done = checked_answer(t, "".join(pieces), status, error, grounding, stats, text)
        if status == "error":
            self._guard(self._discard, draft)
        else:
            self._guard(self._finish, draft, done)
            if t.plan.history_start:
                # keep this window start for the next turns: their prompts extend this one
                start = t.plan.history_start
                first = t.stored[start] if start < len(t.stored) else None
                self._window_start_id = first.id if first else self._last_user_id
        done.session_id = self.session_id
        yield done

    def _prepare(self, ask: Ask) -> Turn:
        """Sources (searched or given), their evidence lines, and the prompt that fits."""
        asm = self.source_assembly()
        found = self._hits(ask, asm)
        units: list[Any] = []
        if found and (self.cfg["rag.evidence"] or asm.lines or asm.order == "evidence"):
            asked = self.last_rewrite.query if self.last_rewrite is not None else ask.text
            units = evidence.rank(asked, found, getattr(ask.retrieve, "embedder", None))
            found = evidence.as_sent(found, units, order=asm.order, lines=asm.lines)
        params = SamplingParams.from_config(self.cfg, **ask.sampling)
        p, stored = self._plan(ask.text, found, params.max_tokens, asm)
        params.max_tokens = p.max_tokens
        k_quotes = self.cfg["rag.evidence"] or (0 if asm.generates else 1)
        quotes = Quotes(units, p.hits, k_quotes, self.cfg.get("index.follow_symlinks", "inside"))
        extractive = bool(p.hits) and not asm.generates
        return Turn(p, stored, asm, params, quotes.for_question(), extractive, quotes.backing)

    def _stream(
        self,
        stream: Iterator[str],
        draft: history_writes.Draft,
        pieces: list[str],
        cancel: threading.Event | None,
    ) -> Generator[Token, None, tuple[str, str | None]]:
        return history_writes.stream_saved(self.conn, stream, draft, pieces, cancel)

    def _guard(self, write: Callable[..., Any], *args: Any) -> Any:
        return history_writes.guarded(self.conn, write, *args)

    def _begin(self, question: str, p: Plan) -> history_writes.Draft:
        persona = getattr(self.persona, "name", None)
        draft = history_writes.begin(
            self.conn, self.session_id, question, p, self.model_name, persona, self.system_prompt
        )
        self.session_id = draft.session_id
        return draft

    def _discard(self, draft: history_writes.Draft) -> None:
        history_writes.discard(self.conn, draft)
        if draft.created_session:
            self.session_id = None

    def _finish(self, draft: history_writes.Draft, done: Done) -> None:
        history_writes.finish(self.conn, draft, done, self._replace_from, self.model_name)
        self._last_user_id = draft.user_id

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
