#!/usr/bin/env python
"""Attached files: "summarise this page" for pydocs pages through `ragterm ask -f`.

    .venv/bin/python scripts/bench_attach.py [--corpus DIR] [--pages 10] [--max-tokens 128]

Pages are picked evenly by size (smallest to largest) so the table shows where whole pages stop
fitting. Each page runs the real command, `ragterm ask --json -f PAGE "Summarise this page"`, in
its own process with a fresh RAGTERM_HOME (nothing indexed), and reports: the page's size, whether
it went whole, the share of its text that fit, the prompt tokens, the time spent reading, parsing
and fitting it, time to first token from the start of prompt evaluation, and time to first token
from the start of the command (model load, parsing, fitting and prompt evaluation included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "Summarise this page"


def pick(corpus: Path, n: int) -> list[Path]:
    pages = sorted(corpus.glob("*.html"), key=lambda p: p.stat().st_size)
    if n >= len(pages):
        return pages
    return [pages[round(i * (len(pages) - 1) / (n - 1))] for i in range(n)]


def run(page: Path, home: str, max_tokens: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTERM_")}
    root = Path(__file__).resolve().parents[1]
    env.update(RAGTERM_HOME=home, HF_HUB_OFFLINE="1", PYTHONPATH=str(root))
    cmd = [sys.executable, "-m", "ragterm", "ask", "--json", "--max-tokens", str(max_tokens),
           "-f", str(page), QUESTION]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{page.name}: ragterm ask failed: {out.stderr.strip()}")
    d = json.loads(out.stdout)
    t = d["timings"]
    (fit,) = d["attached"]
    after_first = t["total_s"] - t["ttft_s"]  # generation after the first token
    return {
        "page": page.name,
        "kb": page.stat().st_size / 1024,
        "whole": fit["whole"],
        "share": fit["share"],
        "parts": f"{fit['parts']}/{fit['parts_total']}" if not fit["whole"] else "-",
        "prompt": d["tokens"]["prompt"],
        "attach_s": t.get("attach_s", 0.0),
        "ttft_s": t["ttft_s"],
        "first_s": wall - after_first,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="/work/shared/eval/pydocs/corpus")
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()
    rows = []
    for page in pick(Path(args.corpus), args.pages):
        with tempfile.TemporaryDirectory(prefix="ragterm-bench-attach-") as home:
            rows.append(run(page, home, args.max_tokens))
        r = rows[-1]
        print(f"{r['page']}: {r['share']:.0%} in {r['first_s']:.1f}s", file=sys.stderr)
    print(f'`ragterm ask --json --max-tokens {args.max_tokens} -f PAGE "{QUESTION}"`\n')
    print("| page | size | whole | share sent | chunks sent | prompt tokens | read+fit | "
          "TTFT (prompt eval) | TTFT (from start) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['page']} | {r['kb']:.0f} KB | {'yes' if r['whole'] else 'no'} | "
            f"{100 * r['share']:.0f}% | {r['parts']} | {r['prompt']} | {r['attach_s']:.2f} s | "
            f"{r['ttft_s']:.1f} s | {r['first_s']:.1f} s |"
        )
    whole = sum(r["whole"] for r in rows)
    print(
        f"\n{whole}/{len(rows)} pages whole; median share sent "
        f"{100 * statistics.median(r['share'] for r in rows):.0f}%; median TTFT from start "
        f"{statistics.median(r['first_s'] for r in rows):.1f} s"
    )


if __name__ == "__main__":
    main()
