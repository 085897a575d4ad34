#!/usr/bin/env python
"""Copy a GGUF LoRA adapter with its F32 matrices stored as F16 (half the size, same answers)."""

from __future__ import annotations

import sys
from pathlib import Path

import gguf
import numpy as np


def convert(src: Path, dest: Path) -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"]
    writer = gguf.GGUFWriter(dest, bytes(arch.parts[arch.data[0]]).decode())
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.STRING:
            writer.add_string(field.name, bytes(field.parts[field.data[0]]).decode())
        elif vtype == gguf.GGUFValueType.ARRAY:
            continue  # adapters carry no arrays
        else:
            writer.add_key_value(field.name, field.parts[field.data[0]][0], vtype)
    for t in reader.tensors:
        data = np.asarray(t.data)
        if t.tensor_type == gguf.GGMLQuantizationType.F32 and data.ndim == 2:
            data = data.astype(np.float16)
        writer.add_tensor(t.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
