"""Examples -> token ids with answer-only labels, and batches of them."""

from __future__ import annotations

from typing import Any

from ragterm.engine.tune.training_data import Example


class Encoder:
    """Renders conversations with the model's chat template; only assistant turns are learned."""

    def __init__(self, tokenizer: Any, system_prompt: str, max_len: int) -> None:
        self.tok = tokenizer
        self.system_prompt = system_prompt
        self.max_len = max_len
        self.truncated = 0

    def render(self, messages: list[dict[str, str]], gen: bool = False) -> str:
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)

    def with_system(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        if messages and messages[0]["role"] == "system" or not self.system_prompt:
            return messages
        return [{"role": "system", "content": self.system_prompt}, *messages]

    def encode(self, ex: Example) -> tuple[list[int], list[int]]:
        msgs = self.with_system(ex.messages)
        full = self.render(msgs)
        spans = []
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            before = self.render(msgs[:i], gen=True) if i else ""
            upto = self.render(msgs[: i + 1])
            if full.startswith(before) and full.startswith(upto):
                spans.append((len(before), len(upto)))
        if not spans:  # a template that re-renders history differently: learn the whole text
            ids = self.ids(full)
            labels = list(ids)
        elif getattr(self.tok, "is_fast", False):
            enc = self.tok(full, add_special_tokens=False, return_offsets_mapping=True)
            ids = list(enc["input_ids"])
            labels = [
                t if any(a <= s < b for a, b in spans) else -100
                for t, (s, _) in zip(ids, enc["offset_mapping"], strict=True)
            ]
        else:  # slow tokenizers have no offsets: count the tokens of each prefix instead
            ids = self.ids(full)
            labels = [-100] * len(ids)
            for a, b in spans:
                lo, hi = len(self.ids(full[:a])), len(self.ids(full[:b]))
                labels[lo:hi] = ids[lo:hi]
        if len(ids) > self.max_len:
            self.truncated += 1
            ids, labels = ids[: self.max_len], labels[: self.max_len]
        return ids, labels

    def ids(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a conversation up to the assistant's turn (for generation)."""
        text = self.render(self.with_system(messages), gen=True)
        return list(self.tok(text, add_special_tokens=False)["input_ids"])


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int, device: str) -> dict[str, Any]:
    # lazy: torch loads only when this runs
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = [x + [pad_id] * (width - len(x)) for x, _ in batch]
    labels = [y + [-100] * (width - len(y)) for _, y in batch]
    mask = [[1] * len(x) + [0] * (width - len(x)) for x, _ in batch]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }
