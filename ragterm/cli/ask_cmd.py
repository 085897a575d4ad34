"""`ragterm ask`: one question, the answer streamed to stdout, sources after it."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import click
from rich.markup import escape

from ragterm.cli.common import err_console, load_config, open_db
from ragterm.engine.thread_bridge import in_thread


@click.command()
@click.argument("question", nargs=-1, required=True)
@click.option("--no-rag", is_flag=True, help="Do not search the indexed folders.")
@click.option("-f", "--file", "files", multiple=True, metavar="FILE",
              help="Attach a file (whole if it fits; repeat for more). Not indexed.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print answer, sources, timings as JSON.")
@click.option("--session", "session_id", type=int, help="Continue conversation ID.")
@click.option("--model", help="Model name or GGUF path (default: chat.model).")
@click.option("--persona", help="Answer as this persona ('off' for none).")
@click.option("--system", help="System prompt for a new conversation.")
@click.option("-k", "top_k", type=click.IntRange(1, 100), help="Retrieved chunks (rag.top_k).")
@click.option("--temperature", type=click.FloatRange(0, 5))
@click.option("--max-tokens", type=click.IntRange(1, 65536))
@click.option("--seed", type=int)
def ask(
    question: tuple[str, ...],
    no_rag: bool,
    files: tuple[str, ...],
    as_json: bool,
    session_id: int | None,
    model: str | None,
    persona: str | None,
    system: str | None,
    top_k: int | None,
    temperature: float | None,
    max_tokens: int | None,
    seed: int | None,
) -> None:
    """Answer QUESTION ('-' reads it from stdin), citing indexed files it used.

    With -f FILE the question is about those files: each goes into the prompt whole when it fits
    (else its parts most related to the question), and the index is not searched.
    """
    # lazy: the engine (llama.cpp, fastembed) loads when a question is asked, not for --help
    from ragterm.engine.answer import attached_files
    from ragterm.engine.answer.conversation import make_retriever, open_conversation
    from ragterm.engine.events import Done, Retrieved, Token, Trimmed
    from ragterm.errors import GenerationError

    text = " ".join(question)
    if text.strip() == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise GenerationError("the question is empty", hint='ragterm ask "your question"')
    cfg = load_config()
    t0 = time.monotonic()
    attached = [attached_files.load(f, max_mb=float(cfg["index.max_file_mb"])) for f in files]
    attach_s = time.monotonic() - t0  # reading, parsing and fitting the files (not the model)
    conn = open_db()
    # the embedding model and the vector index load in a thread while the chat model loads
    early = None if (no_rag or attached) else make_retriever(conn, cfg)
    if early is not None:
        early.preload()
    try:
        conv = open_conversation(
            cfg, conn, model=model, persona=persona, session_id=session_id, system_prompt=system
        )
    except BaseException:
        if early is not None:
            early.wait_preload()  # not exiting while onnxruntime loads in the thread
        raise
    fitted = None
    if attached:
        t0 = time.monotonic()
        fitted = attached_files.fit(attached, text, conv, max_tokens=max_tokens)
        attach_s += time.monotonic() - t0
    retrieve = None if (no_rag or fitted) else (early or make_retriever(conn, cfg))
    cancel = threading.Event()
    deadline: list[float] = []  # set by Ctrl-C: the model has this long to stop

    def generate() -> Iterator[Any]:
        return conv.send(
            text,
            cancel=cancel,
            retrieve=retrieve,
            hits=fitted.hits if fitted is not None else None,
            rag=not no_rag,
            k=top_k,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        )

    def interrupted() -> bool:
        if deadline:
            return False  # the second Ctrl-C aborts
        cancel.set()
        deadline.append(time.monotonic() + 10)
        return True

    def check_deadline() -> None:
        # a model stuck mid-prompt must not hold the terminal
        if deadline and time.monotonic() > deadline[0]:
            err_console.print("[yellow]cancelled — the model did not stop in time[/]")
            raise click.exceptions.Exit(130)

    done: Done | None = None
    events = in_thread(
        generate, name="ragterm-ask", on_interrupt=interrupted, on_poll=check_deadline
    )
    while True:
        try:
            for ev in events:
                if isinstance(ev, Done):
                    done = ev
                elif cancel.is_set():
                    continue  # after Ctrl-C only the saved partial answer is shown
                elif isinstance(ev, Retrieved) and ev.nothing_found and not as_json:
                    err_console.print(
                        "[yellow]nothing in your indexed folders is about this — answering "
                        "from the model's general knowledge[/]"
                    )
                elif isinstance(ev, Token) and not as_json:
                    sys.stdout.write(ev.text)
                    sys.stdout.flush()
                elif isinstance(ev, Trimmed):
                    err_console.print(f"[dim]note: {ev.message}[/]")
            break
        except KeyboardInterrupt:  # Ctrl-C while printing, not while waiting
            if not interrupted():
                raise
    conv.backend.close()
    if done is None:
        return
    if done.status == "error":
        raise GenerationError(done.error or "generation failed")
    notes = [*done.notes, *(fitted.notes if fitted is not None else [])]
    if fitted is not None:
        done.timings["attach_s"] = round(attach_s, 3)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "answer": done.content,
                    "status": done.status,
                    "session_id": done.session_id,
                    "sources": [h.to_dict() for h in done.sources],
                    "evidence": [e.to_dict() for e in done.evidence],
                    "citations": done.citations,
                    "attributed": done.attributed,
                    "unsupported": done.unsupported,
                    "bare_citation": done.bare,
                    "prompted_name": done.prompted_name,
                    "invalid_citations": done.invalid_citations,
                    "unquoted": done.unquoted,
                    "miscited": [m.__dict__ for m in done.miscited],
                    "grounding": done.grounding,
                    "assembly": done.assembly,
                    "notes": notes,
                    "attached": [f.to_dict() for f in fitted.files] if fitted else [],
                    "timings": done.timings,
                    "tokens": {"prompt": done.prompt_tokens, "completion": done.completion_tokens},
                },
                indent=2,
            )
        )
        if done.status == "cancelled":
            raise click.exceptions.Exit(130)
        return
    sys.stdout.write("\n")
    sys.stdout.flush()  # the answer's last line before the notes on stderr, not "[1]note:"
    for note in notes:
        err_console.print(f"[yellow]note: {escape(note)}[/]")
    if done.evidence:
        click.echo("\nEvidence (quoted from your files):")
        for e in done.evidence:
            click.echo(f"  [{e.source}] {e.citation()}" + (f"  ({e.heading})" if e.heading else ""))
            if e.context:
                click.echo(f"      {e.context}")
            click.echo(f"      “{e.text}”" + (f"  — {e.note}" if e.note else ""))
    if done.sources:
        click.echo("\nSources:")
    for i, h in enumerate(done.sources, 1):
        click.echo(f"[{i}] {h.citation()}" + ("  (attached)" if h.attached else ""))
    err_console.print(
        f"[dim]session {done.session_id} · {done.completion_tokens} tokens · "
        f"{done.timings.get('tokens_per_s', 0):.1f} tok/s[/]"
    )
    if done.status == "cancelled":
        err_console.print("[yellow]cancelled — the partial answer was saved[/]")
        raise click.exceptions.Exit(130)
