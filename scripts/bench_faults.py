#!/usr/bin/env python
"""Fault injection, measured: kills survived, hostile files handled, tracebacks, data lost, memory.

Everything runs the real ``python -m ragterm`` in child processes, each in its own RAGTERM_HOME:

1. index kills: a 20-file folder indexed, then ``--kills`` times: change a file, start
   ``ragterm index``, SIGKILL it at a seeded random moment of its indexing (the span measured on a
   clean run), check the database (integrity, FTS vs chunks, every chunk with a vector) and that
   ``ragterm search`` works. Then one complete run, compared with a clean index of the final folder
   (file/chunk/FTS/vector counts and the top-5 of four searches). A kill is survived when the
   database is consistent and searchable after it; any difference at the end is a data-loss case.
2. chat kills: ``ragterm ask`` SIGKILLed mid-answer ``--chat-kills`` times; data lost when the
   session misses the question or the partial answer (saved once a second, marked cancelled).
3. hostile corpus (tests/faults/hostile.py, with a ``--long-line-mb`` single-line file):
   each file indexed or reported with the expected reason (symlinks out of the folder and
   secrets by content counted apart too); tracebacks counted over every run; peak RSS of that
   index run vs the clean 20-file run (the baseline).
4. what leaves the machine: the hostile corpus indexed with ``embed.backend = remote`` and asked
   a question with ``chat.backend = remote``, against recording servers on loopback
   (tests/faults/recording.py): bytes of skipped, secret and out-of-root files found in the
   requests, and bytes of indexed files that were not among the answer's sources in the question.
5. fuzzing (tests/faults/fuzz.py): ``--fuzz-examples`` hypothesis inputs per parser kind and for
   the chunker; inputs that failed through the indexer's catch-all, ran past the time limit or made
   a chunk the model would cut.

    .venv/bin/python scripts/bench_faults.py                  # ~10 min on 2 cores
    .venv/bin/python scripts/bench_faults.py --kills 20 --long-line-mb 200 --fuzz-examples 2000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.conftest import (  # noqa: E402
    assert_consistent,
    db_counts,
    env_for,
    indexing,
    search_results,
    wait_until,
    write_corpus,
)
from tests.faults.hostile import (  # noqa: E402
    SECRET_MARKER,
    build,
    out_of_root,
    secret_kinds,
)
from tests.faults.test_kill_index import QUERIES, mutate  # noqa: E402

TRACEBACKS = 0


def exited(proc: subprocess.Popen) -> bool:
    """Has the child ended? (without reaping it: ``os.wait4`` reads its peak memory later)"""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def run(home: Path, *args: str, env: dict[str, str] | None = None, kill_after=None):
    """(returncode, stdout, stderr, peak RSS MiB, seconds, end time) of ``python -m ragterm ARGS``.

    ``kill_after``: a callable given the process and its stdout file; when it returns, the process
    is SIGKILLed."""
    global TRACEBACKS
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ragterm", *args],
            env=env or env_for(home),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        if kill_after is not None:
            kill_after(proc, out)
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status, usage = os.wait4(proc.pid, 0)
        end = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        o, e = out.read(), err.read()
    TRACEBACKS += (o + e).count("Traceback")
    return proc.returncode, o, e, usage.ru_maxrss / 1024, end - t0, end


def consistent(db: Path) -> bool:
    try:
        assert_consistent(db)
        return True
    except AssertionError:
        return False


def index_kills(work: Path, kills: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    folder = write_corpus(work / "notes", n=20, seed=1)
    home = work / "home"
    env = env_for(home, RAGTERM_EMBED__BATCH_SIZE="4")
    marks: dict[str, float] = {}

    def started(proc: subprocess.Popen, out: object) -> None:  # from the lock to the exit
        wait_until(lambda: indexing(home) or exited(proc))
        marks["start"] = time.monotonic()
        while not exited(proc):
            time.sleep(0.01)

    rc, _, _, clean_rss, clean_s, end = run(home, "index", str(folder), env=env, kill_after=started)
    assert rc == 0, "the clean run failed"
    span = end - marks["start"]
    shutil.rmtree(home / "data")
    survived = 0
    for step in range(kills):
        if step:
            mutate(folder, rng, step)
        moment = rng.uniform(0, span)

        def at_moment(proc: subprocess.Popen, out: object, moment: float = moment) -> None:
            wait_until(lambda: indexing(home) or exited(proc))
            time.sleep(moment)

        run(home, "index", str(folder), env=env, kill_after=at_moment)
        rc, _, err, *_ = run(home, "search", "coffee", env=env)
        searchable = rc == 0 or err.startswith("error: nothing is indexed yet")
        survived += consistent(home / "data" / "ragterm.db") and searchable
    rc, *_ = run(home, "index", str(folder), env=env)
    clean = work / "clean"
    run(clean, "index", str(folder), env=env_for(clean, RAGTERM_EMBED__BATCH_SIZE="4"))
    got, want = home / "data" / "ragterm.db", clean / "data" / "ragterm.db"
    lost = 0
    if rc != 0 or db_counts(got) != db_counts(want):
        lost += 1
    if search_results(got, QUERIES) != search_results(want, QUERIES):
        lost += 1
    return {
        "kills": kills,
        "survived": survived,
        "lost": lost,
        "span_s": span,
        "clean_rss": clean_rss,
        "clean_s": clean_s,
    }


def chat_kills(work: Path, kills: int, seed: int) -> dict[str, int]:
    from ragterm.store import chats
    from ragterm.store.db import connect

    rng = random.Random(seed)
    home = work / "chat"
    env = env_for(home, RAGTERM_CHAT__TEMPERATURE="0.7")
    survived = lost = 0
    for i in range(kills):
        question = f"Write a long story about lighthouse number {i}."

        def mid_answer(proc: subprocess.Popen, out: object) -> None:
            # once the answer streams, at a random moment (it is saved once a second)
            wait_until(lambda: os.fstat(out.fileno()).st_size > 0 or exited(proc), timeout=120)
            time.sleep(rng.uniform(0.2, 3.0))

        args = ("ask", "--no-rag", "--max-tokens", "2000", question)
        run(home, *args, env=env, kill_after=mid_answer)
        try:
            conn = connect(home / "data" / "ragterm.db")
            msgs = [m for s in chats.list_sessions(conn) for m in chats.messages(conn, s.id)]
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()
        except Exception:  # noqa: BLE001 - a broken database is what this counts
            lost += 1
            continue
        asked = [m for m in msgs if m.role == "user" and m.content == question]
        answered = [m for m in msgs if m.role == "assistant" and m.status == "cancelled"]
        survived += ok and bool(asked)
        lost += not asked or len(answered) < i + 1 or not answered[-1].content
    return {"kills": kills, "survived": survived, "lost": lost}


def hostile(work: Path, long_line_mb: int) -> dict[str, object]:
    folder = work / "hostile"
    expect = build(folder, long_line_mb=long_line_mb)
    home = work / "hostile-home"
    rc, out, err, rss, seconds, _ = run(home, "index", "--json", str(folder))
    seen = {}
    for line in out.splitlines():
        if line.startswith("{"):
            ev = json.loads(line)
            if ev.get("event") == "file":
                seen[ev["path"]] = ev
    handled: dict[str, bool] = {}
    for name, want in expect.items():
        got = seen.get(name)
        if got is None:
            handled[name] = False
            continue
        if want.outcome == "indexed":
            ok = got["status"] in ("new", "updated", "unchanged")
        else:
            allowed = ("skipped", "failed") if want.outcome == "reported" else (want.outcome,)
            ok = got["status"] in allowed and want.reason.lower() in got["reason"].lower()
        handled[name] = ok
    links = out_of_root(expect)
    kinds = secret_kinds(expect)
    secret_files = [n for n, e in expect.items() if "contains a secret (" in e.reason]
    lookalikes = [n for n, e in expect.items() if e.outcome == "indexed"]
    from ragterm.store.db import connect

    conn = connect(home / "data" / "ragterm.db")
    (leaked,) = conn.execute(
        "SELECT count(*) FROM chunks WHERE text LIKE ?", (f"%{SECRET_MARKER}%",)
    ).fetchone()
    conn.close()
    return {
        "tried": len(expect),
        "handled": sum(handled.values()),
        "links": len(links),
        "links_skipped": sum(handled[n] for n in links),
        "kinds": len(set(kinds)),
        "secret_files": len(secret_files),
        "secrets_caught": sum(handled[n] for n in secret_files),
        "indexed_ok": sum(handled[n] for n in lookalikes),
        "indexed_tried": len(lookalikes),
        "rc": rc,
        "rss": rss,
        "seconds": seconds,
        "secrets_leaked": leaked,
    }


def remote(work: Path) -> dict[str, int]:
    """The hostile corpus through recording embedding and chat servers: what reached them."""
    from ragterm.engine.embed import BUNDLED, load_embedder
    from tests.faults.recording import RecordingChat, RecordingEmbeddings, leaked_bytes
    from tests.faults.test_what_leaves import left_out, remote_env

    folder = work / "remote" / "hostile"
    build(folder, long_line_mb=1)
    home = work / "remote-home"
    embed = RecordingEmbeddings(load_embedder(BUNDLED))
    embed.start()
    chat = RecordingChat()
    chat.start()
    try:
        env = remote_env(home, embed, chat)
        rc, out, *_ = run(home, "index", "--json", str(folder), env=env)
        report = {}
        for line in out.splitlines():
            if line.startswith("{"):
                ev = json.loads(line)
                if ev.get("event") == "file":
                    report[ev["path"]] = ev
        indexed = [folder / p for p, ev in report.items() if ev["status"] == "new"]
        gone = left_out(folder, report)
        rc2, answer, *_ = run(home, "ask", "--json", "When does the keeper trim the wick?", env=env)
        sources = {s["rel_path"] for s in json.loads(answer)["sources"]} if rc2 == 0 else set()
        asked = "\n".join(
            m["content"] for m in json.loads(chat.bodies[-1])["messages"]
        ) if chat.bodies else ""  # fmt: skip
        others = [p for p in indexed if str(p.relative_to(folder)) not in sources]
        sent = embed.sent()
        return {
            "rc": rc or rc2,
            "requests": len(embed.bodies) + len(chat.bodies),
            "sent_bytes": sum(len(b) for b in embed.bodies + chat.bodies),
            "left_out": len(gone),
            "leaked": sum(leaked_bytes(sent, gone, indexed).values())
            + sum(leaked_bytes(asked, gone, indexed).values())
            + (sent + asked).count(SECRET_MARKER),
            "not_sources": sum(leaked_bytes(asked, others).values()),
            "sources": len(sources),
        }
    finally:
        for srv in (embed, chat):
            srv.shutdown()
            srv.server_close()


def fuzz(examples: int, seed: int) -> dict[str, object]:
    from ragterm.engine.embed import load_tokenizer
    from tests.faults.fuzz import KINDS, TIME_LIMIT_S
    from tests.faults.fuzz import run as fuzz_run

    t0 = time.monotonic()
    tally = fuzz_run(KINDS, examples, load_tokenizer(), seed=seed)
    return {
        "tally": tally,
        "kinds": KINDS,
        "limit": TIME_LIMIT_S,
        "seconds": time.monotonic() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--chat-kills", type=int, default=3)
    ap.add_argument("--long-line-mb", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--fuzz-examples", type=int, default=500, help="per parser kind")
    ap.add_argument("--skip", default="", help="comma list of: kills,chat,hostile,remote,fuzz")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    with tempfile.TemporaryDirectory(prefix="ragterm-faults-") as tmp:
        work = Path(tmp)
        os.environ["RAGTERM_HOME"] = str(work / "bench-home")  # this process's own reads
        t0 = time.monotonic()
        k = index_kills(work, args.kills, args.seed) if "kills" not in skip else None
        c = chat_kills(work, args.chat_kills, args.seed) if "chat" not in skip else None
        h = hostile(work, args.long_line_mb) if "hostile" not in skip else None
        r = remote(work) if "remote" not in skip else None
        f = fuzz(args.fuzz_examples, args.seed) if "fuzz" not in skip else None
        total = time.monotonic() - t0
    print(f"fault injection ({total:.0f} s, seed {args.seed})\n")
    print("| measure | value |")
    print("|---|---|")
    if k is not None:
        print(f"| index kills survived / tried | {k['survived']} / {k['kills']} |")
    if c is not None:
        print(f"| chat kills survived / tried | {c['survived']} / {c['kills']} |")
    if h is not None:
        print(f"| hostile files handled / tried | {h['handled']} / {h['tried']} |")
        print(f"| symlinks out of the folder skipped / tried | {h['links_skipped']} / "
              f"{h['links']} |")  # fmt: skip
        print(f"| files with a secret inside skipped / tried ({h['kinds']} kinds) | "
              f"{h['secrets_caught']} / {h['secret_files']} |")  # fmt: skip
        print(f"| ordinary files indexed / tried (lookalikes included) | {h['indexed_ok']} / "
              f"{h['indexed_tried']} |")  # fmt: skip
        print(f"| secrets indexed | {h['secrets_leaked']} |")
    if r is not None:
        print(f"| bytes of skipped, secret or out-of-root files sent to the servers "
              f"({r['left_out']} files; {r['requests']} requests, {r['sent_bytes']} bytes) | "
              f"{r['leaked']} |")  # fmt: skip
        print(f"| bytes of indexed files that were not a source, sent with the question "
              f"({r['sources']} sources) | {r['not_sources']} |")  # fmt: skip
    if f is not None:
        tally = f["tally"]
        print(f"| fuzz inputs (parsers and chunker), run / failed | {tally.total()} / "
              f"{tally.failures()} |")  # fmt: skip
    print(f"| tracebacks (all runs) | {TRACEBACKS} |")
    if k is not None and c is not None:
        print(f"| data-loss cases | {k['lost'] + c['lost']} |")
    if k is not None:
        print(f"| indexing span of the 20-file folder (kill window) | {k['span_s']:.1f} s |")
    if k is not None and h is not None:
        print()
        print("| measure | baseline: clean 20-file folder | hostile corpus | ratio |")
        print("|---|---|---|---|")
        print(
            f"| peak RSS of `ragterm index` | {k['clean_rss']:.0f} MiB | {h['rss']:.0f} MiB | "
            f"{h['rss'] / k['clean_rss']:.2f} |"
        )
        print(
            f"| wall time of `ragterm index` | {k['clean_s']:.1f} s | {h['seconds']:.1f} s | "
            f"{h['seconds'] / k['clean_s']:.2f} |"
        )
    if h is not None:
        print(f"\nhostile run exit code {h['rc']} ({args.long_line_mb} MB single-line file)")
    if r is not None:
        print(f"remote runs exit code {r['rc']}")
    if f is not None:
        tally = f["tally"]
        print(f"\nfuzzing: {args.fuzz_examples} inputs per kind, seed {args.seed}, "
              f"{f['seconds']:.0f} s, time limit {f['limit']:g} s an input\n")  # fmt: skip
        print("| kind | inputs | chunks | skipped | failed (one line) | unforeseen | hang | "
              "bad chunk | slowest |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for kind in f["kinds"]:
            n = {s: tally.counts[(kind, s)] for s in ("chunks", "skipped", "failed",
                 "unforeseen", "hang", "broken-chunk")}  # fmt: skip
            print(f"| {kind} | {tally.total(kind)} | {n['chunks']} | {n['skipped']} | "
                  f"{n['failed']} | {n['unforeseen']} | {n['hang']} | {n['broken-chunk']} | "
                  f"{tally.slowest.get(kind, 0):.2f} s |")  # fmt: skip
        for out, data in tally.bad:
            print(f"  {out.status}: {out.line[:160]} <- {data[:80]!r}")


if __name__ == "__main__":
    main()
