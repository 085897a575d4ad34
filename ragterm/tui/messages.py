"""App-wide messages that workers post back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class ModelLoaded(Message):
    conversation: Any  # ragterm.engine.answer.conversation.Conversation
    seconds: float = 0.0


@dataclass
class ModelFailed(Message):
    message: str
    hint: str = ""


@dataclass
class GenerationEvent(Message):
    """One engine event (Retrieved, Trimmed, Token, Done) for the answer being written."""

    event: Any


@dataclass
class IndexEvent(Message):
    """One indexing event (IndexStarted, FileDone, EmbedProgress, IndexFinished)."""

    event: Any


@dataclass
class BudgetReady(Message):
    budget: Any  # ragterm.engine.answer.prompt.Budget
    hits: list[Any] = field(default_factory=list)
    attached: list[Any] = field(
        default_factory=list
    )  # engine.answer.attached_files.FileFit per attached file


@dataclass
class Attached(Message):
    """/attach read a file (``attachment``), or could not (``error``, one line)."""

    attachment: Any = None  # engine.answer.attached_files.Attachment
    error: str = ""
