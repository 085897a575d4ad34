"""PEFT LoRA adapter -> GGUF LoRA adapter that llama.cpp (llama-cpp-python) applies at load time.

Mirrors llama.cpp's ``convert_lora_to_gguf.py`` without torch: tensors are read from the adapter's
safetensors, renamed to the architecture's GGUF names (``blk.N.attn_q.weight.lora_a`` / ``.lora_b``)
and written with the ``gguf`` package. Llama-family GGUFs store Q and K with their rows permuted for
llama.cpp's rope layout; transformers undoes that permutation when it dequantizes a GGUF, so the
adapter learns in Hugging Face order and ``lora_b`` of q/k must be permuted back, or the adapter
loads fine and silently does the wrong thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragterm.errors import TuningError

# GGUF architectures the exporter knows, and whether their converter permutes q/k rows.
# Only "llama" is verified end to end by the test suite (the bundled SmolLM2 model).
ARCHITECTURES: dict[str, bool] = {
    "llama": True,
    "granite": True,
    "qwen2": False,
    "qwen3": False,
    "gemma": False,
    "gemma2": False,
    "gemma3": False,
}

# Hugging Face projection names LoRA may target, common to the architectures above.
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class BaseShape:
    """What the exporter needs to know about the GGUF base model."""

    architecture: str
    n_layers: int
    n_head: int
    n_head_kv: int
    tensors: dict[str, tuple[int, ...]]  # GGUF name -> ne (ggml order: columns first)

    @property
    def permute_qk(self) -> bool:
        return ARCHITECTURES.get(self.architecture, False)


def read_base(gguf_path: Path | str) -> BaseShape:
    """Read architecture, head counts and tensor shapes from a GGUF model header."""
    import gguf

    from ragterm.engine.models import _field_value, read_gguf

    info = read_gguf(gguf_path)  # raises ModelError for files that are not GGUF models
    if info.gguf_type == "adapter":
        raise TuningError(
            f"{gguf_path} is a LoRA adapter, not a base model", hint="give the chat model's GGUF"
        )
    reader = gguf.GGUFReader(str(gguf_path), "r")
    arch = info.architecture

    def num(key: str, default: int = 0) -> int:
        v = _field_value(reader, f"{arch}.{key}")
        return int(v) if isinstance(v, (int, float)) else default

    n_head = num("attention.head_count")
    shapes = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}
    return BaseShape(
        architecture=arch,
        n_layers=num("block_count"),
        n_head=n_head,
        n_head_kv=num("attention.head_count_kv", n_head),
        tensors=shapes,
    )


def check_supported(base: BaseShape, source: Path | str = "") -> None:
    """Refuse, before any training, an architecture whose adapters we cannot export."""
    if base.architecture not in ARCHITECTURES:
        raise TuningError(
            f"cannot export a LoRA adapter for architecture {base.architecture!r}"
            + (f" ({source})" if source else ""),
            hint="supported: " + ", ".join(sorted(ARCHITECTURES)) + "; pick another --base",
        )


def permute_rows(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's q/k row order (``LlamaModel.permute`` in convert_hf_to_gguf.py)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def gguf_name(hf_name: str, base: BaseShape) -> str:
    """``model.layers.3.self_attn.q_proj`` -> ``blk.3.attn_q.weight`` for this architecture."""
    import gguf

    arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}.get(base.architecture)
    if arch is None:
        raise TuningError(f"the gguf package does not know architecture {base.architecture!r}")
    name = gguf.get_tensor_name_map(arch, base.n_layers).get_name(
        hf_name + ".weight", try_suffixes=(".weight",)
    )
    if name is None:
        raise TuningError(
            f"no GGUF tensor for {hf_name!r} in architecture {base.architecture}",
            hint="train with the default target modules",
        )
    return name


def _pairs(tensors: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        name = key.removeprefix("base_model.model.")
        for marker, part in ((".lora_A.weight", "A"), (".lora_B.weight", "B")):
            if name.endswith(marker):
                out.setdefault(name[: -len(marker)], {})[part] = value
                break
        else:
            raise TuningError(
                f"unexpected tensor {key!r} in the adapter (only LoRA A/B matrices are exported)",
                hint="train without modules_to_save or embedding adapters",
            )
    return out


@dataclass
class ExportResult:
    path: Path
    tensors: int
    alpha: float
    rank: int
    permuted: bool


def export_adapter(
    adapter_dir: Path | str,
    base_gguf: Path | str,
    out_path: Path | str,
    *,
    permute_qk: bool | None = None,
    f16: bool = False,
    metadata: dict[str, str] | None = None,
) -> ExportResult:
    """Write the PEFT adapter in ``adapter_dir`` as a GGUF LoRA for ``base_gguf``.

    ``permute_qk`` overrides the architecture's rule (tests use it to show that it matters).
    Shapes are checked against the base so a mismatch fails here, not inside llama.cpp.
    """
    import gguf
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    cfg_path = adapter_dir / "adapter_config.json"
    weights = adapter_dir / "adapter_model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise TuningError(
            f"{adapter_dir} is not a PEFT adapter folder (adapter_config.json and "
            "adapter_model.safetensors)",
            hint="train the persona again",
        )
    cfg: dict[str, Any] = json.loads(cfg_path.read_text())
    if cfg.get("use_rslora") or cfg.get("use_dora"):
        raise TuningError("rsLoRA and DoRA adapters cannot be exported to GGUF yet")
    alpha = float(cfg.get("lora_alpha", cfg.get("r", 8)))
    base = read_base(base_gguf)
    check_supported(base, base_gguf)
    permute = base.permute_qk if permute_qk is None else permute_qk

    pairs = _pairs(load_file(str(weights)))
    if not pairs:
        raise TuningError(f"the adapter in {adapter_dir} has no LoRA weights")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".part")
    writer = gguf.GGUFWriter(str(tmp), base.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for key, value in (metadata or {}).items():
        writer.add_string(key, value)
    rank = 0
    dtype = np.float16 if f16 else np.float32
    for hf_name in sorted(pairs):
        pair = pairs[hf_name]
        if set(pair) != {"A", "B"}:
            raise TuningError(f"the adapter has only half of the LoRA pair for {hf_name}")
        a, b = pair["A"].astype(np.float32), pair["B"].astype(np.float32)  # (r, in), (out, r)
        name = gguf_name(hf_name, base)
        ne = base.tensors.get(name)
        if ne is None:
            raise TuningError(
                f"the base model has no tensor {name} (adapter module {hf_name})",
                hint="the adapter was trained for another model",
            )
        if len(ne) != 2 or ne[0] != a.shape[1] or ne[1] != b.shape[0]:
            raise TuningError(
                f"adapter module {hf_name} is {b.shape[0]}x{a.shape[1]} but the base tensor "
                f"{name} is {ne[1]}x{ne[0]}",
                hint="the adapter was trained for another model",
            )
        if permute and name.endswith(("attn_q.weight", "attn_k.weight")):
            n_kv = base.n_head if name.endswith("attn_q.weight") else base.n_head_kv
            b = permute_rows(b, base.n_head, n_kv)
        rank = a.shape[0]
        writer.add_tensor(name + ".lora_a", np.ascontiguousarray(a.astype(dtype)))
        writer.add_tensor(name + ".lora_b", np.ascontiguousarray(b.astype(dtype)))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(out_path)
    return ExportResult(out_path, len(pairs) * 2, alpha, rank, permute)
