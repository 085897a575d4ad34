"""What leaves the machine: with ``embed.backend = remote`` and ``chat.backend = remote`` against
recording servers on loopback, no byte of a skipped, secret or out-of-root file is sent, and a
question sends the chunks of the answer's sources only.

``ragterm index`` and ``ragterm ask`` run as a user runs them (child processes); the servers run
in this process and keep every request body.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.conftest import env_for, ragterm
from tests.faults.hostile import SECRET_MARKER, build
from tests.faults.recording import (
    RecordingChat,
    RecordingEmbeddings,
    file_lines,
    leaked_bytes,
)


@pytest.fixture(scope="module")
def servers():
    from ragterm.engine.embed import BUNDLED, load_embedder

    embed = RecordingEmbeddings(load_embedder(BUNDLED))
    embed.start()
    chat = RecordingChat()
    chat.start()
    yield embed, chat
    for srv in (embed, chat):
        srv.shutdown()
        srv.server_close()


def remote_env(home: Path, embed: RecordingEmbeddings, chat: RecordingChat) -> dict[str, str]:
    return env_for(
        home,
        RAGTERM_EMBED__BACKEND="remote",
        RAGTERM_EMBED__URL=embed.url,
        RAGTERM_EMBED__REMOTE_MODEL=embed.model_name,
        RAGTERM_CHAT__BACKEND="remote",
        RAGTERM_REMOTE__URL=chat.url,
        RAGTERM_REMOTE__MODEL="recorder",
        RAGTERM_INDEX__MAX_FILE_MB="0.95",  # the 1 MB single-line file is too large
    )


def left_out(folder: Path, report: dict[str, dict]) -> list[Path]:
    """Every regular file the index left out (skipped or failed, folders walked into), and every
    file of the folder next to it that its symlinks lead to."""
    paths: list[Path] = []
    for rel, ev in report.items():
        if ev["status"] not in ("skipped", "failed"):
            continue
        p = folder / rel.rstrip("/")
        if p.is_dir():
            real = p.resolve()
            if real == folder or real.is_relative_to(folder):  # a loop: walked as itself
                continue
            paths += [q for q in real.rglob("*") if q.is_file()]
        elif p.is_file():  # never a fifo or a device: reading those would block or never end
            paths.append(p)
    outside = folder.parent / f"{folder.name}-outside"
    paths += [q for q in outside.rglob("*") if q.is_file()]
    return paths


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_nothing_of_a_left_out_file_reaches_the_servers(home, tmp_path, servers):
    embed, chat = servers
    folder = tmp_path / "hostile"
    build(folder, long_line_mb=1)
    env = remote_env(home, embed, chat)
    r = ragterm(home, "index", "--json", str(folder), env=env, timeout=240)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    report = {
        ev["path"]: ev
        for ev in (json.loads(x) for x in r.stdout.splitlines() if x.startswith("{"))
        if ev.get("event") == "file"
    }
    assert embed.bodies, "nothing was embedded remotely: the test would prove nothing"
    indexed = [folder / p for p, ev in report.items() if ev["status"] == "new"]
    sent = embed.sent()
    # the check can see a leak: lines of the indexed files are there
    assert any(line in sent for p in indexed for line in file_lines(p))
    out = left_out(folder, report)
    names = {str(p.relative_to(folder)) for p in out if p.is_relative_to(folder)}
    assert {"creds", "notes.md", "report.pdf", "memo.docx", "shadowlink"} <= names
    assert len(out) > 25
    assert leaked_bytes(sent, out, indexed) == {}
    assert SECRET_MARKER not in sent  # also inside PDF and DOCX text, and outside the folder

    # a question: the chat server gets the system prompt, the question and the sources' chunks
    before = len(chat.bodies)
    q = ragterm(home, "ask", "--json", "When does the keeper trim the wick?", env=env)
    assert q.returncode == 0, q.stderr[-3000:]
    done = json.loads(q.stdout)
    asked = "\n".join(b.decode("utf-8", "replace") for b in chat.bodies[before:])
    request = json.loads(chat.bodies[-1])
    user = request["messages"][-1]["content"]
    assert "When does the keeper trim the wick?" in user
    sources = {s["rel_path"] for s in done["sources"]}
    assert "good.md" in sources
    for s in done["sources"]:  # each source's chunk, as sent (quoted line by line)
        assert all(line.strip() in user for line in s["text"].splitlines())
    others = [p for p in indexed if str(p.relative_to(folder)) not in sources]
    assert others
    chat_sent = "\n".join(m["content"] for m in request["messages"])
    assert leaked_bytes(chat_sent, others) == {}  # no chunk of a file that is not a source
    assert leaked_bytes(chat_sent, out, indexed) == {} and SECRET_MARKER not in asked
