"""What the user asked for (``TrainSpec``), checked before anything heavy starts."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from ragterm.errors import TuningError
from ragterm.units import duration, format_size

# --quantize names accepted for the merged GGUF -> llama.cpp LLAMA_FTYPE values.
QUANT_TYPES: dict[str, int] = {
    "F16": 1,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_M": 12,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "Q5_K_M": 17,
    "Q6_K": 18,
}

DEFAULT_EPOCHS = 3.0
MIN_DEFAULT_STEPS = 24  # a dozen examples need more than 3 passes to pick up a voice
LOSS_CHUNK = 256  # answer positions per lm_head + cross-entropy chunk (train.answer_loss)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "letters, digits, . _ - (up to 64 characters, starting with a letter or digit)"


def check_name(name: str) -> str:
    """A persona name that is safe as a folder name: no path separators, no "..", no newline.

    Checked where names become paths (training, removal, export), not only at the CLI.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or ".." in name:
        raise TuningError(f"invalid persona name {name!r}", hint=f"expected {NAME_RULE}")
    return name


@dataclass
class BadLine:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class DatasetError(TuningError):
    """The dataset cannot be used. ``bad`` lists the offending lines it kept, ``bad_total``
    counts them all; ``remedy`` says what to do in words for any face ("" when only a CLI flag
    would help: ``hint`` may name one), so no front end reads numbers or advice out of the
    message."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        bad: list[BadLine] | None = None,
        *,
        bad_total: int | None = None,
        remedy: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.bad = bad or []
        self.bad_total = len(self.bad) if bad_total is None else bad_total
        self.remedy = (hint or "") if remedy is None else remedy


class OptionError(TuningError):
    """A training option out of range, or two that exclude each other. It keeps the option's
    name, value and rule, so each face names the option its own way: the CLI as a flag
    (``--rank``, the message), the /tune form as its field (``worded("")``)."""

    def __init__(
        self, option: str, value: Any = None, rule: str = "", *, other: str = "", flag: str = "--"
    ) -> None:
        self.option, self.value, self.rule, self.other, self.flag = option, value, rule, other, flag
        super().__init__(self.worded(flag), hint=f"expected {rule}" if rule else None)

    def worded(self, flag: str) -> str:
        if self.other:
            return f"give {flag}{self.option} or {flag}{self.other}, not both"
        return f"invalid {flag if self.flag else ''}{self.option} {self.value!r}"


@dataclass
class TrainSpec:
    """One training run. ``base`` None means the current chat model (config ``chat.model``)."""

    name: str
    data: str
    base: str | None = None  # model name, GGUF path or Hugging Face model folder
    target: str | None = None  # chat model the adapter is for, when base is a HF folder
    epochs: float | None = None
    steps: int | None = None
    rank: int = 8
    alpha: float = 16.0
    lr: float = 1e-3
    merge: bool = False
    quantize: str | None = None
    resume: bool = False
    restart: bool = False  # discard an unfinished run of the same persona
    batch_size: int = 4
    max_seq_len: int = 512
    val_fraction: float = 0.1
    system_prompt: str | None = None
    skip_bad: bool = False
    seed: int = 0
    backend: str = "auto"  # auto | peft | unsloth
    device: str = "auto"  # auto | cpu | cuda | mps
    eval_every: int = 0  # 0: about five evaluations per run
    threads: int = 0  # torch CPU threads, 0: torch's default
    checkpointing: bool | None = None  # gradient checkpointing; None: on CPU/MPS, on CUDA if short

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def planned_steps(self, n_train: int) -> int:
        """Training steps: --steps, or --epochs over the data; by default 3 epochs, at least 24."""
        if self.steps:
            return self.steps
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * n_train / self.batch_size))
        return max(MIN_DEFAULT_STEPS, math.ceil(DEFAULT_EPOCHS * n_train / self.batch_size))

    def validate(self) -> TrainSpec:
        """Reject impossible values with the option name, before any data or model is read."""

        bad = OptionError
        check_name(self.name or "")
        if self.epochs is not None and self.steps is not None:
            raise OptionError("epochs", other="steps")
        if self.epochs is not None and not 0 < self.epochs <= 1000:
            raise bad("epochs", self.epochs, "a number above 0 and at most 1000")
        if self.steps is not None and not 0 < self.steps <= 10_000_000:
            raise bad("steps", self.steps, "a positive integer")
        if not 1 <= self.rank <= 512:
            raise bad("rank", self.rank, "an integer from 1 to 512")
        if not 0 < self.alpha <= 4096:
            raise bad("alpha", self.alpha, "a number above 0 (commonly twice the rank)")
        if not 0 < self.lr < 1:
            raise bad("lr", self.lr, "a learning rate between 0 and 1, e.g. 1e-3")
        if not 1 <= self.batch_size <= 1024:
            raise bad("batch-size", self.batch_size, "an integer from 1 to 1024")
        if not 16 <= self.max_seq_len <= 131072:
            raise bad("max-len", self.max_seq_len, "an integer from 16 to 131072")
        if not 0 <= self.val_fraction < 0.9:
            raise bad("validation fraction", self.val_fraction, "a number from 0 to 0.9", flag="")
        if self.quantize is not None:
            q = self.quantize.upper()
            if q not in QUANT_TYPES:
                raise bad("quantize", self.quantize, "one of " + ", ".join(QUANT_TYPES))
            self.quantize = q
            self.merge = True  # quantizing only makes sense for the merged model
        if self.backend not in ("auto", "peft", "unsloth"):
            raise bad("backend", self.backend, "auto, peft or unsloth")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise bad("device", self.device, "auto, cpu, cuda or mps")
        return self


@dataclass
class Plan:
    """Everything decided before training: where the base is, what the data holds, the estimate.

    The parent process builds it (fast, no torch) and hands it to the training child as JSON.
    """

    spec: TrainSpec
    base_kind: str  # gguf | hf
    base_path: str  # the GGUF (dequantized by transformers) or the Hugging Face folder
    target_path: str  # the GGUF the adapter is applied to in chat
    base_model: str  # the chat model's name, recorded with the persona
    fingerprint: str  # of target_path
    architecture: str
    system_prompt: str
    run_dir: str
    dataset_file: str  # pickled data.Dataset (offsets into the user's file)
    data_summary: dict[str, Any]
    estimate: dict[str, Any]
    device: str
    warnings: list[str]

    def summary(self) -> list[tuple[str, str]]:
        """The plan for people, as (kind, line): "data", "model", "estimate", then one "note"
        per warning. ``ragterm persona tune`` and the /tune screen both show these lines."""
        est, d, spec = self.estimate, self.data_summary, self.spec
        formats = ", ".join(f"{k} {v}" for k, v in d.get("formats", {}).items())
        lines = [
            (
                "data",
                f"{spec.name}: {d['examples']} examples ({formats}) from {d['path']}; "
                f"{d['train']} for training, {d['validation']} held out",
            ),
            (
                "model",
                f"base {self.base_model} ({self.architecture}), LoRA rank {spec.rank}, "
                f"alpha {spec.alpha:g}, lr {spec.lr:g}, {est['steps']} steps of {spec.batch_size}",
            ),
            (
                "estimate",
                f"estimate: about {duration(est['seconds'])} on {est['device']}, "
                f"{format_size(est['memory_bytes'])} of memory "
                f"({format_size(est.get('memory_free'))} available), "
                f"disk {format_size(est.get('disk_bytes'))} "
                f"({format_size(est.get('disk_free'))} free), ~{est['tokens']} tokens of data",
            ),
        ]
        return lines + [("note", w) for w in self.warnings]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        d = dict(d)
        d["spec"] = TrainSpec.from_dict(d["spec"])
        return cls(**d)
