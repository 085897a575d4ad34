"""What every chat backend shares: messages, sampling settings, the ``Backend`` protocol."""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class SamplingParams:
    """Sampling settings for one answer; defaults come from the ``chat.*`` config keys."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int = -1
    stop: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> SamplingParams:
        values = {f.name: cfg[f"chat.{f.name}"] for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class Backend(Protocol):
    """What the chat needs from a model."""

    name: str
    n_ctx: int
    continues: bool  # whether ``stream`` takes a ``prefix`` (the answer's start, already written)

    def count_tokens(self, messages: list[Message]) -> int:
        """Tokens of ``messages`` rendered as a prompt (with the generation prompt)."""
        ...

    def count_text(self, text: str) -> int:
        """Tokens of a bare piece of text (a retrieved chunk)."""
        ...

    def stream(
        self,
        messages: list[Message],
        params: SamplingParams,
        cancel: threading.Event | None = None,
        prefix: str = "",
    ) -> Generator[str, None, None]:
        """Answer pieces as they come; stops between pieces once ``cancel`` is set. ``prefix``
        (only where ``continues``): the answer so far, which the pieces continue."""
        ...

    def last_stats(self) -> dict[str, float]:
        """prompt_tokens, completion_tokens, ttft_s, total_s, tokens_per_s of the last answer."""
        ...

    def close(self) -> None: ...
