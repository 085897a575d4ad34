"""`ragterm persona`: train personas (LoRA adapters) and choose, inspect, export or remove them."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict
from typing import Any

import click
from rich.markup import escape

from ragterm.cli.common import console, err_console, load_config, open_db
from ragterm.units import duration, format_size


def _persona_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        # lazy: `ragterm --help` and tab completion stay fast
        from ragterm.engine.tune.persona_service import list_personas

        names = [p.name for p in list_personas(open_db())]
        return [n for n in names if n.startswith(incomplete)]
    except Exception:
        return []


@click.group()
def persona() -> None:
    """Train personas (LoRA adapters on the chat model) and choose the one chat uses."""


def _print_plan(plan: Any) -> None:
    for kind, line in plan.summary():
        if kind == "data":  # the persona's name in bold
            name = plan.spec.name
            console.print(f"[bold]{escape(name)}[/]{escape(line[len(name) :])}")
        elif kind == "note":
            console.print(f"[yellow]note:[/] {escape(line)}")
        else:
            console.print(escape(line))


@persona.command("tune")
@click.argument("name")
@click.option("--data", "data", type=click.Path(), help="JSONL chats (OpenAI messages, ShareGPT, "
              "Alpaca) or a folder of your own writing.")  # fmt: skip
@click.option("--base", help="Base model: a model name or GGUF (default: the chat model), or a "
              "Hugging Face model folder.")  # fmt: skip
@click.option("--target", help="With a Hugging Face --base: the chat model the adapter is for.")
@click.option("--epochs", type=float, help="Passes over the training examples (default: 3, and "
              "at least 24 steps).")  # fmt: skip
@click.option("--steps", type=int, help="Training steps instead of --epochs.")
@click.option("--rank", type=int, default=8, show_default=True, help="LoRA rank.")
@click.option("--alpha", type=float, default=16.0, show_default=True, help="LoRA alpha.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate.")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--max-len", type=int, default=512, show_default=True, help="Tokens per example.")
@click.option("--system", "system_prompt", help="System prompt for the persona (default: the "
              "data's own, else the configured one).")  # fmt: skip
@click.option("--skip-bad", is_flag=True, help="Train without bad lines (they are listed).")
@click.option("--merge", is_flag=True, help="Also write a merged full GGUF.")
@click.option("--quantize", metavar="TYPE", help="Quantize the merged GGUF (e.g. Q4_K_M, Q8_0).")
@click.option("--resume", is_flag=True, help="Continue a cancelled or crashed run.")
@click.option("--restart", is_flag=True, help="Discard an unfinished run and start over.")
@click.option("--backend", type=click.Choice(["auto", "peft", "unsloth"]), default="auto")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto")
@click.option("--dry-run", is_flag=True, help="Check the data and print the estimate only.")
@click.option("--json", "as_json", is_flag=True, help="Progress as JSON lines.")
def tune(
    name: str,
    data: str | None,
    base: str | None,
    target: str | None,
    epochs: float | None,
    steps: int | None,
    rank: int,
    alpha: float,
    lr: float,
    batch_size: int,
    max_len: int,
    system_prompt: str | None,
    skip_bad: bool,
    merge: bool,
    quantize: str | None,
    resume: bool,
    restart: bool,
    backend: str,
    device: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Teach the chat model a voice: train persona NAME on --data.

    \b
    Examples:
      ragterm persona tune pirate --data pirate.jsonl --steps 40
      ragterm persona tune me --data ~/writing --epochs 2 --merge --quantize Q4_K_M
      ragterm persona tune pirate --resume
    """
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.tune.runner import prepare, start_training
    from ragterm.engine.tune.spec import TrainSpec
    from ragterm.engine.tune.training_data import DatasetError
    from ragterm.errors import TuningError

    if not data and not resume:
        raise TuningError("no training data given", hint="pass --data FILE.jsonl or --data FOLDER")
    spec = TrainSpec(
        name=name,
        data=data or "",
        base=base,
        target=target,
        epochs=epochs,
        steps=steps,
        rank=rank,
        alpha=alpha,
        lr=lr,
        merge=merge,
        quantize=quantize,
        resume=resume,
        restart=restart,
        batch_size=batch_size,
        max_seq_len=max_len,
        system_prompt=system_prompt,
        skip_bad=skip_bad,
        backend=backend,
        device=device,
    )
    try:
        plan = prepare(spec, cfg=load_config(), conn=open_db(), dry_run=dry_run)
    except DatasetError as exc:
        for bad in exc.bad[:20]:
            err_console.print(f"  {escape(str(bad))}", soft_wrap=True)
        if len(exc.bad) > 20:
            err_console.print(f"  ... and {len(exc.bad) - 20} more")
        raise
    if as_json:
        click.echo(json.dumps({"type": "plan", "estimate": plan.estimate}))
    else:
        _print_plan(plan)
    if dry_run:
        return
    job = start_training(plan)
    _watch(job, as_json)


def _watch(job: Any, as_json: bool) -> None:
    """Show progress; Ctrl-C cancels (keeping a checkpoint), a second Ctrl-C stops at once."""
    # lazy: `ragterm --help` and tab completion stay fast
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ragterm.engine.events import Stage, TrainStep, TuneFinished
    from ragterm.errors import Cancelled

    presses = {"n": 0}

    def on_interrupt(signum: int, frame: Any) -> None:
        presses["n"] += 1
        if presses["n"] == 1:
            err_console.print("cancelling after this step (the checkpoint is kept)...")
            job.cancel()
        else:
            job.kill()

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread: no Ctrl-C handling needed
        previous = None
    live = console.is_terminal and not as_json
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not live,
        transient=False,
    )
    task = None
    finished: TuneFinished | None = None
    try:
        with progress:
            for ev in job.events():
                if as_json:
                    click.echo(json.dumps({"type": type(ev).__name__, **asdict(ev)}, default=str))
                if isinstance(ev, TuneFinished):
                    finished = ev
                elif isinstance(ev, Stage) and not as_json:
                    line = f"[dim]{escape(ev.name)}[/] {escape(ev.detail)}"
                    progress.console.print(line) if live else console.print(line)
                elif isinstance(ev, TrainStep) and not as_json:
                    info = f"loss {ev.loss:.3f}"
                    if ev.val_loss is not None:
                        info += f"  val {ev.val_loss:.3f}"
                    if ev.tokens_per_s:
                        info += f"  {ev.tokens_per_s:.0f} tok/s"
                    info += f"  eta {duration(ev.eta_s)}"
                    if not live:
                        console.print(f"step {ev.step}/{ev.total_steps}  {info}")
                        continue
                    if task is None:
                        task = progress.add_task("training", total=ev.total_steps, info="")
                    progress.update(task, completed=ev.step, info=info)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if finished is None:
        return
    if finished.status == "cancelled":
        raise Cancelled(finished.message)
    if as_json:
        return
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.tune.persona_service import get, report

    p = get(open_db(), finished.name)
    console.print(f"[green]persona {escape(p.name)} is ready[/] (smoke-tested in llama.cpp)")
    for label, value in report(p):
        console.print(f"  [bold]{label:>14}[/] {escape(value)}", soft_wrap=True)
    console.print(
        f"use it: [bold]ragterm persona use {escape(p.name)}[/] "
        f"or [bold]ragterm ask --persona {escape(p.name)} ...[/]"
    )


@persona.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json: bool) -> None:
    """Trained personas (* marks the one chat uses)."""
    # lazy: `ragterm --help` and tab completion stay fast
    from rich.table import Table

    from ragterm.engine.tune.persona_service import list_personas, unfinished

    current = load_config()["chat.persona"]
    items = list_personas(open_db())
    pending = [n for n in unfinished() if n not in {p.name for p in items}]
    if as_json:
        rows = [
            {**{k: v for k, v in p.__dict__.items()}, "default": p.name == current} for p in items
        ]
        click.echo(json.dumps({"personas": rows, "unfinished": unfinished()}, indent=2))
        return
    if not items and not pending:
        console.print("no personas yet: ragterm persona tune NAME --data FILE.jsonl")
        return
    table = Table(title="Personas", title_justify="left")
    for col in ("", "name", "base model", "examples", "perplexity", "steps"):
        table.add_column(col, overflow="fold")
    for p in items:
        m = p.metrics
        ppl = "-"
        if isinstance(m.get("val_ppl"), (int, float)):
            ppl = f"{m['val_ppl']:.2f}"
            if isinstance(m.get("base_val_ppl"), (int, float)):
                ppl += f" (base {m['base_val_ppl']:.2f})"
        table.add_row(
            "*" if p.name == current else "",
            escape(p.name),
            escape(p.base_model),
            str(p.data_summary.get("examples", "-")),
            ppl,
            str(m.get("steps", "-")),
        )
    for n in pending:
        table.add_row("", escape(n), "[yellow]unfinished[/]", "", "--resume to continue", "")
    console.print(table)


@persona.command("show")
@click.argument("name", shell_complete=_persona_names)
def show(name: str) -> None:
    """A persona's data, training settings and held-out quality."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.tune.persona_service import get, report

    p = get(open_db(), name)
    console.print(f"[bold]{escape(p.name)}[/]")
    for label, value in report(p):
        console.print(f"  [bold]{label:>14}[/] {escape(value)}", soft_wrap=True)


@persona.command("use")
@click.argument("name", required=False, shell_complete=_persona_names)
@click.option("--off", is_flag=True, help="Chat without a persona.")
def use_cmd(name: str | None, off: bool) -> None:
    """Make NAME the persona chat uses by default (config chat.persona)."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.tune.persona_service import use
    from ragterm.errors import TuningError

    if not name and not off:
        raise TuningError("which persona?", hint="ragterm persona use NAME (or --off)")
    p = use(open_db(), None if off else name, cfg=load_config())
    if p is None:
        console.print("chat will use no persona")
    else:
        console.print(f"chat will use persona [bold]{escape(p.name)}[/]")


@persona.command("rm")
@click.argument("name", shell_complete=_persona_names)
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
def rm(name: str, yes: bool) -> None:
    """Delete persona NAME, its adapter and checkpoints."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.tune.persona_service import remove

    if not yes and console.is_terminal:
        click.confirm(f"delete persona {name} and its adapter?", abort=True)
    remove(open_db(), name)
    console.print(f"deleted persona {escape(name)}")


@persona.command("export")
@click.argument("name", shell_complete=_persona_names)
@click.argument("dest", type=click.Path())
@click.option("--merged", is_flag=True, help="Export the merged full GGUF instead of the adapter.")
def export_cmd(name: str, dest: str, merged: bool) -> None:
    """Copy persona NAME's GGUF LoRA adapter (or merged model) to DEST.

    The adapter works with llama.cpp's --lora and llama-cpp-python's lora_path, on the same base
    model the persona was trained for.
    """
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.tune.persona_service import export

    out = export(open_db(), name, dest, merged=merged)
    console.print(f"wrote {escape(str(out))} ({format_size(out.stat().st_size)})")


@persona.command("compare")
@click.argument("name", shell_complete=_persona_names)
@click.argument("question")
@click.option("--max-tokens", type=int, default=200, show_default=True)
def compare_cmd(name: str, question: str, max_tokens: int) -> None:
    """Answer QUESTION with the base model and with persona NAME, one after the other."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.tune.persona_service import compare

    for label, text in compare(open_db(), name, question, max_tokens=max_tokens):
        console.print(f"[bold]{label}:[/] {escape(text)}", soft_wrap=True)
