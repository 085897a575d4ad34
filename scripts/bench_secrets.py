#!/usr/bin/env python
"""The secret scan, measured: false positives on ordinary files, and what it costs per MB.

Each set is walked as ``ragterm index`` walks it (so binaries and ignored files are out), each file
parsed as the indexer parses it, then scanned (``index.secret_scan.scan_parsed``) on its own clock.
A file flagged in these sets is a false positive: the pydocs corpus (317 pages of the Python
docs), ragterm's own source, and the project's docs and scripts. The cost is set against the
embedding, the indexer's slowest step (23 chunks/s on dev-2c with the bundled model): the scan's
share of the indexing time of the same files.

``--compare`` also runs detect-secrets' own ``scan_file`` with all its plugins over the same
files (several minutes on pydocs): the speed the gated scan replaces, and what it flags.

    .venv/bin/python scripts/bench_secrets.py
    .venv/bin/python scripts/bench_secrets.py --compare
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PYDOCS = Path("/work/shared/eval/pydocs/corpus")
EMBED_CHUNKS_PER_S = 23.0  # bundled model on dev-2c (docs/benchmarks.md, "Big folders")


def sets(pydocs: Path) -> dict[str, Path]:
    return {"pydocs corpus": pydocs, "ragterm source": ROOT / "ragterm",
            "docs, README, scripts": ROOT,
            "installed packages' READMEs": Path(sysconfig.get_paths()["purelib"])}  # fmt: skip


def files_of(name: str, root: Path) -> list[Path]:
    from ragterm.engine.index.walk import walk

    if name.startswith("installed"):  # each package's README, as its METADATA carries it
        return sorted(root.glob("*.dist-info/METADATA"))

    entries = [e for e in walk(root) if e.reason is None]
    if name.startswith("docs"):
        keep = ("docs/", "scripts/", "README.md")
        entries = [e for e in entries if e.rel.startswith(keep)]
    return [e.path for e in entries]


def measure(files: list[Path], tokenizer: object) -> dict[str, object]:
    from ragterm.engine.index.chunk import chunk_parsed
    from ragterm.engine.index.parse import ParseFailed, SkipFile, parse_bytes
    from ragterm.engine.index.secret_scan import scan_parsed

    raw = text = chunks = 0
    scan_s = parse_s = 0.0
    flagged: list[tuple[str, str]] = []
    for path in files:
        data = path.read_bytes()
        t0 = time.perf_counter()
        try:
            parsed = parse_bytes(data, path)
        except (SkipFile, ParseFailed):
            continue
        t1 = time.perf_counter()
        found = scan_parsed(parsed, path.name)
        t2 = time.perf_counter()
        chunks += len(chunk_parsed(parsed, tokenizer))  # type: ignore[arg-type]
        parse_s += t1 - t0
        scan_s += t2 - t1
        raw += len(data)
        text += sum(len(b.text.encode()) for b in parsed.blocks)
        if found:
            flagged.append((str(path), found[0].reason(len(found) - 1)))
    return {"files": len(files), "raw": raw, "text": text, "chunks": chunks, "scan_s": scan_s,
            "parse_s": parse_s, "flagged": flagged}  # fmt: skip


def compare(files: list[Path]) -> tuple[float, list[str]]:
    """detect-secrets' own scan_file, every plugin and default filter: seconds, files flagged."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    flagged = []
    t0 = time.perf_counter()
    with default_settings():
        for path in files:
            if list(scan_file(str(path))):
                flagged.append(str(path))
    return time.perf_counter() - t0, flagged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pydocs", type=Path, default=PYDOCS)
    ap.add_argument("--compare", action="store_true", help="also run detect-secrets' scan_file")
    args = ap.parse_args()
    from ragterm.engine.embed import load_tokenizer
    from ragterm.engine.index.parse import parse_bytes
    from ragterm.engine.index.secret_scan import scan_parsed

    tokenizer = load_tokenizer()
    t0 = time.perf_counter()
    scan_parsed(parse_bytes(b"warm up", Path("a.txt")), "a.txt")  # detect-secrets' imports
    print(
        f"first scan (imports detect-secrets, loads its plugins): {time.perf_counter() - t0:.2f} s"
    )
    print()
    print("| set | files | MB on disk | MB of text | files flagged (false positives) | scan s | "
          "scan MB/s (disk / text) | embedding at 23 chunks/s | scan share |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    results = {}
    for name, root in sets(args.pydocs).items():
        files = files_of(name, root)
        m = measure(files, tokenizer)
        results[name] = (files, m)
        embed_s = m["chunks"] / EMBED_CHUNKS_PER_S  # type: ignore[operator]
        raw, text, scan = m["raw"] / 1e6, m["text"] / 1e6, m["scan_s"]  # type: ignore[operator]
        print(f"| {name} | {m['files']} | {raw:.2f} | {text:.2f} | {len(m['flagged'])} | "  # type: ignore[arg-type]
              f"{scan:.2f} | {raw / scan:.1f} / {text / scan:.1f} | {embed_s:.0f} s "
              f"({m['chunks']} chunks) | {100 * scan / embed_s:.2f} % |")  # fmt: skip
    for name, (_, m) in results.items():
        for path, why in m["flagged"]:  # type: ignore[attr-defined]
            print(f"  flagged in {name}: {path}: {why}")
    if args.compare:
        print("\ndetect-secrets' own scan_file (all plugins, default filters), same files:\n")
        print("| set | seconds | MB/s on disk | files flagged |")
        print("|---|---|---|---|")
        for name, (files, m) in results.items():
            seconds, flagged = compare(files)
            print(f"| {name} | {seconds:.1f} | {m['raw'] / 1e6 / seconds:.2f} | {len(flagged)} |")  # type: ignore[operator]
            for path in flagged:
                print(f"  flagged by scan_file in {name}: {path}")


if __name__ == "__main__":
    main()
