"""`ragterm config`: where settings live, what they are, and validated changes."""

from __future__ import annotations

import json

import click

from ragterm.cli.common import console


def _keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.config import SETTINGS

    return [k for k in SETTINGS if k.startswith(incomplete)]


@click.group()
def config() -> None:
    """Show and change settings (file < RAGTERM_* environment)."""


@config.command("path")
def path() -> None:
    """Print the config file, database and cache locations."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import paths

    console.print(f"config  {paths.config_file()}")
    console.print(f"data    {paths.data_dir()}")
    console.print(f"db      {paths.db_path()}")
    console.print(f"cache   {paths.cache_dir()}")


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(as_json: bool) -> None:
    """Every setting with its value and where the value came from."""
    # lazy: `ragterm --help` and tab completion stay fast
    from rich.table import Table

    from ragterm import config as cfgmod

    cfg = cfgmod.load()
    if as_json:
        click.echo(json.dumps({k: cfgmod.shown(k, v) for k, v in cfg.values.items()}, indent=2))
        return
    table = Table(title_justify="left")
    for col in ("key", "value", "from", "meaning"):
        table.add_column(col, overflow="fold")
    for key, setting in cfgmod.SETTINGS.items():
        origin = cfg.origins[key]
        table.add_row(
            key,
            repr(cfgmod.shown(key, cfg.values[key])),
            origin if origin != "default" else "[dim]default[/]",
            setting.help,
        )
    console.print(table)


@config.command("get")
@click.argument("key", shell_complete=_keys)
def get(key: str) -> None:
    """Print one setting (a secret such as remote.api_key shows masked)."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import config as cfgmod

    setting = cfgmod.lookup(key)
    click.echo(cfgmod.shown(setting.key, cfgmod.load()[key]))


@config.command("set")
@click.argument("key", shell_complete=_keys)
@click.argument("value")
def set_(key: str, value: str) -> None:
    """Validate VALUE for KEY and save it in the config file."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import config as cfgmod

    stored = cfgmod.set_value(key, value)
    console.print(f"{key} = {cfgmod.shown(key, stored)!r}")


@config.command("unset")
@click.argument("key", shell_complete=_keys)
def unset(key: str) -> None:
    """Remove KEY from the config file (its default applies again)."""
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import config as cfgmod

    cfgmod.unset_value(key)
    console.print(f"{key} reset to default")
