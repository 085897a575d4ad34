"""`ragterm mcp`: the index as a Model Context Protocol server over stdio.

Coding agents and chat apps (Claude Desktop, oterm, Open WebUI, ...) reach local knowledge through
MCP; this gives them ragterm's index: hybrid search with citations, grounded answers with evidence
lines, the collections and their health, and exact lines of indexed files. Built on the official
SDK (``mcp.server.mcpserver.MCPServer``); nothing here speaks the protocol by hand.

Read-only unless started with ``--allow-index`` (then an ``index`` tool). A question asked here is
answered like ``ragterm ask`` but not saved among your chats (its history lives in memory).
stdout is the protocol: the SDK points file descriptor 1 at stderr while it serves, and every
failure comes back as a tool error whose text is the one-line message and hint, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from ragterm import __version__
from ragterm.engine.index import collection_service
from ragterm.engine.retrieve.hits import Hit
from ragterm.errors import RagtermError

log = logging.getLogger("ragterm.mcp")
F = TypeVar("F", bound=Callable[..., Any])
INSTRUCTIONS = (
    "ragterm searches the user's own indexed files (notes, documents, code) offline. Use `search` "
    "for ranked excerpts with file:line citations, `read_lines` to read around a hit, `ask` for "
    "an answer from the files with its evidence lines, `list_collections` and `index_status` to "
    "see what is indexed."
)


def hit_dict(h: Hit) -> dict[str, Any]:
    """A hit as tools return it: where it is (path, lines or page, citation) and its text."""
    return {
        "path": h.path,
        "rel_path": h.rel_path,
        "collection": h.collection,
        "citation": h.citation(),
        "start_line": h.start_line,
        "end_line": h.end_line,
        "page": h.page,
        "heading": h.heading,
        "score": round(h.score, 4),
        "text": h.text,
    }


class _Search:
    """Retrieval for ``ask``, optionally in one collection (a ``chat.Retrieve`` callable)."""

    def __init__(self, retriever: Any, threshold: float | None, only: list[str] | None) -> None:
        self.retriever = retriever
        self.threshold = threshold
        self.only = only

    def __call__(self, query: str, k: int) -> list[Hit]:
        return list(self.retriever.search(query, k=k, gate=self.threshold, collections=self.only))

    @property
    def embedder(self) -> Any:
        return self.retriever.embedder


class Service:
    """The state behind the tools: one database connection, the retriever, the chat model
    (loaded on the first ``ask`` and kept). One call at a time: the SDK runs each tool in a
    worker thread, and the model and the connection are used by one thread at a time."""

    def __init__(self, cfg: Any) -> None:
        # lazy: the server starts before the engine loads
        from ragterm.engine.connection import connect

        self.cfg = cfg
        self.conn = connect()
        self.lock = threading.Lock()
        self._retriever: Any = None
        self._conv: Any = None  # a Conversation whose backend is reused by each ask

    def retriever(self) -> Any:
        # lazy: the server starts before the engine loads
        from ragterm.engine.retrieve.hybrid_search import Retriever, has_index

        if not has_index(self.conn):
            raise RagtermError(
                "nothing is indexed yet", hint="index a folder: ragterm index ~/notes"
            )
        if self._retriever is None:
            self._retriever = Retriever(self.conn, cfg=self.cfg)
        return self._retriever

    def search(self, query: str, k: int, collection: str | None) -> list[Hit]:
        _check_k(k)
        only = [collection] if collection else None
        return list(self.retriever().search(query, k=k, collections=only))

    def ask(self, question: str, k: int | None, collection: str | None) -> dict[str, Any]:
        # lazy: the server starts before the engine loads
        from ragterm.engine.answer.conversation import Conversation, open_conversation
        from ragterm.engine.connection import connect
        from ragterm.engine.events import Done
        from ragterm.engine.retrieve.hybrid_search import has_index

        if k is not None:
            _check_k(k)
        if not question.strip():
            raise RagtermError("the question is empty", hint="ask something")
        if self._conv is None:
            self._conv = open_conversation(self.cfg, self.conn)
        base = self._conv
        # a fresh conversation per question, its history in memory: not among the user's chats
        memory = connect(":memory:")
        conv = Conversation(
            base.backend, memory, self.cfg, persona=base.persona, model_name=base.model_name
        )
        retrieve = None
        if has_index(self.conn):
            threshold = self.cfg["rag.threshold"] or None
            retrieve = _Search(self.retriever(), threshold, [collection] if collection else None)
        done: Done | None = None
        for ev in conv.send(question, retrieve=retrieve, k=k):
            if isinstance(ev, Done):
                done = ev
        if done is None or done.status == "error":
            raise RagtermError((done.error if done else None) or "the model gave no answer")
        return {
            "answer": done.content,
            "status": done.status,
            "grounding": done.grounding,
            "citations": done.citations,
            "attributed": done.attributed,
            "unsupported": done.unsupported,
            "bare_citation": done.bare,
            "prompted_name": done.prompted_name,
            "sources": [hit_dict(h) for h in done.sources],
            "evidence": [e.to_dict() for e in done.evidence],
            "notes": done.notes,
            "model": conv.model_name,
        }

    def index(self, path: str) -> dict[str, Any]:
        # lazy: the server starts before the engine loads
        from ragterm.engine.events import IndexFinished
        from ragterm.engine.index.pipeline import index_paths

        target = Path(path).expanduser()
        if not target.exists():
            raise RagtermError(f"{path}: no such file or folder", hint="give an absolute path")
        out = []
        for ev in index_paths(self.conn, [target], cfg=self.cfg):
            if isinstance(ev, IndexFinished) and ev.collection != "*":
                out.append(
                    {
                        "collection": ev.collection,
                        "counts": ev.counts,
                        "seconds": round(ev.seconds, 2),
                        "skipped": [{"path": p, "reason": r} for p, r in ev.skipped[:50]],
                        "notes": ev.notes,
                    }
                )
        self._retriever = None  # new chunks (and maybe the first): open the index afresh
        return {"indexed": out}


def _check_k(k: int) -> None:
    if not 1 <= k <= 100:
        raise RagtermError(f"k must be from 1 to 100, not {k}")


def _one_line(exc: RagtermError) -> str:
    text = f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message
    return " ".join(text.split())


def build(cfg: Any, *, allow_index: bool = False, debug: bool = False) -> MCPServer:
    """The server with its tools; ``index`` only when ``allow_index`` (it writes the index)."""
    svc = Service(cfg)
    server = MCPServer(
        "ragterm",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="DEBUG" if debug else "WARNING",
    )

    def tool(fn: F) -> F:
        """One call at a time; a RagtermError (or a full disk, a damaged database) becomes a tool
        error with its one-line message, anything else a one-line internal error."""

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            # lazy: the server starts before the engine loads
            from ragterm.cli.common import as_user_error

            with svc.lock:
                try:
                    return fn(*args, **kwargs)
                except RagtermError as exc:
                    raise ToolError(_one_line(exc)) from None
                except Exception as exc:
                    known = as_user_error(exc)
                    if known is not None:
                        raise ToolError(_one_line(known)) from None
                    log.debug("tool %s failed", fn.__name__, exc_info=True)  # stderr, --debug
                    raise ToolError(
                        " ".join(f"internal error: {type(exc).__name__}: {exc}".split())
                        + " (run `ragterm --debug mcp` to see the traceback on stderr)"
                    ) from None

        server.add_tool(run)
        return fn

    @tool
    def search(
        query: Annotated[str, Field(description="what to look for, in plain words")],
        k: Annotated[int, Field(description="how many hits (1-100)")] = 5,
        collection: Annotated[
            str | None, Field(description="only this collection (see list_collections)")
        ] = None,
    ) -> dict[str, Any]:
        """Search the user's indexed files (hybrid keyword + vector search). Each hit has the
        file's path, its lines (or PDF page), a `citation` like notes/wifi.md:12-20, a score
        and the text."""
        return {"hits": [hit_dict(h) for h in svc.search(query, k, collection)]}

    @tool
    def ask(
        question: Annotated[str, Field(description="the question")],
        k: Annotated[int | None, Field(description="excerpts retrieved (1-100)")] = None,
        collection: Annotated[str | None, Field(description="only this collection")] = None,
    ) -> dict[str, Any]:
        """Answer a question from the user's indexed files with the local model. Returns the
        answer, the sources it was given, the citation numbers it used, evidence lines quoted
        verbatim from the files (file:line), and grounding: sources, nothing_found, no_index."""
        return svc.ask(question, k, collection)

    @tool
    def list_collections() -> dict[str, Any]:
        """The indexed folders: name, root folder, files, chunks, skipped files."""
        found = collection_service.list_collections(svc.conn)
        return {
            "collections": [
                {
                    "name": c.name,
                    "root": c.root,
                    "files": c.files,
                    "chunks": c.chunks,
                    "skipped": c.skipped,
                    "indexed_at": c.indexed_at,
                }  # fmt: skip
                for c in found
            ]
        }

    @tool
    def read_lines(
        path: Annotated[str, Field(description="absolute, or relative to a collection's root")],
        start: Annotated[int, Field(description="first line, 1-based")] = 1,
        end: Annotated[int | None, Field(description="last line (inclusive)")] = None,
    ) -> dict[str, Any]:
        """Lines of a file inside an indexed folder, as it is now (at most 500 per call), to
        read around a search hit. Files outside the indexed folders (also through symbolic
        links) and secrets are refused."""
        got = collection_service.read_lines(svc.conn, svc.cfg, path, start, end)
        return {**got.__dict__, "citation": got.citation()}

    @tool
    def index_status() -> dict[str, Any]:
        """The index's health: the embedding model, chunks still without vectors, each
        collection, and files that need attention (skipped, failed, pending, changed on disk)."""
        st = collection_service.status(svc.conn)
        return {
            "embed_model": st.embed_model,
            "embed_dim": st.embed_dim,
            "chunks_without_vectors": st.chunks_without_vectors,
            "collections": list_collections()["collections"],
            "files_needing_attention": [f.__dict__ for f in st.files[:200]],
        }

    if allow_index:

        @tool
        def index(
            path: Annotated[str, Field(description="a folder or file to index or update")],
        ) -> dict[str, Any]:
            """Index a folder (or update it: only changed files are read again). Returns each
            collection's counts (new, updated, unchanged, deleted, skipped, failed)."""
            return svc.index(path)

    return server


def serve(cfg: Any, *, allow_index: bool = False, debug: bool = False) -> None:
    """Serve on stdin/stdout until the client closes them."""
    build(cfg, allow_index=allow_index, debug=debug).run("stdio")
