#!/usr/bin/env python
"""Answer quality through the real ask path: retrieval -> evidence -> prompt -> model -> answer.

Each set (``--sets``) is a folder indexed with the real indexer into ``--home/SET`` (reused when
indexed) and questions (scripts/data/answers_*.jsonl: question, expected answer string, the file
that holds it; questions with no file have no answer in the folder):

- pydocs: the Python library reference (../shared/eval/pydocs), 54 questions (dev);
- pydocs-val: 30 more questions on other pages (check set);
- code: the source of the installed ``rich`` package (dev);
- code-test: the source of the installed ``click`` package, 24 questions (TEST set: written
  2026-12-07 before any change was scored on it);
- notes: markdown/plain-text notes of a small team, scripts/data/notes (dev);
- readmes: package READMEs rebuilt from scripts/data/readmes_packages.txt (TEST set: never tuned
  on, scored only after a change is chosen).

Every question goes through ``open_conversation`` + ``Conversation.send`` (what `ragterm ask`
runs), greedy, per model (``--model``, repeatable; the 1.5B comes from scripts/fetch_bench_model.py)
and answer assembly (``--assembly``, rag.assembly values). Beside it, the **plain-prompt
baseline** answered by the same loaded model in the same run: the same search's chunks, whole, in
its order, one plain prompt, no system prompt, no adapter. Every prompt (ours and the baseline's)
starts from an empty model cache (``--warm-cache`` keeps it), so an answer does not depend on which
prompt ran before it, and a run with the baseline answers our prompts as a run without does.
Columns:

- answer right: the expected string appears in the answer (as a whole identifier);
- cites right file: a citation [n] of the answer points at the expected file;
- evidence right: an evidence line (or the definition it sits under) holds the expected string;
- retrieved: the expected file was among the sources sent (the ceiling of the rest);
- nothing found: for questions with no answer in the corpus, the app said so (no source cleared
  ``rag.threshold``, or the model said the files do not say); "+N flagged": the other answers
  to them that name something no source sent holds, or give a source number where the name
  should be ("… is [3]."), which the user is told under the answer;
- right answers flagged: right answers told so all the same: the name is right but in none of
  the sources sent (the model knew it; the user is asked to check it);
- quotes in the sources: of the answers that quote, how many quote only text that was sent;
- ttft median: time to first token (plain baseline's in brackets), from an empty cache: the
  whole prompt evaluated, as for a first question;
- context of right answers: the largest prompt + answer (tokens) among the right answers, the
  shortest ``chat.context_length`` that keeps them all (a smaller window trims sources).

    .venv/bin/python scripts/bench_answers.py --home /tmp/answers --sets pydocs,code,notes \
        --assembly excerpts,whole,extractive
    .venv/bin/python scripts/bench_answers.py --home /tmp/answers --sets code \
        --model "$(.venv/bin/python scripts/fetch_bench_model.py)"
    .venv/bin/python scripts/bench_answers.py --evidence-only  # evidence scoring only
    .venv/bin/python scripts/bench_answers.py --order-only --sets pydocs-val
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
    from ragterm.engine.index.pipeline import index_paths

    for ev in index_paths(conn, [corpus], cfg=cfg):
        if isinstance(ev, IndexFinished):
            print(f"indexed {ev.counts} in {ev.seconds:.0f}s", file=sys.stderr)


def load_dev(path: Path, limit: int | None) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return rows[:limit] if limit else rows


def evidence_only(conn, cfg, dev: list[dict]) -> None:  # noqa: ANN001 - script
    """Evidence right per scoring variant, on the same retrieved chunks."""
    from ragterm.engine.answer.conversation import make_retriever
    from ragterm.engine.retrieve import evidence

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
    from ragterm.engine.answer.conversation import make_retriever
    from ragterm.engine.retrieve import evidence

    search = make_retriever(conn, cfg)
    assert search is not None, "nothing indexed"
    pos = [q for q in dev if q["file"]]
    right = {"retrieval": 0, "evidence": 0}
    for q in pos:
        hits = search(q["question"], cfg["rag.top_k"])
        units = evidence.rank(q["question"], hits, search.embedder)
        if not hits:
            continue
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
    from ragterm.engine.answer.conversation import make_retriever

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


PLAIN_PROMPT = (
    "Answer the question using the sources below. Name the function, class, option or value "
    "the question asks for, and cite the source number like [1].\n\n{sources}\n\nQuestion: {q}"
)


def plain_answer(backend, question: str, hits: list, max_tokens: int) -> str:  # noqa: ANN001
    """The plain-prompt baseline: the search's chunks, whole, in its order, one plain prompt."""
    from ragterm.engine.answer.prompt import as_is
    from ragterm.engine.models.llm import SamplingParams

    sources = "\n\n".join(f"[{i}] {h.rel_path}\n{as_is(h.text)}" for i, h in enumerate(hits, 1))
    messages = [{"role": "user", "content": PLAIN_PROMPT.format(sources=sources, q=question)}]
    switch = getattr(backend, "use_adapter", None)
    if switch is not None:
        switch(False)  # the bare model
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, seed=1)
    return "".join(backend.stream(messages, params, None))


def cold(backend) -> None:  # noqa: ANN001 - script
    """Forget the model's cached keys/values, so the next prompt is evaluated from its first token.

    llama-cpp-python reuses the cache for a prompt's shared prefix and evaluates only the rest,
    in batches that start elsewhere; greedy decoding flips where two tokens are close, so without
    this an answer depended on what the model read before it (6 of 80 code answers differed
    between a run with the baseline and one without)."""
    llm = getattr(backend, "llm", None)
    if llm is not None and hasattr(llm, "reset"):
        llm.reset()


def _tally() -> dict:
    keys = ["answer", "cites", "attributed", "evidence", "retrieved", "pos", "neg", "none",
            "flagged", "right_flagged", "quoted", "verbatim"]  # fmt: skip
    t: dict = dict.fromkeys(keys, 0)
    t.update(seconds=0.0, ttft=[], rows=[])
    return t


def _score(t: dict, q: dict, content: str, files: list[str] | None, cited: list[int],
           evidence: list, grounding: str) -> dict:  # fmt: skip
    row: dict = {"id": q["id"], "text": content}
    if q["file"]:
        t["pos"] += 1
        right = {
            "answer": holds(content, q["expected"]),
            "cites": files is not None and any(files[n - 1] == q["file"] for n in cited),
            "evidence": any(holds(quoted(e), q["expected"]) for e in evidence),
            "retrieved": files is not None and q["file"] in files,
        }
        for key, ok in right.items():
            t[key] += ok
        row.update(right)
    else:
        t["neg"] += 1
        said = grounding == "nothing_found" or bool(NOT_FOUND.search(content))
        t["none"] += said
        row["nothing_found"] = said
    t["rows"].append(row)
    return row


def run_answers(conn, cfg, dev: list[dict], backend, model: str, assembly: str,  # noqa: ANN001
                baseline: bool, warm: bool = False,
                ) -> tuple[dict, dict | None, object]:  # fmt: skip
    """One model, one assembly, every question; with ``baseline`` the plain prompt over the same
    search results, answered by the same loaded model in the same run. Each prompt starts from an
    empty cache unless ``warm``."""
    from ragterm.engine.answer.assembly import make as make_assembly
    from ragterm.engine.answer.conversation import make_retriever, open_conversation
    from ragterm.engine.answer.prompt import check_citations
    from ragterm.engine.events import Done

    c = cfg.with_overrides(**{"rag.assembly": assembly, "chat.temperature": 0.0, "chat.seed": 1})
    search = make_retriever(conn, c)
    ours, plain = _tally(), (_tally() if baseline else None)
    for q in dev:
        conv = open_conversation(c, conn, model=model, reuse=backend)
        backend = conv.backend
        if not warm:
            cold(backend)
        t = time.perf_counter()
        done = next(ev for ev in conv.send(q["question"], retrieve=search) if isinstance(ev, Done))
        ours["seconds"] += time.perf_counter() - t
        if "ttft_s" in done.timings:
            ours["ttft"].append(done.timings["ttft_s"])
        if '"' in done.content or "“" in done.content:  # a quote, checked against what was sent
            ours["quoted"] += 1
            ours["verbatim"] += not done.unquoted
        files = [h.rel_path for h in done.sources]
        # an answer that cites nothing is scored on ragterm's attribution (counted apart)
        cited = done.citations or done.attributed
        row = _score(ours, q, done.content, files, cited, done.evidence, done.grounding)
        if done.attributed and row.get("cites"):
            ours["attributed"] += 1
        # told under the answer: a name no source holds, or a source number where the name goes
        told = bool(done.unsupported) or bool(done.bare)
        if told and not q["file"]:
            ours["flagged"] += not row["nothing_found"]
        elif told and row.get("answer"):  # right, but from the model's memory
            ours["right_flagged"] += 1
        row.update(grounding=done.grounding, assembly=done.assembly,
                   tokens=done.prompt_tokens + done.completion_tokens,
                   unsupported=done.unsupported, bare=done.bare)  # fmt: skip
        if plain is not None:
            # the chunks ours searched for (a turn that does not generate keeps fusion's order)
            reads = not done.assembly or make_assembly(done.assembly, c).generates
            hits = search(q["question"], c["rag.top_k"], reads) if search is not None else []
            if not warm:
                cold(backend)
            t = time.perf_counter()
            text = plain_answer(backend, q["question"], hits, c["chat.max_tokens"]) if hits else ""
            plain["seconds"] += time.perf_counter() - t
            if hits:
                plain["ttft"].append(backend.last_stats().get("ttft_s", 0.0))
            cited = check_citations(text, len(hits))
            _score(plain, q, cited.text, [h.rel_path for h in hits], cited.valid, [],
                   "sources" if hits else "nothing_found")  # fmt: skip
    return ours, plain, backend


# -- the sets ------------------------------------------------------------------------------------


def _package_dir(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(list(spec.submodule_search_locations)[0])


def _readmes_dir(home: Path) -> Path:
    """Package READMEs (the long description in each wheel's METADATA), rebuilt from the pinned
    versions in scripts/data/readmes_packages.txt with pip download (cached in ``home``)."""
    import subprocess
    import zipfile
    from email.parser import Parser

    out = home / "readmes"
    pins = (ROOT / "scripts/data/readmes_packages.txt").read_text().split()
    if out.is_dir() and len(list(out.glob("*.md"))) == len(pins):
        return out
    wheels = home / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                    str(wheels), *pins], check=True)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        name = pin.split("==")[0]
        norm = re.sub(r"[-_.]+", "-", name).lower()
        stem = re.sub(r"[-_.]+", "_", name).lower()
        (whl,) = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(stem + "-")]
        with zipfile.ZipFile(whl) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            raw = z.read(meta).decode("utf-8").replace("\r\n", "\n")
            msg = Parser().parsestr(raw)
        body = msg.get_payload() or msg.get("Description", "")
        (out / f"{norm}.md").write_text(str(body), encoding="utf-8")
    return out


# name -> (questions, corpus folder (given the set's home), held out: scored only after a change
# is chosen, never tuned on)
SETS = {
    "pydocs": ("answers_dev.jsonl", lambda home: DEFAULT_CORPUS, False),
    "pydocs-val": ("answers_val.jsonl", lambda home: DEFAULT_CORPUS, True),
    "code": ("answers_code.jsonl", lambda home: _package_dir("rich"), False),
    "code-test": ("answers_code_test.jsonl", lambda home: _package_dir("click"), True),
    "notes": ("answers_notes.jsonl", lambda home: ROOT / "scripts/data/notes", False),
    "readmes": ("answers_readmes.jsonl", _readmes_dir, True),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sets", default="pydocs", help=f"comma-separated: {', '.join(SETS)}")
    ap.add_argument("--corpus-dir", type=Path, help="index this folder instead (one set)")
    ap.add_argument("--dev", type=Path, help="questions file instead of the set's")
    ap.add_argument("--home", type=Path, help="where each set's RAGTERM_HOME lives (kept, reused)")
    ap.add_argument("--model", action="append", help="model name or GGUF path (repeatable)")
    ap.add_argument("--assembly", default="auto", help="comma-separated rag.assembly values")
    ap.add_argument("--no-baseline", action="store_true", help="skip the plain-prompt baseline")
    ap.add_argument(
        "--warm-cache",
        action="store_true",
        help="keep the model's cache between prompts (faster; answers depend on order)",
    )
    ap.add_argument("--limit", type=int, help="first N questions only")
    ap.add_argument("--evidence-only", action="store_true", help="evidence variants, no model")
    ap.add_argument("--order-only", action="store_true", help="first source right, no model")
    ap.add_argument("--json", type=Path, help="write every answer to this file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    root = args.home or Path(tempfile.mkdtemp(prefix="ragterm-answers-"))
    sys.path.insert(0, str(ROOT))
    from ragterm import config
    from ragterm.store.db import connect

    all_rows: dict = {}
    print("| set | model | assembly | answer right | plain baseline | cites right file "
          "| evidence right | retrieved | nothing found | right answers flagged "
          "| quotes in sources | s/q | ttft median (plain) | context of right answers |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for name in args.sets.split(","):
        qfile, corpus_of, _held_out = SETS[name]
        home = root / ("pydocs" if name.startswith("pydocs") else name)
        home.mkdir(parents=True, exist_ok=True)
        os.environ["RAGTERM_HOME"] = str(home)
        cfg = config.load().with_overrides(**dict(kv.split("=", 1) for kv in args.set))
        conn = connect()
        if not conn.execute("SELECT count(*) FROM chunks").fetchone()[0]:
            index_corpus(conn, cfg, (args.corpus_dir or corpus_of(home)).resolve())
        dev = load_dev(args.dev or ROOT / "scripts" / "data" / qfile, args.limit)
        if args.evidence_only:
            evidence_only(conn, cfg, dev)
            continue
        if args.order_only:
            order_only(conn, cfg, dev)
            continue
        for model in args.model or [cfg["chat.model"]]:
            backend = None
            for i, asm in enumerate(args.assembly.split(",")):
                print(f"running {name} {Path(model).name} {asm} ...", file=sys.stderr, flush=True)
                ours, plain, backend = run_answers(
                    conn,
                    cfg,
                    dev,
                    backend,
                    model,
                    asm,
                    baseline=not args.no_baseline and i == 0,
                    warm=args.warm_cache,
                )
                pos, n = max(ours["pos"], 1), len(dev)
                cells = [f"{ours[k] / pos:.2f}" for k in ("answer",)]
                cells.append(f"{plain['answer'] / pos:.2f}" if plain else "–")
                cites = f"{ours['cites'] / pos:.2f}"
                if ours["attributed"]:
                    cites += f" ({ours['attributed']} by ragterm's attribution)"
                cells.append(cites)
                cells += [f"{ours[k] / pos:.2f}" for k in ("evidence", "retrieved")]
                none = f"{ours['none']}/{ours['neg']}"
                if ours["flagged"]:
                    none += f" +{ours['flagged']} flagged"
                if plain:
                    none += f" (plain {plain['none']}/{plain['neg']})"
                cells += [none, f"{ours['right_flagged']}", f"{ours['verbatim']}/{ours['quoted']}"]
                cells.append(f"{ours['seconds'] / n:.1f}")
                med = sorted(ours["ttft"])[len(ours["ttft"]) // 2] if ours["ttft"] else 0.0
                pmed = sorted(plain["ttft"])[len(plain["ttft"]) // 2] if plain and plain["ttft"] \
                    else 0.0  # fmt: skip
                cells.append(f"{med:.2f} s ({pmed:.2f} s)")
                # the shortest chat.context_length that keeps every right answer whole: the
                # largest prompt + answer among them (a smaller window trims sources)
                used = [r.get("tokens", 0) for r in ours["rows"] if r.get("answer")]
                cells.append(f"{max(used)} tokens" if used and max(used) else "–")
                asm_used = {r.get("assembly") for r in ours["rows"]} - {"", None}
                label = f"{asm} ({'/'.join(sorted(asm_used))})" if asm == "auto" else asm
                print(f"| {name} | {Path(model).name} | {label} | " + " | ".join(cells) + " |",
                      flush=True)  # fmt: skip
                all_rows[f"{name}|{model}|{asm}"] = ours["rows"]
                if plain:
                    all_rows[f"{name}|{model}|plain"] = plain["rows"]
            if backend is not None:
                backend.close()
        conn.close()
        if args.json:
            args.json.write_text(json.dumps(all_rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
