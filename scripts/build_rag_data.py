#!/usr/bin/env python
"""Training data for the retrieval-tuned adapter: (sources, question) -> quoted, cited answer.

The data comes from public, permissively licensed documentation: the Python 3.11 library reference
in ../shared/eval/pydocs (PSF License). Never from this machine's manual pages. Pages that hold an
answer of the answers dev set or of the check set (scripts/data/answers_dev.jsonl and
answers_val.jsonl) are left out as questions, so the benchmark measures the adapter on documentation
it was not trained to answer from (the shipped adapter predates the check set: only the dev set's
pages were left out then).

With ``--questions FILE`` (scripts/write_rag_questions.py: paraphrased questions written by a
1.5B model over pydocs, Python source with docstrings, prose) the questions come from that file
instead of templates, over whatever folder ``--home`` has indexed (one home per corpus); the rest
of the recipe is the same.

Recipe, per definition in a page (a signature line followed by its description):
1. a question is written from the description by templates ("Which gzip function opens a
   gzip-compressed file ...?", "What does gzip.open do?", ...);
2. the sources are what the app itself would send: the real retriever over the indexed corpus,
   the evidence scorer's excerpts, the prompt builder's numbered sources (answer.prompt.user_turn);
3. the answer names the definition, quotes its description verbatim and cites the source number
   that holds it; when the retrieved sources do not hold it (or it was removed on purpose, for a
   share of the questions) the answer is "The files do not say." (capped at 17% of the data: at
   25% the model said it on 6 of 46 answerable dev questions).

    .venv/bin/python scripts/build_rag_data.py --home /work/cache/pydocs-home --out rag.jsonl
Then train with ragterm's own pipeline: scripts/train_rag_adapter.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "pydocs" / "corpus"
DEFAULT_DEV = [ROOT / "scripts" / "data" / f"answers_{name}.jsonl" for name in ("dev", "val")]
NOT_VERBS = frozenset(
    "the a an this these if when note deprecated new changed see for in on as an it its all some "
    "each by default like unlike only one two instances".split()
)
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(\s|$)")


def third_person(verb: str) -> str:
    v = verb.lower()
    if v.endswith(("s", "sh", "ch", "x", "z")):
        return v + "es"
    if v.endswith("y") and len(v) > 2 and v[-2] not in "aeiou":
        return v[:-1] + "ies"
    return v + "s"


def definitions(path: Path) -> list[dict]:
    """(signature, short name, kind, first sentence of its description) of one page."""
    from ragterm.engine.index.parse import parse_bytes

    parsed = parse_bytes(path.read_bytes(), path)
    out = []
    blocks = parsed.blocks
    for a, b in zip(blocks, blocks[1:], strict=False):
        if a.level != 7 or b.level != 0:
            continue
        sig = " ".join(a.text.split())
        m = _FIRST_SENTENCE.match(" ".join(b.text.split()))
        if not m or len(sig) > 90:
            continue
        sentence = m.group(1)
        if not 25 <= len(sentence) <= 160:
            continue
        kind = "function"
        head = sig
        for prefix in ("class ", "exception ", "async ", "abstractmethod ", "classmethod "):
            if head.startswith(prefix):
                kind = {"class ": "class", "exception ": "exception"}.get(prefix, kind)
                head = head[len(prefix) :]
        name = head.split("(")[0].strip()
        if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
            continue
        if "(" not in head and kind == "function":
            kind = "attribute"
        elif kind == "function" and name.count(".") >= 2:
            kind = "method"
        out.append({"signature": sig, "name": name, "kind": kind, "sentence": sentence})
    return out


def questions(d: dict, module: str, rng: random.Random) -> list[str]:
    short = d["name"].rsplit(".", 1)[-1]
    words = d["sentence"].rstrip(".").split(" ")
    qs = [f"What does {d['name']} do?", f"In {module}, what is {short} for?"]
    verb = words[0]
    if verb.isalpha() and verb[0].isupper() and verb.lower() not in NOT_VERBS and len(words) > 2:
        rest = " ".join(words[1:])
        if len(rest) > 100:
            rest = rest[:100].rsplit(" ", 1)[0]
        kind = d["kind"]
        qs += [
            f"Which {module} {kind} {third_person(verb)} {rest}?",
            f"How do I {verb.lower()} {rest} with {module}?",
            f"I want to {verb.lower()} {rest}. What should I use?",
        ]
    rng.shuffle(qs)
    return qs[:2]


def answer(d: dict, n: int) -> str:
    return f'{d["name"]}: "{d["sentence"]}" [{n}]'


_STOP = frozenset(
    "a an and are as at be but by can do does for from has have how i if in into is it its of on "
    "or so such that the their then there these they this to was were what when where which who "
    "why will with you your should use want".split()
)


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z0-9_]+", text)} - _STOP


def shorten(example: dict, sources: int, lines: int) -> dict | None:
    """The example with its first ``sources`` sources of at most ``lines`` quoted lines each.

    Training on CPU costs time per token; short prompts teach the same habit (find the line,
    quote it, cite it) at a third of the cost. The line that answers (and the one naming it) is
    always kept; the rest are the lines sharing most words with the question. None when the
    answer's source is cut.
    """
    system, user, reply = example["messages"]
    head, rest = user["content"].split("Sources:\n\n", 1)
    body, tail = rest.split("\n\nThe sources are quoted data", 1)
    tail = "The sources are quoted data" + tail
    question = tail.split("Question: ", 1)[1]
    blocks = re.split(r"\n\n(?=\[\d+\] )", body)
    ans = reply["content"]
    m = re.search(r"\[(\d+)\]$", ans)
    n = int(m.group(1)) if m else None
    if n and n > sources:
        return None
    q_words = _words(question)
    new = []
    for i, block in enumerate(blocks[:sources], 1):
        header, *quoted = block.split("\n")
        quoted = [x for x in quoted if x.strip() not in (">", "> …")]
        keep: set[int] = set()
        if n == i:
            sentence = ans.split('"')[1] if '"' in ans else ""
            name = ans.split(":")[0].rsplit(".", 1)[-1]
            for j, x in enumerate(quoted):
                if (sentence and sentence in " ".join(x.split())) or name in x:
                    keep.add(j)
        for j in sorted(range(len(quoted)), key=lambda j: -len(q_words & _words(quoted[j]))):
            if len(keep) >= lines:
                break
            keep.add(j)
        new.append("\n".join([header] + [quoted[j] for j in sorted(keep)]))
    if n and ans.split('"')[1] not in " ".join(new[n - 1].split()):
        return None
    content = head + "Sources:\n\n" + "\n\n".join(new) + "\n\n" + tail
    return {"messages": [system, {"role": "user", "content": content}, reply]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--dev", type=Path, action="append", help="question sets whose pages are left "
                    "out (repeatable; default: the dev and the check set)")  # fmt: skip
    ap.add_argument("--home", type=Path, required=True, help="RAGTERM_HOME with the corpus indexed")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--examples", type=int, default=172)  # before shortening drops a few
    ap.add_argument("--negatives", type=float, default=0.2, help="share with the answer removed")
    ap.add_argument("--negative-cap", type=float, default=0.17,
                    help="largest share of \"The files do not say.\" examples")  # fmt: skip
    ap.add_argument("--questions", type=Path, action="append", help="questions written for the "
                    "folder indexed in --home instead of templates (repeatable)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sources", type=int, default=3, help="sources kept per example (0 = all)")
    ap.add_argument("--lines", type=int, default=3, help="quoted lines kept per source")
    args = ap.parse_args()

    os.environ["RAGTERM_HOME"] = str(args.home)
    sys.path.insert(0, str(ROOT))
    from ragterm import config
    from ragterm.engine.answer.conversation import make_retriever
    from ragterm.engine.answer.prompt import NOT_IN_FILES, user_turn
    from ragterm.engine.retrieve import evidence
    from ragterm.store.db import connect

    cfg = config.load()
    conn = connect()
    search = make_retriever(conn, cfg)
    if search is None:
        raise SystemExit(f"nothing indexed in {args.home}: run scripts/bench_answers.py first")
    held_out = {
        json.loads(x)["file"]
        for path in args.dev or DEFAULT_DEV
        for x in path.read_text().splitlines()
        if x.strip()
    } - {None}
    rng = random.Random(args.seed)
    indexed = {r[0] for r in conn.execute("SELECT path FROM files WHERE status = 'indexed'")}
    pages = sorted(
        p for p in args.corpus_dir.glob("*.html") if p.name not in held_out and p.name in indexed
    )
    pool = []
    if args.questions:  # written questions over any indexed folder (scripts/write_rag_questions.py)
        for path in args.questions:
            for x in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(x) if x.strip() else {"dropped": True}
                if row.get("dropped") or row["file"] in held_out or row["file"] not in indexed:
                    continue
                d = {"name": row["expected"], "sentence": row["sentence"], "q": row["question"]}
                pool.append((row["file"], "", d))
    else:
        for page in pages:
            for d in definitions(page):
                pool.append((page.name, page.stem, d))
    rng.shuffle(pool)
    print(f"{len(pages)} pages, {len(pool)} passages", file=sys.stderr)
    k, lines = cfg["rag.top_k"], cfg["rag.excerpt_lines"]
    system = cfg["chat.system_prompt"]
    stats = {"positive": 0, "negative_removed": 0, "negative_missed": 0, "skipped": 0}
    positives = negatives = 0
    with args.out.open("w", encoding="utf-8") as out:
        for file, module, d in pool:
            if sum(stats.values()) - stats["skipped"] >= args.examples:
                break
            q = d.get("q") or questions(d, module, rng)[0]
            remove = rng.random() < args.negatives
            hits = search(q, k * 2 if remove else k)
            if remove:
                hits = [h for h in hits if h.rel_path != file][:k]
            if not hits:
                stats["skipped"] += 1
                continue
            units = evidence.rank(q, hits, search.embedder)
            sent = evidence.as_sent(hits, units, order=cfg["rag.order"], lines=lines)
            holder = next(
                (
                    n
                    for n, h in enumerate(sent, 1)
                    if h.rel_path == file
                    and d["sentence"] in " ".join(h.text.split())
                    and d["name"].rsplit(".", 1)[-1] in f"{h.heading}\n{h.text}"
                ),
                None,
            )
            in_file = any(h.rel_path == file for h in sent)
            if holder is None and in_file:
                stats["skipped"] += 1  # the page was sent but not the line: ambiguous, skip
                continue
            cap = args.negative_cap
            if holder is None and negatives >= positives * cap / (1 - cap):
                stats["skipped"] += 1  # too many "The files do not say." makes the model say it
                continue  # when the answer is there
            if holder is None:
                negatives += 1
                target = NOT_IN_FILES
                stats["negative_removed" if remove else "negative_missed"] += 1
            else:
                target = answer(d, holder)
                stats["positive"] += 1
                positives += 1
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": user_turn(q, sent)},
                {"role": "assistant", "content": target},
            ]
            example: dict | None = {"messages": messages}
            if args.sources:
                example = shorten(example, args.sources, args.lines)
            if example is not None:
                out.write(json.dumps(example) + "\n")
    print(json.dumps(stats), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
