#!/usr/bin/env python
"""Answer quality through the real ask path: retrieval -> evidence -> prompt -> model -> answer.

Indexes ``--corpus-dir`` (default ../shared/eval/pydocs/corpus) into ``--home`` with the real
indexer (reused when already indexed), then asks every question of ``--dev`` (default
scripts/data/answers_dev.jsonl: question, expected answer string, the file that holds it; questions
with no file have no answer in the corpus) through ``open_conversation`` + ``Conversation.send``,
the code `ragterm ask` runs, greedy (temperature 0). Per model and adapter setting it prints:

- answer right: the expected string appears in the answer (as a whole identifier);
- cites right file: a citation [n] of the answer points at the expected file;
- evidence right: an evidence line (or the definition it sits under) holds the expected string;
- retrieved: the expected file was among the sources sent (the ceiling of the rest);
- nothing found: for questions with no answer in the corpus, the app said so (no source cleared
  ``rag.threshold``, or the model said the files do not say);
- quotes in the sources: of the answers that quote, how many quote only text that was sent (the
  rest get the app's "not in the sources" note).

    .venv/bin/python scripts/bench_answers.py --home /tmp/pydocs-home --adapter both
    .venv/bin/python scripts/bench_answers.py --evidence-only  # evidence scoring only
    .venv/bin/python scripts/bench_answers.py --order-only --dev scripts/data/answers_val.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "pydocs" / "corpus"
DEFAULT_DEV = ROOT / "scripts" / "data" / "answers_dev.jsonl"
NOT_FOUND = re.compile(
    r"(files|sources|context) (do|does) not (say|mention|answer)|not in the", re.I
)


def holds(text: str, expected: str) -> bool:
    """``expected`` appears in ``text`` as a whole identifier ("stem" is not in "system")."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(expected)}(?![A-Za-z0-9_])", text) is not None


def quoted(e) -> str:  # noqa: ANN001 - script
    """An evidence item as the user sees it: the quote, the line above it, its definition."""
    return f"{e.heading}\n{e.context}\n{e.text}"


def index_corpus(conn, cfg, corpus: Path) -> None:  # noqa: ANN001 - script
    from ragterm.engine.events import IndexFinished
    from ragterm.engine.indexer import index_paths

    for ev in index_paths(conn, [corpus], cfg=cfg):
        if isinstance(ev, IndexFinished):
            print(f"indexed {ev.counts} in {ev.seconds:.0f}s", file=sys.stderr)


def load_dev(path: Path, limit: int | None) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return rows[:limit] if limit else rows


def evidence_only(conn, cfg, dev: list[dict]) -> None:  # noqa: ANN001 - script
    """Evidence right per scoring variant, on the same retrieved chunks."""
    from ragterm.engine import evidence
    from ragterm.engine.chat import make_retriever

    search = make_retriever(conn, cfg)
    assert search is not None, "nothing indexed"
    variants = {"keyword only": 1.0, "embedding only": 0.0, "mixed 0.6 (default)": 0.6}
    variants["mixed 0.4"] = 0.4
    variants["mixed 0.8"] = 0.8
    right = dict.fromkeys(variants, 0)
    retrieved = 0
    pos = [q for q in dev if q["file"]]
    t = time.perf_counter()
    for q in pos:
        hits = search(q["question"], cfg["rag.top_k"])
        retrieved += any(h.rel_path == q["file"] for h in hits)
        for name, w in variants.items():
            units = evidence.rank(q["question"], hits, search.embedder, keyword_weight=w)
            ev = evidence.select(units, hits, k=cfg["rag.evidence"])
            right[name] += any(holds(quoted(e), q["expected"]) for e in ev)
    ms = (time.perf_counter() - t) / len(pos) * 1000
    print(f"\n## evidence lines ({len(pos)} questions, top_k {cfg['rag.top_k']}, "
          f"{cfg['rag.evidence']} lines; {ms:.0f} ms/question for all variants)")  # fmt: skip
    print(f"retrieved the right file: {retrieved}/{len(pos)} = {retrieved / len(pos):.2f}\n")
    print("| scoring | evidence right | share |")
    print("|---|---|---|")
    for name, n in right.items():
        print(f"| {name} | {n}/{len(pos)} | {n / len(pos):.2f} |")


def order_only(conn, cfg, dev: list[dict]) -> None:  # noqa: ANN001 - script
    """How often the first source sent holds the answer, per ``rag.order`` (no model: the 135M
    model answers from source [1], so this predicts its answers at a fraction of the time)."""
    from ragterm.engine import evidence
    from ragterm.engine.chat import make_retriever

    search = make_retriever(conn, cfg)
    assert search is not None, "nothing indexed"
    pos = [q for q in dev if q["file"]]
    right = {"retrieval": 0, "evidence": 0}
    for q in pos:
        hits = search(q["question"], cfg["rag.top_k"])
        units = evidence.rank(q["question"], hits, search.embedder)
        for order, sent in (("retrieval", hits), ("evidence", evidence.by_evidence(hits, units))):
            first = evidence.excerpt(sent[:1], units, cfg["rag.excerpt_lines"])[0]
            text = f"{first.heading}\n{first.text}"
            right[order] += first.rel_path == q["file"] and holds(text, q["expected"])
    print(f"\n## first source holds the answer ({len(pos)} questions, top_k {cfg['rag.top_k']}, "
          f"excerpt_lines {cfg['rag.excerpt_lines']})\n")  # fmt: skip
    print("| rag.order | first source right |\n|---|---|")
    for order, n in right.items():
        print(f"| {order} | {n / max(len(pos), 1):.2f} |")


def thresholds(conn, cfg, dev: list[dict]) -> None:  # noqa: ANN001 - script
    """Best cosine of the retrieved chunks, for questions with and without an answer."""
    from ragterm.engine.chat import make_retriever

    search = make_retriever(conn, cfg.with_overrides(**{"rag.threshold": 0.0}))
    assert search is not None
    best = {True: [], False: []}
    for q in dev:
        hits = search.retriever.search(q["question"], k=5)
        best[bool(q["file"])].append(max((h.vector_score or 0) for h in hits) if hits else 0)
    for has, vals in best.items():
        if not vals:
            continue
        vals.sort()
        label = "answer in corpus" if has else "no answer in corpus"
        print(f"best cosine, {label}: min {vals[0]:.3f} median {vals[len(vals) // 2]:.3f} "
              f"max {vals[-1]:.3f}")  # fmt: skip


def run_answers(conn, cfg, dev: list[dict], model: str, adapter: str) -> dict:  # noqa: ANN001
    from ragterm.engine.chat import make_retriever, open_conversation
    from ragterm.engine.events import Done

    c = cfg.with_overrides(**{"rag.adapter": adapter, "chat.temperature": 0.0, "chat.seed": 1})
    search = make_retriever(conn, c)
    backend = None
    keys = ["answer", "cites", "evidence", "retrieved", "pos", "neg", "none", "quoted", "verbatim"]
    tally = dict.fromkeys(keys, 0)
    tally["seconds"] = 0.0
    rows = []
    for q in dev:
        conv = open_conversation(c, conn, model=model, reuse=backend)
        backend = conv.backend
        t = time.perf_counter()
        done = next(ev for ev in conv.send(q["question"], retrieve=search) if isinstance(ev, Done))
        tally["seconds"] += time.perf_counter() - t
        row = {"id": q["id"], "text": done.content, "grounding": done.grounding}
        if '"' in done.content or "“" in done.content:  # a quote, checked against what was sent
            tally["quoted"] += 1
            tally["verbatim"] += not done.unquoted
            row["unquoted"] = done.unquoted
        if q["file"]:
            tally["pos"] += 1
            files = [h.rel_path for h in done.sources]
            right = {
                "answer": holds(done.content, q["expected"]),
                "cites": any(files[n - 1] == q["file"] for n in done.citations),
                "evidence": any(holds(quoted(e), q["expected"]) for e in done.evidence),
                "retrieved": q["file"] in files,
            }
            for key, ok in right.items():
                tally[key] += ok
            row.update(right)
        else:
            tally["neg"] += 1
            said = done.grounding == "nothing_found" or bool(NOT_FOUND.search(done.content))
            tally["none"] += said
            row["nothing_found"] = said
        rows.append(row)
    if backend is not None:
        backend.close()
    tally["rows"] = rows
    return tally


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--home", type=Path, help="RAGTERM_HOME (kept; reused when indexed)")
    ap.add_argument("--model", action="append", help="model name or GGUF path (repeatable)")
    ap.add_argument("--adapter", default="both", help="auto, off, both, or an adapter path")
    ap.add_argument("--limit", type=int, help="first N questions only")
    ap.add_argument("--evidence-only", action="store_true", help="evidence variants, no model")
    ap.add_argument("--order-only", action="store_true", help="first source right, no model")
    ap.add_argument("--json", type=Path, help="write every answer to this file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="ragterm-answers-"))
    os.environ["RAGTERM_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    from ragterm import config
    from ragterm.store.db import connect

    cfg = config.load().with_overrides(**dict(kv.split("=", 1) for kv in args.set))
    conn = connect()
    if not conn.execute("SELECT count(*) FROM chunks").fetchone()[0]:
        index_corpus(conn, cfg, args.corpus_dir.resolve())
    dev = load_dev(args.dev, args.limit)
    thresholds(conn, cfg, dev)
    if args.evidence_only:
        evidence_only(conn, cfg, dev)
        return 0
    if args.order_only:
        order_only(conn, cfg, dev)
        return 0
    models = args.model or [cfg["chat.model"]]
    adapters = ["auto", "off"] if args.adapter == "both" else [args.adapter]
    results = {}
    for model in models:
        for adapter in adapters:
            print(f"running {model} adapter={adapter} ...", file=sys.stderr, flush=True)
            results[(model, adapter)] = run_answers(conn, cfg, dev, model, adapter)
    n_pos = sum(1 for q in dev if q["file"])
    n_neg = len(dev) - n_pos
    print(f"\n## answers ({n_pos} questions with an answer in the corpus, {n_neg} without; "
          f"top_k {cfg['rag.top_k']}, threshold {cfg['rag.threshold']}, "
          f"excerpt_lines {cfg['rag.excerpt_lines']})\n")  # fmt: skip
    print("| model | adapter | answer right | cites right file | evidence right | retrieved "
          "| nothing found (no answer) | quotes in the sources | s/question |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for (model, adapter), t in results.items():
        cells = [f"{t[k] / max(t['pos'], 1):.2f}" for k in ("answer", "cites", "evidence")]
        cells.append(f"{t['retrieved'] / max(t['pos'], 1):.2f}")
        cells.append(f"{t['none']}/{t['neg']}")
        cells.append(f"{t['verbatim']}/{t['quoted']}")
        cells.append(f"{t['seconds'] / len(dev):.1f}")
        print(f"| {Path(model).name} | {adapter} | " + " | ".join(cells) + " |")
    if args.json:
        out = {f"{m}|{a}": t["rows"] for (m, a), t in results.items()}
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
