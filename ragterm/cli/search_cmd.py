"""`ragterm search`: ranked, cited chunks from the indexed folders."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from ragterm.cli.common import console, load_config, open_db
from ragterm.errors import IndexingError

SNIPPET_CHARS = 300


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="How many hits.")
@click.option("--collection", "collections", multiple=True, metavar="NAME", help="Only these.")
@click.option("--path", "path_glob", metavar="GLOB", help="Only files matching, e.g. '*.md'.")
@click.option("--threshold", type=click.FloatRange(-1, 1), default=None,
              help="Minimum cosine similarity.")  # fmt: skip
@click.option("--mode", type=click.Choice(["hybrid", "vector", "keyword"]), default="hybrid",
              show_default=True)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON array of hits.")
def search(
    query: tuple[str, ...],
    k: int | None,
    collections: tuple[str, ...],
    path_glob: str | None,
    threshold: float | None,
    mode: str,
    as_json: bool,
) -> None:
    """Search the indexed folders; every hit says where it came from."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.retrieve.hybrid_search import Retriever, has_index

    conn = open_db()
    if not has_index(conn):
        raise IndexingError("nothing is indexed yet", hint="index a folder: ragterm index ~/notes")
    cfg = load_config()
    text = " ".join(query)
    hits = Retriever(conn, cfg=cfg).search(
        text,
        k=k or int(cfg["rag.top_k"]),
        threshold=threshold,
        collections=list(collections) or None,
        path_glob=path_glob,
        mode=mode,
    )
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], indent=1, ensure_ascii=False))
        return
    if not hits:
        console.print("No matches." + (" Try a lower --threshold." if threshold else ""))
        return
    for n, h in enumerate(hits, 1):
        scores = f"score {h.score:.4f}"
        if h.vector_score is not None:
            scores += f" · cos {h.vector_score:.3f}"
        console.print(
            f"[bold]{n}.[/] [cyan]{escape(h.citation())}[/] [dim]({escape(h.collection)}) "
            f"{scores}[/]",
            soft_wrap=True,
        )
        if h.heading:
            console.print(f"   [italic]{escape(h.heading)}[/]", soft_wrap=True)
        snippet = " ".join(h.text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + " …"
        console.print(f"   {escape(snippet)}", soft_wrap=True)
