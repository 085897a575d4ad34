"""`ragterm mcp`: serve the index to other assistants over the Model Context Protocol (stdio)."""

from __future__ import annotations

import click

from ragterm.cli.common import load_config


@click.command()
@click.option("--allow-index", is_flag=True, help="Add an `index` tool (it writes the index).")
@click.pass_context
def mcp(ctx: click.Context, allow_index: bool) -> None:
    """Serve search, ask, list_collections, read_lines and index_status over stdio (MCP).

    \b
    An MCP client starts it; in its config:
      {"mcpServers": {"ragterm": {"command": "ragterm", "args": ["mcp"]}}}
    Read-only unless --allow-index. stdout carries the protocol; messages go to stderr.
    """
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.mcp.mcp_server import serve

    serve(load_config(), allow_index=allow_index, debug=bool((ctx.obj or {}).get("debug")))
