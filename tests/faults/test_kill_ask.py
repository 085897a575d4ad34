"""SIGKILL during a streamed answer: the session survives, the partial answer is kept, marked."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import env_for, kill, ragterm, start


@pytest.mark.timeout(180)
def test_sigkill_mid_answer_keeps_the_session_and_the_partial_answer(home):
    from ragterm.store import chats
    from ragterm.store.db import connect

    # no sources, so no retrieval adapter: the bare model writes until --max-tokens (~25 s)
    env = env_for(home, RAGTERM_CHAT__TEMPERATURE="0", RAGTERM_CHAT__SEED="1")
    r = ragterm(home, "ask", "--no-rag", "--max-tokens", "8", "Say hello.", env=env)
    assert r.returncode == 0, r.stderr
    conn = connect(home / "data" / "ragterm.db")
    [session] = chats.list_sessions(conn)
    before = chats.messages(conn, session.id)

    proc = start(
        home, "ask", "--no-rag", "--session", str(session.id), "--max-tokens", "2000",
        "Write a very long story about a lighthouse keeper.", env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    printed = proc.stdout.read(40)  # the answer is streaming
    assert printed
    time.sleep(1.5)  # past one progress save
    kill(proc)

    after = chats.messages(conn, session.id)
    assert [(m.role, m.content, m.status) for m in after[:2]] == [
        (m.role, m.content, m.status) for m in before
    ]
    question, answer = after[2:]
    assert question.content == "Write a very long story about a lighthouse keeper."
    assert answer.status == "cancelled"
    assert answer.content.strip().startswith(printed.strip()[:10])
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # the conversation goes on from there
    r = ragterm(
        home, "ask", "--no-rag", "--session", str(session.id), "--max-tokens", "8", "Thanks.",
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert [m.role for m in chats.messages(conn, session.id)] == ["user", "assistant"] * 3
