#!/usr/bin/env python
"""Model download speed: `ragterm models pull`'s path against a bare HTTP GET, side by side.

    .venv/bin/python scripts/bench_pull.py [--repeats 3] [--file PATH]

Serves a GGUF (default: the bundled one) from the local hub + CDN in tests/engine/hubserver.py and
times, median of N: a plain urllib GET of the CDN URL written to disk (baseline) and ragterm's
download (HEAD on the hub, redirect, huggingface_hub's http_get, progress events, SHA-256 check),
plus the SHA-256 pass alone: what verifying costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--file", type=Path, default=None)
    args = ap.parse_args()

    from ragterm.engine.models.hub import download, sha256_file
    from ragterm.engine.models.registry import bundled_chat_path
    from tests.engine.hubserver import HubServer

    gguf = args.file or bundled_chat_path()
    size = gguf.stat().st_size
    os.environ.pop("HF_HUB_OFFLINE", None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    (tmp / "hub" / "bench" / "m-GGUF").mkdir(parents=True)
    (tmp / "hub" / "bench" / "m-GGUF" / "m.gguf").symlink_to(gguf)
    with HubServer(tmp / "hub") as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        sha = hub.sha256(gguf)
        cdn = f"{hub.cdn_url}/blobs/{sha}"
        n = [0]

        def fresh() -> Path:
            n[0] += 1
            return tmp / f"out{n[0]}"

        def raw() -> None:
            out = fresh()
            out.mkdir()
            with urllib.request.urlopen(cdn) as resp, (out / "m.gguf").open("wb") as fh:
                while block := resp.read(1 << 20):
                    fh.write(block)

        def ours() -> None:
            list(download("bench/m-GGUF", "m.gguf", fresh(), sha256=sha))

        base = median_time(raw, args.repeats)
        pulled = median_time(ours, args.repeats)
        hashing = median_time(lambda: sha256_file(gguf), args.repeats)

    mb = size / 1e6
    print(f"{gguf.name}: {mb:.0f} MB from a local hub (loopback), median of {args.repeats}\n")
    print("| measure | baseline (urllib GET) | ragterm | ratio |")
    print("|---|---|---|---|")
    print(
        f"| download + SHA-256 check, as `models pull` | {base:.2f} s ({mb / base:.0f} MB/s) "
        f"| {pulled:.2f} s ({mb / pulled:.0f} MB/s) | {pulled / base:.2f} |"
    )
    print(f"| of which the SHA-256 pass alone | | {hashing:.2f} s | |")


if __name__ == "__main__":
    main()
