"""Errors a user can act on.

Every failure that reaches the CLI or the TUI is a ``RagtermError``: one line saying what went
wrong, naming the file or value, and a hint saying what to do. Anything else is a bug and shows a
traceback only with ``--debug``.
"""

from __future__ import annotations


class RagtermError(Exception):
    """A failure explained in one line, with an optional hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(RagtermError):
    """Invalid or unreadable configuration."""


class StorageError(RagtermError):
    """The database or data folder cannot be used."""


class ModelError(RagtermError):
    """A model is missing, corrupt, unknown or fails to load."""


class IndexingError(RagtermError):
    """A folder cannot be indexed or searched."""


class GenerationError(RagtermError):
    """The model failed while answering (or a remote server is down)."""


class TuningError(RagtermError):
    """A persona cannot be trained, exported or loaded."""


class NotAvailable(RagtermError):
    """A feature that needs something not installed or not built yet."""


class Cancelled(RagtermError):
    """The user cancelled long work; whatever was done so far is consistent."""
