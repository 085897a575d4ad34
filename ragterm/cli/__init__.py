"""The ``ragterm`` command: a thin click shell over the engine.

Subcommands live in their own modules and are imported only when run, so ``ragterm --help`` and
shell completion stay instant (no llama.cpp, onnxruntime or torch import). For the same reason
the command modules import the engine inside each command's body, not at the top: `ragterm models
--help` and tab completion must not load numpy, gguf, SQLite extensions or the model registry.
Those in-function imports are for start-up time only; none of them works around an import cycle.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ragterm import __version__

# command name -> "module:attribute"
COMMANDS = {
    "ask": "ragterm.cli.ask_cmd:ask",
    "chat": "ragterm.cli.chat_cmd:chat",
    "index": "ragterm.cli.index_cmd:index",
    "search": "ragterm.cli.search_cmd:search",
    "models": "ragterm.cli.models_cmd:models",
    "persona": "ragterm.cli.persona_cmd:persona",
    "config": "ragterm.cli.config_cmd:config",
    "doctor": "ragterm.cli.doctor_cmd:doctor",
    "mcp": "ragterm.cli.mcp_cmd:mcp",
}

HELP = {
    "ask": "Answer one question, streaming to stdout.",
    "chat": "Open the chat (same as bare `ragterm`).",
    "index": "Index folders so answers can use them.",
    "search": "Search the indexed folders.",
    "models": "List, add, download and choose chat models.",
    "persona": "Train and use personas (LoRA adapters).",
    "config": "Show and change settings.",
    "doctor": "Check the installation and say how to fix problems.",
    "mcp": "Serve the index to other assistants (MCP over stdio).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # short help without importing every command module
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP[name]) for name in sorted(COMMANDS)])


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="ragterm")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """ragterm: an offline chat assistant that knows your files and speaks in your voice.

    Run without a command to open the chat.

    \b
    Shell completion (bash): eval "$(_RAGTERM_COMPLETE=bash_source ragterm)"
    (zsh: zsh_source, fish: fish_source)
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or bool(os.environ.get("RAGTERM_DEBUG"))
    if ctx.invoked_subcommand is None:
        ctx.invoke(cli.get_command(ctx, "chat"))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: every ``RagtermError`` becomes one line on stderr and exit status 1."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.cli.common import run_main

    sys.exit(run_main(cli, argv))
