"""GGUF LoRA export without training: shapes, names, the q/k permutation, refusals, and merging.

Adapters here are random PEFT-format folders (written with safetensors' numpy API), loaded by the
real llama.cpp on the real bundled model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragterm.engine.tune.adapter_export import (
    TARGET_MODULES,
    check_supported,
    export_adapter,
    gguf_name,
    merge_to_gguf,
    permute_rows,
    quantize,
    read_base,
)
from ragterm.errors import ModelError, TuningError

HIDDEN, KV, FF, LAYERS = 576, 192, 1536, 30
SHAPES = {  # module -> (out, in) for SmolLM2-135M
    "q_proj": (HIDDEN, HIDDEN),
    "k_proj": (KV, HIDDEN),
    "v_proj": (KV, HIDDEN),
    "o_proj": (HIDDEN, HIDDEN),
    "gate_proj": (FF, HIDDEN),
    "up_proj": (FF, HIDDEN),
    "down_proj": (HIDDEN, FF),
}


def random_adapter(folder, rank=4, alpha=8, scale=0.002, layers=range(LAYERS), shapes=SHAPES):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors = {}
    for layer in layers:
        for module, (out, inp) in shapes.items():
            kind = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            key = f"base_model.model.model.layers.{layer}.{kind}.{module}"
            tensors[f"{key}.lora_A.weight"] = rng.standard_normal((rank, inp)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = (scale * rng.standard_normal((out, rank))).astype(
                np.float32
            )
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(
        json.dumps({"r": rank, "lora_alpha": alpha, "target_modules": list(shapes)})
    )
    return folder


def logits(model_path, text: str, lora=None) -> np.ndarray:
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(model_path), lora_path=lora, n_ctx=256, logits_all=True, verbose=False
    )
    ids = llm.tokenize(text.encode(), add_bos=False)
    llm.eval(ids)
    out = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
    llm.close()
    return out


TEXT = "The quick brown fox jumps over the lazy dog because it wanted to see the harbour."


def test_base_header_is_read_fast_and_right(bundled_gguf):
    base = read_base(bundled_gguf)
    assert (base.architecture, base.n_layers, base.n_head, base.n_head_kv) == ("llama", 30, 9, 3)
    assert base.tensors["blk.0.attn_k.weight"] == (HIDDEN, KV)  # ggml order: columns first
    assert base.permute_qk
    assert gguf_name("model.layers.7.mlp.down_proj", base) == "blk.7.ffn_down.weight"
    assert gguf_name("model.layers.0.self_attn.o_proj", base) == "blk.0.attn_output.weight"


def test_permutation_undoes_what_transformers_reverses():
    """transformers un-permutes q/k when it dequantizes a llama GGUF; ours must invert it."""
    pytest.importorskip("transformers")
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    reverse = LlamaTensorProcessor()._reverse_permute_weights
    rng = np.random.default_rng(1)
    q = rng.standard_normal((HIDDEN, 4))
    k = rng.standard_normal((KV, 4))
    assert np.array_equal(permute_rows(reverse(q, 9, 9), 9, 9), q)
    assert np.array_equal(permute_rows(reverse(k, 9, 3), 9, 3), k)
    assert not np.array_equal(permute_rows(q, 9, 9), q)


def test_exported_adapter_loads_in_llama_cpp_and_changes_output(tmp_path, bundled_gguf):
    from ragterm.engine.models.registry import read_gguf

    adapter = random_adapter(tmp_path / "peft")
    res = export_adapter(adapter, bundled_gguf, tmp_path / "a.gguf", metadata={"x.y": "z"})
    assert (res.tensors, res.rank, res.alpha, res.permuted) == (2 * 7 * LAYERS, 4, 8.0, True)
    info = read_gguf(res.path)
    assert info.gguf_type == "adapter" and info.architecture == "llama"

    import gguf

    reader = gguf.GGUFReader(str(res.path))
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    shapes = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}
    assert shapes["blk.0.attn_k.weight.lora_a"] == (HIDDEN, 4)  # ne: in, rank
    assert shapes["blk.0.attn_k.weight.lora_b"] == (4, KV)  # ne: rank, out

    base = logits(bundled_gguf, TEXT)
    tuned = logits(bundled_gguf, TEXT, str(res.path))
    assert np.abs(tuned - base).max() > 0.5  # it does something
    assert (tuned.argmax(-1) == base.argmax(-1)).mean() > 0.5  # and is not noise


def test_refusals_name_the_problem(tmp_path, bundled_gguf):
    with pytest.raises(TuningError, match="not a PEFT adapter folder"):
        export_adapter(tmp_path, bundled_gguf, tmp_path / "a.gguf")

    wrong = random_adapter(tmp_path / "wrong", shapes={"q_proj": (1024, 1024)}, layers=[0])
    with pytest.raises(TuningError, match=r"q_proj is 1024x1024 but the base tensor .* 576x576"):
        export_adapter(wrong, bundled_gguf, tmp_path / "a.gguf")

    too_deep = random_adapter(tmp_path / "deep", shapes={"v_proj": SHAPES["v_proj"]}, layers=[40])
    with pytest.raises(TuningError, match="model.layers.40.self_attn.v_proj"):
        export_adapter(too_deep, bundled_gguf, tmp_path / "a.gguf")

    good = random_adapter(tmp_path / "good", layers=[0])
    adapter_gguf = export_adapter(good, bundled_gguf, tmp_path / "ok.gguf").path
    with pytest.raises(TuningError, match="is a LoRA adapter, not a base model"):
        read_base(adapter_gguf)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a GGUF model file"):
        read_base(junk)


def tiny_gguf(path, arch: str):
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_unsupported_architecture_is_refused(tmp_path):
    base = read_base(tiny_gguf(tmp_path / "gpt2.gguf", "gpt2"))
    with pytest.raises(TuningError, match="architecture 'gpt2'") as err:
        check_supported(base, "gpt2.gguf")
    assert "llama" in err.value.hint


@pytest.mark.slow
def test_merge_matches_the_adapter_and_quantizes(tmp_path, bundled_gguf):
    adapter = random_adapter(tmp_path / "peft", scale=0.004)
    lora = export_adapter(adapter, bundled_gguf, tmp_path / "a.gguf").path
    merged = merge_to_gguf(bundled_gguf, adapter, tmp_path / "merged.gguf")
    from ragterm.engine.models.registry import read_gguf

    info = read_gguf(merged)
    assert info.quantization == "F16" and info.chat_template  # metadata came along
    with_lora = logits(bundled_gguf, TEXT, str(lora))
    effect = np.abs(logits(bundled_gguf, TEXT) - with_lora).mean()  # what the adapter changes
    merged_logits = logits(merged, TEXT)
    # merged (F16) vs Q4_1 base + adapter: the same model up to quantization noise
    assert np.abs(merged_logits - with_lora).mean() < effect / 4
    assert (merged_logits.argmax(-1) == with_lora.argmax(-1)).mean() >= 0.8

    q8 = quantize(merged, tmp_path / "merged-Q8_0.gguf", "Q8_0")
    assert read_gguf(q8).quantization == "Q8_0"
    assert q8.stat().st_size < merged.stat().st_size * 0.7
    assert np.abs(logits(q8, TEXT) - merged_logits).mean() < effect / 4


def test_all_target_modules_have_gguf_names(bundled_gguf):
    base = read_base(bundled_gguf)
    for module in TARGET_MODULES:
        kind = "self_attn" if module.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
        assert gguf_name(f"model.layers.0.{kind}.{module}", base) in base.tensors
