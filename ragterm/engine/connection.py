"""The database as the front ends see it: open it, share it between threads, write atomically.

The CLI and the TUI never import ``ragterm.store``; they open a connection here and hand it to
engine services (sessions, collections, the model registry, personas), which keep the SQL in
``store/``. Importing this module is cheap: ``store.db`` loads sqlite-vec only on ``connect``.
"""

from __future__ import annotations

from ragterm.store.db import (
    Connection,
    PerThreadConnection,
    connect,
    is_sqlite_error,
    storage_error,
    transaction,
)

__all__ = [
    "Connection",
    "PerThreadConnection",
    "connect",
    "is_sqlite_error",
    "storage_error",
    "transaction",
]
