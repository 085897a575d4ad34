"""`ragterm models`: list, inspect, add, download, choose and remove chat models."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import click

from ragterm.cli.common import console, load_config, open_db
from ragterm.units import format_size


def _model_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        # lazy: `ragterm --help` and tab completion stay fast
        from ragterm.engine.models.registry import Registry

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
    # lazy: `ragterm --help` and tab completion stay fast
    from rich.table import Table

    from ragterm.engine.models.registry import Registry, read_gguf
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
                format_size(r["size"]),
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
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.models.registry import Registry, read_gguf

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
        ("size", format_size(gi.size)),
        ("chat template", "yes" if gi.chat_template else "no (ChatML fallback)"),
    ]:
        console.print(f"[bold]{key:>15}[/]  {value}")


@models.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", help="Name to use (default: from the file name).")
def add(path: Path, name: str | None) -> None:
    """Register a local GGUF file."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.connection import transaction
    from ragterm.engine.models.registry import Registry

    conn = open_db()
    with transaction(conn):
        entry, gi = Registry(conn).add(path, name)
    console.print(
        f"added [bold]{entry.name}[/]: {gi.architecture} {gi.parameters} "
        f"{gi.quantization}, context {gi.context_length}"
    )


def _catalog() -> list:
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.models import catalog

    return catalog.load(load_config()["models.catalog"] or None)


def _aliases(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        return [e.alias for e in _catalog() if e.alias.startswith(incomplete)]
    except Exception:
        return []


@models.command("recommend")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def recommend(as_json: bool) -> None:
    """Which catalog models fit this machine's memory and cores, best first."""
    # lazy: `ragterm --help` and tab completion stay fast
    from rich import box
    from rich.table import Table

    from ragterm.engine.models import catalog
    from ragterm.engine.models.registry import Registry

    entries = _catalog()
    m = catalog.machine()
    have = catalog.installed_names(Registry(open_db()).entries(discover=False))
    verdicts = catalog.recommend(entries, m, have)
    top = catalog.top_pick(verdicts)
    if as_json:
        out = {
            "machine": m.to_dict(),
            "recommended": top.entry.alias if top else None,
            "models": [v.to_dict() for v in verdicts],
        }
        click.echo(json.dumps(out, indent=2))
        return
    order = {"recommended": 0, "fits": 1, "slow": 2, "tight": 3, "too big": 4}
    verdicts.sort(key=lambda v: (order[v.status], -v.entry.score, v.entry.size))
    table = Table(
        title=f"Models for this machine: {m.total_mb / 1000:.1f} GB RAM "
        f"({m.available_mb / 1000:.1f} GB free), {m.cores} cores",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("alias", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("RAM", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("why, and what it gives")
    style = {"recommended": "bold green", "fits": "green", "slow": "yellow", "tight": "yellow"}
    for v in verdicts:
        e = v.entry
        table.add_row(
            e.alias + (" [dim](installed)[/]" if v.installed else ""),
            f"{e.size / 1e9:.1f} GB",
            f"{e.ram_mb / 1000:.1f} GB",
            f"[{style.get(v.status, 'red')}]{v.status}[/]",
            f"{v.reason}; {e.note} [dim]({e.license})[/]",
        )
    console.print(table)
    if top is None:
        console.print("nothing in the catalog fits; the bundled model stays the best choice")
    elif top.installed:
        console.print(f"use it with: ragterm models default {top.entry.alias}")
    else:
        console.print(f"get it with: [bold]ragterm models pull {top.entry.alias}[/]")


@models.command("pull")
@click.argument("repo_or_alias", metavar="ALIAS | REPO", shell_complete=_aliases)
@click.argument("filename", required=False)
@click.option("--name", help="Name to use (default: the alias, or from the file name).")
@click.option("--revision", default="main", show_default=True)
def pull(repo_or_alias: str, filename: str | None, name: str | None, revision: str) -> None:
    """Download a catalog model by ALIAS (see `models recommend`), or FILENAME from hub REPO.

    Checks the SHA-256, resumes an interrupted download; Ctrl-C stops it (run again to resume).
    """
    # lazy: `ragterm --help` and tab completion stay fast
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from ragterm.engine.events import DownloadProgress
    from ragterm.engine.models import catalog
    from ragterm.engine.models.hub import pull as hub_pull
    from ragterm.errors import Cancelled, ModelError

    sha256 = size = None
    if filename is None:
        entries = _catalog()
        entry = catalog.find(entries, repo_or_alias)
        if entry is None:
            close = difflib.get_close_matches(repo_or_alias, [e.alias for e in entries], n=1)
            raise ModelError(
                f"{repo_or_alias!r} is not in the model catalog",
                hint=(f"did you mean {close[0]}? " if close else "")
                + "see `ragterm models recommend`, or give REPO FILENAME",
            )
        repo, filename, sha256, size = entry.repo, entry.file, entry.sha256, entry.size
        name = name or entry.alias
        console.print(f"{entry.name} ({entry.license}) from {repo}")
    else:
        repo = repo_or_alias

    result = None
    done = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(Path(filename).name, total=size)
        try:
            for ev in hub_pull(
                open_db(), repo, filename, name=name, sha256=sha256, size=size, revision=revision
            ):
                if isinstance(ev, DownloadProgress):
                    done = ev.done
                    if ev.resumed_from and progress.tasks[task].completed == 0:
                        progress.console.print(f"resuming at {format_size(ev.resumed_from)}")
                    if ev.verifying:
                        progress.update(task, description="checking sha256")
                    progress.update(task, completed=ev.done, total=ev.total)
                else:
                    result = ev
        except KeyboardInterrupt:
            raise Cancelled(
                f"download stopped at {format_size(done)}; run the same command to resume"
            ) from None
    assert result is not None
    entry_, gi = result
    console.print(
        f"pulled [bold]{entry_.name}[/] ({gi.architecture} {gi.quantization}) to {entry_.path}"
    )
    console.print(f"use it with: ragterm models default {entry_.name}")


@models.command("default")
@click.argument("name", shell_complete=_model_names)
def default(name: str) -> None:
    """Use NAME for new chats."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import config
    from ragterm.engine.models.registry import Registry, read_gguf

    entry = Registry(open_db()).get(name)
    read_gguf(entry.path)  # refuse a broken file now, not at the next chat
    config.set_value("chat.model", entry.name if entry.source != "path" else str(entry.path))
    console.print(f"default chat model: [bold]{entry.name}[/]")


@models.command("rm")
@click.argument("name", shell_complete=_model_names)
@click.option("--delete-file", is_flag=True, help="Also delete a downloaded file from disk.")
def rm(name: str, delete_file: bool) -> None:
    """Forget a model you added or pulled (the bundled and discovered ones stay)."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import config, paths
    from ragterm.engine.connection import transaction
    from ragterm.engine.models.registry import BUNDLED_NAME, Registry

    conn = open_db()
    with transaction(conn):
        entry = Registry(conn).remove(name)
    if delete_file and entry.source == "pulled" and paths.models_dir() in entry.path.parents:
        entry.path.unlink(missing_ok=True)
    if load_config()["chat.model"] == name:
        config.set_value("chat.model", BUNDLED_NAME)
        console.print(f"default chat model reset to {BUNDLED_NAME}")
    console.print(f"removed {name}")
