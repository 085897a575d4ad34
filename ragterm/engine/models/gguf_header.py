"""The one GGUF reader: metadata scalars and tensor shapes in milliseconds.

``gguf.GGUFReader`` builds numpy views for every element of the tokenizer arrays, which takes
seconds per file; the model registry and the tuning checks need only a few numbers and the tensor
table. ``engine.models.registry.read_gguf`` turns a header into what users see about a model.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragterm.errors import ModelError

_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


@dataclass
class Header:
    version: int
    metadata: dict[str, Any]  # arrays are summarised as ("array", element type, length)
    tensors: dict[str, tuple[tuple[int, ...], int]] = field(default_factory=dict)  # ne, ggml type
    data_start: int = 0  # where tensor data begins (after the header, aligned)
    last_tensor_at: int = 0  # offset of the last tensor's data from ``data_start``

    def truncated(self, size: int) -> bool:
        """True when a file of ``size`` bytes ends before its last tensor's data begins."""
        return bool(self.tensors) and size <= self.data_start + self.last_tensor_at


def read_header(path: Path | str) -> Header:
    """Parse the header of a GGUF file; ``ModelError`` if it is not one or is truncated."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ModelError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the file's permissions"
        ) from exc
    with fh:
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as exc:  # empty file
            raise ModelError(f"{path} is empty, not a GGUF model file") from exc
        with mm:
            if mm[:4] != b"GGUF":
                raise ModelError(
                    f"{path} is not a GGUF model file",
                    hint="ragterm runs GGUF models (llama.cpp format); convert or download one",
                )
            try:
                return _parse(mm)
            except (struct.error, UnicodeDecodeError, KeyError, IndexError) as exc:
                raise ModelError(
                    f"{path} is a corrupt or truncated GGUF file", hint="download it again"
                ) from exc


def _parse(mm: mmap.mmap) -> Header:
    pos = 4
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", mm, pos)
    pos += 20

    def string(p: int) -> tuple[str, int]:
        (n,) = struct.unpack_from("<Q", mm, p)
        return mm[p + 8 : p + 8 + n].decode("utf-8", "replace"), p + 8 + n

    def value(vtype: int, p: int) -> tuple[Any, int]:
        if vtype in _SCALARS:
            fmt = "<" + _SCALARS[vtype]
            return struct.unpack_from(fmt, mm, p)[0], p + struct.calcsize(fmt)
        if vtype == _STRING:
            return string(p)
        if vtype == _ARRAY:
            etype, count = struct.unpack_from("<IQ", mm, p)
            p += 12
            if etype in _SCALARS:
                p += count * struct.calcsize("<" + _SCALARS[etype])
            else:
                for _ in range(count):
                    _, p = value(etype, p)
            return ("array", etype, count), p
        raise KeyError(vtype)

    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key, pos = string(pos)
        (vtype,) = struct.unpack_from("<I", mm, pos)
        meta[key], pos = value(vtype, pos + 4)
    tensors: dict[str, tuple[tuple[int, ...], int]] = {}
    last = 0
    for _ in range(n_tensors):
        name, pos = string(pos)
        (n_dims,) = struct.unpack_from("<I", mm, pos)
        dims = struct.unpack_from(f"<{n_dims}Q", mm, pos + 4)
        pos += 4 + 8 * n_dims
        ttype, offset = struct.unpack_from("<IQ", mm, pos)
        pos += 12
        tensors[name] = (tuple(int(d) for d in dims), int(ttype))
        last = max(last, int(offset))
    align = meta.get("general.alignment", 32)
    align = align if isinstance(align, int) and align > 0 else 32
    start = (pos + align - 1) // align * align
    return Header(version, meta, tensors, data_start=start, last_tensor_at=last)
