"""`ragterm models`: list, inspect, add, download, choose and remove chat models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ragterm.cli.common import console, human_size, load_config, open_db


def _model_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        from ragterm.engine.models import Registry

        return [e.name for e in Registry(open_db()).entries() if e.name.startswith(incomplete)]
    except Exception:
        return []


@click.group()
def models() -> None:
    """List, add, download and choose chat models (GGUF)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_models(as_json: bool) -> None:
    """Models ragterm can use: bundled, added, pulled, and found in LM Studio / Ollama folders."""
    from rich.table import Table

    from ragterm.engine.models import Registry, read_gguf
    from ragterm.errors import ModelError

    default = load_config()["chat.model"]
    rows = []
    for e in Registry(open_db()).entries():
        try:
            info = read_gguf(e.path)
            row = {
                "name": e.name,
                "default": e.name == default,
                "source": e.source,
                "path": str(e.path),
                "size": info.size,
                "architecture": info.architecture,
                "quantization": info.quantization,
                "context_length": info.context_length,
                "parameters": info.parameters,
                "error": None,
            }
        except ModelError as exc:
            row = {
                "name": e.name,
                "default": e.name == default,
                "source": e.source,
                "path": str(e.path),
                "size": None,
                "architecture": None,
                "quantization": None,
                "context_length": None,
                "parameters": None,
                "error": exc.message,
            }
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Chat models", title_justify="left")
    for col in ("", "name", "source", "size", "arch", "quant", "context", "path"):
        table.add_column(col, overflow="fold")
    for r in rows:
        mark = "*" if r["default"] else ""
        if r["error"]:
            table.add_row(mark, r["name"], r["source"], "", "", "", "", f"[red]{r['error']}[/]")
        else:
            table.add_row(
                mark,
                r["name"],
                r["source"],
                human_size(r["size"]),
                r["architecture"],
                r["quantization"],
                str(r["context_length"]),
                r["path"],
            )
    console.print(table)
    console.print("[dim]* default (ragterm models default NAME)[/]")


@models.command("info")
@click.argument("name", shell_complete=_model_names)
def info(name: str) -> None:
    """Everything the GGUF header says about a model."""
    from ragterm.engine.models import Registry, read_gguf

    entry = Registry(open_db()).get(name)
    gi = read_gguf(entry.path)
    for key, value in [
        ("name", entry.name),
        ("source", entry.source),
        ("path", gi.path),
        ("model", gi.name),
        ("architecture", gi.architecture),
        ("parameters", gi.parameters),
        ("quantization", gi.quantization),
        ("context length", gi.context_length),
        ("size", human_size(gi.size)),
        ("chat template", "yes" if gi.chat_template else "no (ChatML fallback)"),
    ]:
        console.print(f"[bold]{key:>15}[/]  {value}")


@models.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", help="Name to use (default: from the file name).")
def add(path: Path, name: str | None) -> None:
    """Register a local GGUF file."""
    from ragterm.engine.models import Registry
    from ragterm.store.db import transaction

    conn = open_db()
    with transaction(conn):
        entry, gi = Registry(conn).add(path, name)
    console.print(
        f"added [bold]{entry.name}[/]: {gi.architecture} {gi.parameters} "
        f"{gi.quantization}, context {gi.context_length}"
    )


@models.command("pull")
@click.argument("repo")
@click.argument("filename")
@click.option("--name", help="Name to use (default: from the file name).")
@click.option("--revision", default="main", show_default=True)
def pull(repo: str, filename: str, name: str | None, revision: str) -> None:
    """Download FILENAME from Hugging Face repository REPO (resumes an interrupted download)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from ragterm import paths
    from ragterm.engine.events import DownloadProgress
    from ragterm.engine.hub import download
    from ragterm.engine.models import Registry
    from ragterm.store.db import transaction

    conn = open_db()
    dest = paths.ensure_dir(paths.models_dir() / repo.replace("/", "--"))
    final: Path | None = None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(Path(filename).name, total=None)
        for ev in download(repo, filename, dest, revision=revision):
            if isinstance(ev, DownloadProgress):
                if ev.resumed_from and progress.tasks[task].completed == 0:
                    progress.console.print(f"resuming at {human_size(ev.resumed_from)}")
                progress.update(task, completed=ev.done, total=ev.total)
            else:
                final = ev
    assert final is not None
    try:
        with transaction(conn):
            entry, gi = Registry(conn).add(final, name, source="pulled", repo=repo)
    except Exception:
        final.unlink(missing_ok=True)  # a download that is not a usable GGUF is not kept
        raise
    console.print(f"pulled [bold]{entry.name}[/] ({gi.architecture} {gi.quantization}) to {final}")
    console.print(f"use it with: ragterm models default {entry.name}")


@models.command("default")
@click.argument("name", shell_complete=_model_names)
def default(name: str) -> None:
    """Use NAME for new chats."""
    from ragterm import config
    from ragterm.engine.models import Registry, read_gguf

    entry = Registry(open_db()).get(name)
    read_gguf(entry.path)  # refuse a broken file now, not at the next chat
    config.set_value("chat.model", entry.name if entry.source != "path" else str(entry.path))
    console.print(f"default chat model: [bold]{entry.name}[/]")


@models.command("rm")
@click.argument("name", shell_complete=_model_names)
@click.option("--delete-file", is_flag=True, help="Also delete a downloaded file from disk.")
def rm(name: str, delete_file: bool) -> None:
    """Forget a model you added or pulled (the bundled and discovered ones stay)."""
    from ragterm import config, paths
    from ragterm.engine.models import BUNDLED_NAME, Registry
    from ragterm.store.db import transaction

    conn = open_db()
    with transaction(conn):
        entry = Registry(conn).remove(name)
    if delete_file and entry.source == "pulled" and paths.models_dir() in entry.path.parents:
        entry.path.unlink(missing_ok=True)
    if load_config()["chat.model"] == name:
        config.set_value("chat.model", BUNDLED_NAME)
        console.print(f"default chat model reset to {BUNDLED_NAME}")
    console.print(f"removed {name}")
