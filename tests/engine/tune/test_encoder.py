"""What the model learns from a conversation: only the assistant's turns, in the chat template."""

from __future__ import annotations

import pytest

from ragterm.engine.tune.training_data import Example


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from ragterm.engine.models.registry import bundled_chat_path
    from ragterm.engine.tune.train import _cache_gguf_name_maps

    _cache_gguf_name_maps()
    p = bundled_chat_path()
    return AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)


CHAT = Example(
    [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Ahoy!"},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "Arr matey."},
    ],
    "t:1",
)


def test_only_assistant_turns_are_learned(tokenizer):
    from ragterm.engine.tune.train import Encoder

    enc = Encoder(tokenizer, "Talk like a pirate.", 512)
    ids, labels = enc.encode(CHAT)
    learned = tokenizer.decode([t for t, y in zip(ids, labels, strict=True) if y != -100])
    assert learned == "Ahoy!<|im_end|>\nArr matey.<|im_end|>\n"
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nTalk like a pirate.<|im_end|>")  # the persona's
    assert "<|im_start|>user\nmore<|im_end|>" in text

    own = Example([{"role": "system", "content": "Be brief."}, *CHAT.messages], "t:2")
    assert "Talk like" not in tokenizer.decode(enc.encode(own)[0])  # the data's own prompt wins


def test_long_examples_are_cut_and_counted(tokenizer):
    from ragterm.engine.tune.train import Encoder

    enc = Encoder(tokenizer, "", 24)
    long = Example(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a " * 200}], ""
    )
    ids, labels = enc.encode(long)
    assert len(ids) == len(labels) == 24 and enc.truncated == 1
    full, _ = Encoder(tokenizer, "", 4096).encode(long)
    prompt = enc.prompt_ids(long.messages[:1])
    assert full[: len(prompt)] == prompt  # generation prompts match what training saw
