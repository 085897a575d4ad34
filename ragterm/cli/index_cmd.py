"""`ragterm index`: register folders, keep them indexed, and say what happened to every file."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from ragterm.cli.common import console, err_console, load_config, open_db
from ragterm.engine.thread_bridge import in_thread
from ragterm.errors import Cancelled, IndexingError
from ragterm.units import duration

MAX_REASONS = 20


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--list", "list_", is_flag=True, help="List the indexed collections.")
@click.option("--remove", multiple=True, metavar="NAME|PATH", help="Forget a collection.")
@click.option("--status", is_flag=True, help="Files that failed, were skipped or are stale.")
@click.option("--watch", is_flag=True, help="Keep indexing changes until Ctrl-C.")
@click.option("--reembed", is_flag=True, help="Embed everything again (new embedding model).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def index(
    paths: tuple[Path, ...],
    list_: bool,
    remove: tuple[str, ...],
    status: bool,
    watch: bool,
    reembed: bool,
    as_json: bool,
) -> None:
    """Index folders (or files) so search and chat can use them.

    Run it again to update: unchanged files cost nothing. Without PATH, every collection is
    updated. .gitignore and .ragtermignore are honoured; secrets, binaries and files over
    index.max_file_mb are skipped (see --status for why).
    """
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.index import collection_service

    conn = open_db()
    if remove:
        for name in remove:
            c = collection_service.remove(conn, name)
            console.print(f"removed collection {escape(c.name)} ({escape(c.root)})")
        return
    if list_:
        _print_list(collection_service.list_collections(conn), as_json)
        return
    if status:
        _print_status(conn, as_json)
        return
    cfg = load_config()
    targets = list(paths)
    if not targets:
        targets = [Path(c.root) for c in collection_service.list_collections(conn)]
        if not targets and not reembed:
            raise IndexingError(
                "nothing is indexed yet", hint="name a folder: ragterm index ~/notes"
            )
    results = _run(conn, targets, cfg, reembed=reembed, as_json=as_json)
    if not as_json:
        _print_report(results)
    if any(r.cancelled for r in results):
        raise Cancelled("the index is consistent; run the same command again to finish")
    if watch:
        _watch(conn, cfg, [Path(r.root) for r in results if r.root])


# --- running with a progress bar ----------------------------------------------------------------


class _Result:
    def __init__(self, finished: Any, root: str) -> None:
        self.name = finished.collection
        self.counts = finished.counts
        self.seconds = finished.seconds
        self.skipped = finished.skipped
        self.cancelled = finished.cancelled
        self.notes = finished.notes
        self.root = root
        self.problems: list[tuple[str, str, str]] = []  # (status, path, reason)


def _in_thread(produce: Callable[[threading.Event], Iterator[Any]]) -> Iterator[Any]:
    """Run the indexer in a worker so Ctrl-C asks it to stop between files (nothing half-done)."""
    cancel = threading.Event()

    def interrupted() -> bool:
        if cancel.is_set():
            return False  # the second Ctrl-C aborts
        cancel.set()
        err_console.print("stopping after the current batch… (Ctrl-C again to abort)")
        return True

    return in_thread(
        lambda: produce(cancel), name="ragterm-index", maxsize=1000, on_interrupt=interrupted
    )


def _run(
    conn: Any, targets: list[Path], cfg: Any, *, reembed: bool, as_json: bool, quiet: bool = False
) -> list[_Result]:
    # lazy: `ragterm --help` and tab completion stay fast
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ragterm.engine.embed import configured_name, load_embedder
    from ragterm.engine.events import EmbedProgress, FileDone, IndexFinished, IndexStarted
    from ragterm.engine.index.pipeline import index_paths

    def produce(cancel: threading.Event) -> Iterator[Any]:
        embedder = load_embedder(configured_name(cfg), cfg=cfg)
        return index_paths(conn, targets, cfg=cfg, embedder=embedder, cancel=cancel,
                           reembed=reembed)  # fmt: skip

    results: list[_Result] = []
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TextColumn("{task.fields[chunks]} chunks"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[eta]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json or quiet,
    )
    task = None
    root = ""
    problems: list[tuple[str, str, str]] = []
    with progress:
        for ev in _in_thread(produce):
            if isinstance(ev, IndexStarted):
                root = ev.root
                label = "re-embedding" if ev.collection == "*" else ev.collection
                task = progress.add_task(label, total=ev.files_total or None, chunks=0, rate="",
                                         eta="")  # fmt: skip
            elif isinstance(ev, FileDone):
                if ev.status in ("skipped", "failed"):
                    problems.append((ev.status, ev.path, ev.reason))
                if task is not None:
                    progress.advance(task)
                if as_json:
                    click.echo(json.dumps({"event": "file", **ev.__dict__}))
            elif isinstance(ev, EmbedProgress) and task is not None:
                eta = f"ETA {duration(ev.eta_s)}" if ev.eta_s is not None else ""
                progress.update(task, chunks=f"{ev.chunks_done}/~{ev.chunks_total}",
                                rate=f"{ev.chunks_per_s:.1f} chunks/s", eta=eta)  # fmt: skip
                if task is not None and not ev.files_total:
                    progress.update(task, total=ev.chunks_total, completed=ev.chunks_done)
            elif isinstance(ev, IndexFinished):
                if task is not None:
                    progress.remove_task(task)
                    task = None
                if as_json:
                    click.echo(json.dumps({"event": "finished", **ev.__dict__}))
                results.append(_Result(ev, root))
                results[-1].problems, problems = problems, []
    return results


def _print_report(results: list[_Result]) -> None:
    table = Table(box=None, header_style="bold", padding=(0, 1), pad_edge=False)
    cols = ("new", "updated", "unchanged", "deleted", "skipped", "failed", "embedded")
    table.add_column("collection", no_wrap=True, overflow="ellipsis", min_width=10, max_width=24)
    for c in cols:
        table.add_column(c, justify="right", no_wrap=True, min_width=len(c))
    table.add_column("time", justify="right", no_wrap=True)
    for r in results:
        name = "(re-embed)" if r.name == "*" else r.name
        table.add_row(escape(name), *(str(r.counts.get(c, 0)) for c in cols), duration(r.seconds))
    console.print(table)
    reasons = [(r.name, st, p, why) for r in results for st, p, why in r.problems]
    for name, st, p, why in reasons[:MAX_REASONS]:
        color = "red" if st == "failed" else "yellow"
        where = f" [dim]({escape(name)})[/]" if len(results) > 1 else ""
        console.print(f"  [{color}]{st}[/] {escape(p)}{where}: {escape(why)}", soft_wrap=True)
    if len(reasons) > MAX_REASONS:
        console.print(f"  … {len(reasons) - MAX_REASONS} more: see `ragterm index --status`")
    for r in results:
        if r.counts.get("ignored"):
            console.print(
                f"  [dim]{r.counts['ignored']} files or folders left out by .gitignore/"
                ".ragtermignore or as version-control/dependency/cache folders[/]",
                soft_wrap=True,
            )
        for note in r.notes:
            console.print(f"  [cyan]note[/] {escape(note)}", soft_wrap=True)


# --- list, status, watch ------------------------------------------------------------------------


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    return duration(max(0.0, time.time() - ts)) + " ago"


def _print_list(collections: list[Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in collections], indent=1))
        return
    if not collections:
        console.print("No collections yet: index a folder with `ragterm index PATH`.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("name", overflow="fold")
    for col in ("files", "chunks", "skipped"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("indexed", no_wrap=True)
    table.add_column("root", overflow="fold")
    for c in collections:
        table.add_row(escape(c.name), str(c.files), str(c.chunks), str(c.skipped),
                      _ago(c.indexed_at), escape(c.root))  # fmt: skip
    console.print(table)


def _print_status(conn: Any, as_json: bool) -> None:
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.embed import configured_name
    from ragterm.engine.index import collection_service

    st = collection_service.status(conn)
    rows, missing = st.files, st.chunks_without_vectors
    configured = configured_name(load_config())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "embed_model": st.embed_model,
                    "embed_dim": st.embed_dim,
                    "configured_model": configured,
                    "chunks_without_vectors": missing,
                    "files": [r.__dict__ for r in rows],
                },
                indent=1,
            )
        )
        return
    if st.embed_model:
        console.print(f"embedding model: {escape(st.embed_model)} ({st.embed_dim} dims)")
        if st.embed_model != configured:
            console.print(
                f"[yellow]the configured model is {escape(configured)}[/]: "
                "run `ragterm index --reembed` to switch"
            )
    if missing:
        console.print(f"[yellow]{missing} chunks have no vector yet[/]: run `ragterm index`")
    if not rows:
        console.print("Every indexed file is up to date; nothing was skipped or failed.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("collection", overflow="fold")
    table.add_column("path", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("reason", overflow="fold")
    colors = {"failed": "red", "skipped": "yellow", "stale": "cyan", "missing": "cyan"}
    for r in rows:
        color = colors.get(r.status, "white")
        table.add_row(escape(r.collection), escape(r.path), f"[{color}]{r.status}[/]",
                      escape(r.reason))  # fmt: skip
    console.print(table)
    if any(r.status in ("stale", "missing", "pending") for r in rows):
        console.print("[dim]run `ragterm index` to bring stale files up to date[/]")


def _watch(conn: Any, cfg: Any, roots: list[Path]) -> None:
    """Re-index a collection whenever files under it change, until Ctrl-C."""
    # lazy: `ragterm --help` and tab completion stay fast
    import watchfiles

    folders = [r for r in roots if r.is_dir()] or [r.parent for r in roots]
    if not folders:
        return
    announced = False
    try:
        # yield_on_timeout: an empty batch says the watcher is running, so "watching" is true
        for changes in watchfiles.watch(
            *folders, debounce=1000, raise_interrupt=True, yield_on_timeout=True, rust_timeout=500
        ):
            if not announced:
                announced = True
                where = ", ".join(escape(str(f)) for f in folders)
                console.print(f"watching {where} (Ctrl-C to stop)")
            if not changes:
                continue
            touched = {Path(p) for _, p in changes}
            todo = [r for r in roots if any(t == r or r in t.parents for t in touched)] or roots
            results = _run(conn, todo, cfg, reembed=False, as_json=False, quiet=True)
            if any(r.cancelled for r in results):  # Ctrl-C while re-indexing: stop watching too
                raise KeyboardInterrupt
            for r in results:
                parts = [f"{r.counts.get(k, 0)} {k}" for k in ("new", "updated", "deleted")
                         if r.counts.get(k)]  # fmt: skip
                if parts:
                    console.print(f"{time.strftime('%H:%M:%S')} {escape(r.name)}: "
                                  + ", ".join(parts))  # fmt: skip
    except KeyboardInterrupt:
        console.print("stopped watching")
