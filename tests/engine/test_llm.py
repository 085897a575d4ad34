"""The loaded model (LocalLlama) with the real bundled GGUF: loading, adapters, cache counters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragterm import config
from ragterm.engine.answer.conversation import open_conversation
from ragterm.engine.models.llm import LocalLlama, SamplingParams, physical_cores
from ragterm.engine.models.registry import bundled_chat_path, read_gguf
from ragterm.errors import ModelError
from ragterm.store.db import connect

GREEDY = SamplingParams(temperature=0, max_tokens=12, seed=1)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def write_adapter(path: Path, base: Path, strength: float = 0.5) -> Path:
    """A GGUF LoRA adapter for ``base`` (random, strong enough to change every answer)."""
    import gguf

    from ragterm.engine.tune.adapter_export import read_base

    shape = read_base(base)
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), shape.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 8.0)
    for layer in range(shape.n_layers):
        cols, rows = shape.tensors[f"blk.{layer}.attn_output.weight"]
        a = rng.normal(0, strength, (8, cols)).astype(np.float32)
        b = rng.normal(0, strength, (rows, 8)).astype(np.float32)
        writer.add_tensor(f"blk.{layer}.attn_output.weight.lora_a", a)
        writer.add_tensor(f"blk.{layer}.attn_output.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def model():
    m = LocalLlama(bundled_chat_path(), n_ctx=1024, threads=2)
    yield m
    m.close()


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return write_adapter(tmp_path_factory.mktemp("lora") / "noisy.gguf", bundled_chat_path())


def answer(m: LocalLlama, messages=QUESTION) -> str:
    return "".join(m.stream(messages, GREEDY))


def test_context_is_capped_by_the_model_and_threads_are_physical_cores():
    info = read_gguf(bundled_chat_path())
    m = LocalLlama(bundled_chat_path(), n_ctx=10**6)
    try:
        assert m.n_ctx == info.context_length  # 8192 for SmolLM2, not a million
        assert m.n_threads == physical_cores() >= 1
    finally:
        m.close()
    assert m.llm is None
    m.close()  # twice is harmless


def test_adapter_switches_in_place_without_reloading(model, adapter):
    base = answer(model)
    llm = model.llm
    model.set_adapter(adapter, 1.0)
    assert model.lora_path == str(adapter) and model.llm is llm  # same loaded base
    tuned = answer(model)
    assert tuned != base
    # the KV cache of the base weights was dropped, not reused with the adapter's
    assert model.last_stats()["cached_tokens"] == 0
    model.set_adapter(adapter, 0.0)  # scale 0: the adapter adds nothing
    assert answer(model) == base
    model.set_adapter(None)
    assert model.lora_path is None and answer(model) == base


def test_adapter_at_load_time_matches_the_in_place_switch(adapter, model):
    model.set_adapter(adapter)
    in_place = answer(model)
    model.set_adapter(None)
    loaded = LocalLlama(bundled_chat_path(), n_ctx=1024, threads=2, lora_path=str(adapter))
    try:
        assert answer(loaded) == in_place
    finally:
        loaded.close()


def test_missing_or_foreign_adapter_is_a_model_error(model, tmp_path):
    with pytest.raises(ModelError, match="adapter file missing"):
        model.set_adapter(tmp_path / "gone.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match="cannot load the adapter"):
        model.set_adapter(junk)
    assert model.lora_path is None and answer(model)  # the model still answers


def test_open_conversation_reuses_the_loaded_model(adapter, monkeypatch):
    monkeypatch.setenv("RAGTERM_CHAT__CONTEXT_LENGTH", "1024")
    cfg = config.load()
    conn = connect()
    first = open_conversation(cfg, conn)
    try:
        again = open_conversation(cfg, conn, reuse=first.backend)
        assert again.backend is first.backend
        other = open_conversation(
            cfg.with_overrides(**{"chat.context_length": 512}), conn, reuse=first.backend
        )
        assert other.backend is not first.backend and other.backend.n_ctx == 512
        other.backend.close()
    finally:
        first.backend.close()


def test_prompt_eval_counts_only_the_new_tokens(model):
    turn1 = [{"role": "system", "content": "You are terse."}, *QUESTION]
    reply = answer(model, turn1)
    first = model.last_stats()
    turn2 = [*turn1, {"role": "assistant", "content": reply}, {"role": "user", "content": "Why?"}]
    answer(model, turn2)
    second = model.last_stats()
    # llama.cpp's own counter agrees with the prefix match: only uncached tokens are evaluated
    for s in (first, second):
        assert abs(s["prompt_eval_tokens"] - (s["prompt_tokens"] - s["cached_tokens"])) <= 1
    # turn 2 costs the reply and "Why?", not the whole conversation
    new = second["prompt_tokens"] - first["prompt_tokens"]
    assert second["cached_tokens"] >= first["prompt_tokens"]
    assert second["prompt_eval_tokens"] <= new + 1


def test_an_answer_is_continued_from_the_text_it_already_has(model):
    """ragterm can write the start of an answer for the model to finish (NAME_IT after an
    answer that only restated the question): the prompt is the turn plus that start, and the
    pieces that come back continue it instead of starting over."""
    start = "The capital of France is"
    assert model.continues
    plain, prefixed = model.tokens(QUESTION), model.tokens(QUESTION, prefix=start)
    assert prefixed[: len(plain)] == plain and len(prefixed) > len(plain)
    rest = "".join(model.stream(QUESTION, GREEDY, prefix=start))
    assert model.last_stats()["prompt_tokens"] == len(prefixed)
    assert "Paris" in rest and not rest.lstrip().startswith("The capital")
