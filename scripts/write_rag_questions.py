#!/usr/bin/env python
"""Paraphrased questions for the retrieval adapter's training data, written by a 1.5B model.

Template questions ("Which gzip function opens ...?") repeat the passage's own words, so an
adapter trained on them learns to match words, not to answer; it collapsed off the pages it was
trained on (docs/benchmarks.md). Here a bigger instruct model (Qwen2.5-Coder-1.5B, fetched by
scripts/fetch_bench_model.py) reads one passage and writes one question a user would ask, in other
words, whose answer is a name or value of that passage:

- ``pydocs``: a definition of the Python library reference and the first sentence of its
  description (pages holding answers of the dev and check sets are never used);
- ``code``: a Python definition (function, class, method) and the first line of its docstring, from
  the source folders given (never rich, never a package of the READMEs test set);
- ``prose``: a sentence of a text file that names a concrete thing; the model picks the answer (a
  short span copied from the sentence) and writes the question;
- ``pydocs-prose``: the same over the reference's running text (sentences naming a number, a
  constant or a name in capitals: facts the way notes state them).

Every row goes to a jsonl cache (question, expected, sentence, file relative to the corpus root,
corpus); a rerun only asks for passages not yet in it. Questions that contain the answer are
dropped (kept in the cache with ``"dropped": true`` so they are not asked again).

    .venv/bin/python scripts/write_rag_questions.py --corpus code --root /tmp/corpora/code \
        --count 80 --out /tmp/q-code.jsonl
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = Path.home() / ".cache/ragterm-bench/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEV_SETS = [ROOT / "scripts" / "data" / f"answers_{name}.jsonl" for name in ("dev", "val")]
_SENTENCE = re.compile(r"^(.+?[.!?])(\s|$)")
_NOT_FACTS = ("Changed in", "New in", "Deprecated", ">>>", "See ", "Note")
_NAME = re.compile(r"[A-Za-z_][\w.]*")


def _ok_sentence(s: str) -> bool:
    return 25 <= len(s) <= 160 and '"' not in s


def held_out_roots() -> list[str]:
    """Folder names that must never be trained on: rich (code dev set), the READMEs test set's
    packages, the notes dev set."""
    pins = (ROOT / "scripts/data/readmes_packages.txt").read_text().split()
    names = {re.sub(r"[-.]+", "_", p.split("==")[0]).lower() for p in pins}
    return sorted(names | {"rich", "notes"})


def _open_pages(root: Path) -> Iterator[tuple[Path, list]]:
    """Each pydocs page with its parsed blocks, the pages holding dev or check answers left out."""
    from ragterm.engine.index.parse import parse_bytes

    held = {json.loads(x)["file"] for p in DEV_SETS for x in p.read_text().splitlines() if x}
    for page in sorted(root.glob("*.html")):
        if page.name not in held:
            yield page, parse_bytes(page.read_bytes(), page).blocks


def pydocs_passages(root: Path) -> list[dict]:
    out = []
    for page, blocks in _open_pages(root):
        for a, b in zip(blocks, blocks[1:], strict=False):
            if a.level != 7 or b.level != 0:
                continue
            sig = " ".join(a.text.split())
            m = _SENTENCE.match(" ".join(b.text.split()))
            head = re.sub(r"^(class|exception|async|abstractmethod|classmethod) ", "", sig)
            name = head.split("(")[0].strip()
            if not m or len(sig) > 90 or not _ok_sentence(m.group(1)) or not _NAME.fullmatch(name):
                continue
            kind = sig.split(" ")[0] if sig.startswith(("class ", "exception ")) else "function"
            kind = "attribute" if "(" not in head and kind == "function" else kind
            out.append({"file": page.name, "name": name, "context": sig, "sentence": m.group(1),
                        "module": page.stem, "kind": kind})  # fmt: skip
    return out


def pydocs_prose_passages(root: Path) -> list[dict]:
    """Sentences of the reference's running text (not a definition's first sentence) that name a
    value: a number, a constant or a name in capitals (notes-like facts)."""
    out = []
    for page, blocks in _open_pages(root):
        for a, b in zip(blocks, blocks[1:], strict=False):
            if b.level != 0 or a.level == 7:
                continue
            for s in re.split(r"(?<=[.!?])\s+", " ".join(b.text.split())):
                if s.startswith(_NOT_FACTS):
                    continue
                if _ok_sentence(s) and re.search(r"\s(\d[\d.,%]*|[A-Z][A-Z_0-9]{2,})\b", s):
                    out.append({"file": page.name, "name": "", "context": page.stem,
                                "sentence": s, "module": page.stem})  # fmt: skip
    return out


def code_passages(root: Path) -> list[dict]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            doc = ast.get_docstring(node) or ""
            first = " ".join(doc.strip().split("\n\n")[0].split())
            m = _SENTENCE.match(first)
            if node.name.startswith("__") or not m or not _ok_sentence(m.group(1)):
                continue
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            module = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            module = module.replace("textual_widgets", "textual.widgets")
            out.append({"file": rel, "name": node.name, "context": f"{kind} {node.name}",
                        "sentence": m.group(1), "module": module})  # fmt: skip
    return out


def prose_passages(root: Path) -> list[dict]:
    out = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".txt", ".md")):
        text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
        for s in re.split(r"(?<=[.!?])\s+", text):
            # a sentence that names a concrete thing: a capitalised word or a number past its start
            if _ok_sentence(s) and re.search(r"\s([A-Z][\w-]+|\d[\d.,%]*)\b", s):
                out.append({"file": path.relative_to(root).as_posix(), "name": "",
                            "context": path.stem, "sentence": s, "module": path.stem})  # fmt: skip
    return out


ASK_NAME = (
    "In {where}, a {kind} is documented as: {sentence}\n\n"
    "Write ONE question a user would ask to find out the name of this {kind}, in other words "
    "than the documentation's (do not copy its wording). Say which {scope} you mean. "
    "Reply with the question only."
)
ASK_SPAN = (
    "Sentence ({topic}): {sentence}\n\nPick the most specific name, term or number in the "
    "sentence (1 to 4 words, copied exactly) and write ONE question whose answer is that, "
    "which makes sense without the sentence (name its topic) and uses other words than the "
    "sentence. Example: "
    'for "The backup runs at 02:00 on nas-02." -> {{"answer": "nas-02", "question": "Which host '
    'runs the nightly backup?"}}. Reply with JSON only.'
)
SPAN_CORPORA = ("prose", "pydocs-prose")
WHERE = {"pydocs": ("the Python library reference", "module"), "code": ("the Python package",
         "package or module")}  # fmt: skip


def ask(llm, passage: dict, corpus: str) -> tuple[str, str]:  # noqa: ANN001 - llama_cpp.Llama
    if corpus in SPAN_CORPORA:
        topic = f"Python docs, {passage['module']}" if corpus == "pydocs-prose" else "an article"
        prompt = ASK_SPAN.format(topic=topic, sentence=passage["sentence"])
    else:
        where, scope = WHERE[corpus]
        where += f", module {passage['module']},"
        kind = passage["context"].split(" ")[0] if corpus == "code" else passage["kind"]
        prompt = ASK_NAME.format(where=where, scope=scope, kind=kind, sentence=passage["sentence"])
    out = llm.create_chat_completion(
        messages=[{"role": "user", "content": prompt}], temperature=0.0, max_tokens=60, seed=1
    )
    text = out["choices"][0]["message"]["content"].strip()
    if corpus not in SPAN_CORPORA:
        return passage["name"], text.strip('`" ').split("\n")[0]
    m = re.search(r"\{.*\}", text, re.S)
    try:
        row = json.loads(m.group(0)) if m else {}
    except json.JSONDecodeError:
        row = {}
    return str(row.get("answer", "")).strip(" ."), str(row.get("question", "")).strip()


def usable(row: dict) -> bool:
    """A question that does not give its answer away and is not the sentence itself; for prose,
    an answer copied from the sentence."""
    question, expected, sentence = row["question"], row["expected"], row["sentence"]
    if not expected or not question.endswith("?") or not 15 <= len(question) <= 220:
        return False
    if any(c in expected for c in ':"') or (
        row["corpus"] in SPAN_CORPORA and expected not in sentence
    ):
        return False
    short = expected.rsplit(".", 1)[-1].lower()
    return short not in question.lower() and sentence.lower().rstrip(".") not in question.lower()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", choices=["pydocs", "code", "prose", "pydocs-prose"], required=True)
    ap.add_argument("--root", type=Path, required=True, help="the corpus folder (as indexed)")
    ap.add_argument("--count", type=int, default=60, help="passages to ask about (cached included)")
    ap.add_argument("--out", type=Path, required=True, help="jsonl cache, appended to")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))

    parts = {p.lower() for p in args.root.resolve().parts} | {
        d.name.lower() for d in args.root.iterdir() if d.is_dir()
    }
    bad = parts & set(held_out_roots())
    if bad or args.root.resolve().as_posix().startswith("/usr/share/man"):
        raise SystemExit(f"{args.root} holds held-out material ({', '.join(sorted(bad))})")
    passages = {"pydocs": pydocs_passages, "code": code_passages, "prose": prose_passages,
                 "pydocs-prose": pydocs_prose_passages}[args.corpus](args.root)  # fmt: skip
    random.Random(args.seed).shuffle(passages)
    passages = passages[: args.count]
    cached = []
    if args.out.exists():
        cached = [json.loads(x) for x in args.out.read_text().splitlines() if x.strip()]
    for r in cached:  # the filter may have changed since the cache was written
        r.pop("dropped", None)
        if not usable(r):
            r["dropped"] = True
    if cached:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in cached), encoding="utf-8")
    seen = {(r["file"], r["sentence"]) for r in cached if r["corpus"] == args.corpus}
    todo = [p for p in passages if (p["file"], p["sentence"]) not in seen]
    print(f"{len(passages)} passages, {len(todo)} to ask", file=sys.stderr)
    if todo:
        from llama_cpp import Llama

        llm = Llama(model_path=str(args.model), n_ctx=1024, n_threads=2, verbose=False)
    t0 = time.perf_counter()
    with args.out.open("a", encoding="utf-8") as out:
        for i, p in enumerate(todo, 1):
            expected, question = ask(llm, p, args.corpus)
            row = {"question": question, "expected": expected, "sentence": p["sentence"],
                   "context": p["context"], "file": p["file"], "corpus": args.corpus}  # fmt: skip
            if not usable(row):
                row["dropped"] = True
            out.write(json.dumps(row) + "\n")
            out.flush()
            if i % 10 == 0:
                rate = (time.perf_counter() - t0) / i
                print(f"{i}/{len(todo)} {rate:.1f} s/question", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
