"""What every command shares: error display, the database, the config, the console."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from ragterm.errors import Cancelled, RagtermError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_error(exc: RagtermError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
    if exc.hint:
        err_console.print(f"[dim]hint:[/] {escape(exc.hint)}", soft_wrap=True)


def run_main(group: click.Group, argv: list[str] | None = None) -> int:
    """Run the click group; errors become one line (tracebacks only with --debug)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("RAGTERM_DEBUG"))
    try:
        rv = group.main(args=args, prog_name="ragterm", standalone_mode=False)
        if isinstance(rv, int):  # click returns Exit's code in non-standalone mode
            return rv
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        err_console.print("cancelled")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Cancelled as exc:
        err_console.print(f"cancelled: {exc.message}")
        return 130
    except KeyboardInterrupt:
        err_console.print("cancelled")
        return 130
    except RagtermError as exc:
        if debug:
            traceback.print_exc()
        print_error(exc)
        return 1
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line unless debugging
        known = None if debug else as_user_error(exc)
        if known is not None:
            print_error(known)
            return 1
        if debug:
            raise
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}")
        err_console.print("[dim]hint:[/] run again with --debug and report the traceback")
        return 2
    return 0


def as_user_error(exc: BaseException) -> RagtermError | None:
    """Faults of the machine, not bugs: sqlite errors (disk full, read-only, damaged database)
    and a full or read-only disk, as one line naming the file."""

    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import paths
    from ragterm.engine.connection import is_sqlite_error, storage_error

    if isinstance(exc, Exception) and is_sqlite_error(exc):
        return storage_error(exc, paths.db_path())
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES):
        where = exc.filename or paths.data_dir()
        hint = {
            errno.ENOSPC: "free some disk space and run again; nothing stored was lost",
            errno.EROFS: "that disk is read-only: set RAGTERM_HOME to a writable folder",
            errno.EACCES: "fix that file's permissions, or set RAGTERM_HOME",
        }[exc.errno]
        return RagtermError(f"{where}: {exc.strerror}", hint=hint)
    return None


def load_config() -> Any:
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm import config

    return config.load()


def open_db() -> Any:
    # lazy: `ragterm --help` and tab completion stay fast
    from ragterm.engine.connection import connect

    return connect()
