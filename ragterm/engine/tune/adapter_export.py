"""PEFT LoRA adapter -> GGUF LoRA adapter that llama.cpp (llama-cpp-python) applies at load time.

Mirrors llama.cpp's ``convert_lora_to_gguf.py`` without torch: tensors are read from the adapter's
safetensors, renamed to the architecture's GGUF names (``blk.N.attn_q.weight.lora_a`` / ``.lora_b``)
and written with the ``gguf`` package. Llama-family GGUFs store Q and K with their rows permuted for
llama.cpp's rope layout; transformers undoes that permutation when it dequantizes a GGUF, so the
adapter learns in Hugging Face order and ``lora_b`` of q/k must be permuted back, or the adapter
loads fine and silently does the wrong thing.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragterm.engine.models.gguf_header import read_header
from ragterm.engine.tune.spec import QUANT_TYPES
from ragterm.errors import TuningError

# GGUF architectures that transformers can dequantize and we can export adapters for, and whether
# llama.cpp's converter permuted their q/k rows (transformers reverses it only for "llama").
# Only "llama" is verified end to end by the test suite (the bundled SmolLM2 model).
ARCHITECTURES: dict[str, bool] = {
    "llama": True,
    "qwen2": False,
    "qwen3": False,
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
    """Architecture, head counts and tensor shapes from a GGUF model header (milliseconds)."""

    header = read_header(gguf_path)  # raises ModelError for files that are not GGUF models
    meta = header.metadata
    if meta.get("general.type") == "adapter":
        raise TuningError(
            f"{gguf_path} is a LoRA adapter, not a base model", hint="give the chat model's GGUF"
        )
    arch = str(meta.get("general.architecture", "unknown"))

    def num(key: str, default: int = 0) -> int:
        v = meta.get(f"{arch}.{key}")
        return int(v) if isinstance(v, (int, float)) else default

    n_head = num("attention.head_count")
    return BaseShape(
        architecture=arch,
        n_layers=num("block_count"),
        n_head=n_head,
        n_head_kv=num("attention.head_count_kv", n_head),
        tensors={name: ne for name, (ne, _) in header.tensors.items()},
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


@functools.lru_cache(maxsize=8)
def _name_map(architecture: str, n_layers: int) -> Any:
    # lazy: gguf loads only when this runs
    import gguf

    arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}.get(architecture)
    if arch is None:
        raise TuningError(f"the gguf package does not know architecture {architecture!r}")
    return gguf.get_tensor_name_map(arch, n_layers)


def gguf_name(hf_name: str, base: BaseShape) -> str:
    """``model.layers.3.self_attn.q_proj`` -> ``blk.3.attn_q.weight`` for this architecture."""
    name = _name_map(base.architecture, base.n_layers).get_name(
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
    # lazy: gguf, safetensors load only when this runs
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


def _lora_deltas(adapter_dir: Path, base: BaseShape) -> tuple[dict[str, tuple], float]:
    """GGUF tensor name -> (A, B in GGUF row order), and the PEFT scale alpha / r."""
    # lazy: safetensors loads only when this runs
    from safetensors.numpy import load_file

    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    pairs = _pairs(load_file(str(adapter_dir / "adapter_model.safetensors")))
    out: dict[str, tuple] = {}
    for hf_name, pair in pairs.items():
        a, b = pair["A"].astype(np.float32), pair["B"].astype(np.float32)
        name = gguf_name(hf_name, base)
        if base.permute_qk and name.endswith(("attn_q.weight", "attn_k.weight")):
            n_kv = base.n_head if name.endswith("attn_q.weight") else base.n_head_kv
            b = permute_rows(b, base.n_head, n_kv)
        out[name] = (a, b)
    r = int(cfg.get("r", 8))
    return out, float(cfg.get("lora_alpha", r)) / r


def merge_to_gguf(base_gguf: Path | str, adapter_dir: Path | str, out_path: Path | str) -> Path:
    """Write base + LoRA as one F16 GGUF (1-D tensors stay F32), one tensor at a time.

    Every tensor is dequantized, so the result can be quantized to any type afterwards; metadata
    (tokenizer, chat template, hyperparameters) is copied from the base.
    """
    # lazy: gguf loads only when this runs
    import gguf
    from gguf.quants import dequantize

    base_gguf, out_path = Path(base_gguf), Path(out_path)
    base = read_base(base_gguf)
    check_supported(base, base_gguf)
    deltas, scale = _lora_deltas(Path(adapter_dir), base)
    reader = gguf.GGUFReader(str(base_gguf), "r")
    tmp = out_path.with_suffix(out_path.suffix + ".part")
    writer = gguf.GGUFWriter(str(tmp), base.architecture)
    for f in reader.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.architecture", "general.file_type"):
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(f.name, f.contents(), vtype, sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    def out_dtype(t: Any) -> type:
        return np.float32 if len(t.shape) == 1 else np.float16

    for t in reader.tensors:
        dt = out_dtype(t)
        n = int(np.prod([int(x) for x in t.shape]))
        shape = [int(x) for x in reversed(t.shape)]  # numpy order: rows first
        writer.add_tensor_info(t.name, shape, np.dtype(dt), n * np.dtype(dt).itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if t.name in deltas:
            a, b = deltas[t.name]
            w = w + scale * (b @ a)
        writer.write_tensor_data(np.ascontiguousarray(w.astype(out_dtype(t))))
    writer.close()
    tmp.replace(out_path)
    return out_path


def quantize(src: Path | str, dst: Path | str, qtype: str, threads: int = 0) -> Path:
    """Quantize a GGUF with llama.cpp's own quantizer (through llama-cpp-python)."""

    # lazy: llama_cpp loads only when this runs
    import llama_cpp

    if qtype not in QUANT_TYPES:
        raise TuningError(f"unknown quantization {qtype!r}", hint=", ".join(QUANT_TYPES))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[qtype]
    params.nthread = threads or (os.cpu_count() or 1)
    tmp = Path(str(dst) + ".part")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise TuningError(f"llama.cpp could not quantize {src} to {qtype} (code {rc})")
    tmp.replace(dst)
    return Path(dst)
