"""Regenerate and edit never lose an exchange: the old one goes only when the new one is saved."""

from __future__ import annotations

import socket
import threading

import pytest

from ragterm import config
from ragterm.engine.answer.conversation import Conversation
from ragterm.engine.events import Done, Token
from ragterm.engine.models.llm import RemoteOpenAI
from ragterm.store import chats
from ragterm.store.db import connect


@pytest.fixture
def model(bundled_llama):
    """The session's bundled model (tests/engine/conftest.py)."""
    return bundled_llama


@pytest.fixture
def cfg(monkeypatch):
    monkeypatch.setenv("RAGTERM_CHAT__TEMPERATURE", "0")
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "16")
    monkeypatch.setenv("RAGTERM_CHAT__SEED", "1")
    return config.load()


def stored(conn, sid):
    return [(m.role, m.content, m.status) for m in chats.messages(conn, sid)]


def dead_server_url() -> str:
    """A loopback port nobody listens on: the connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_regenerate_that_fails_keeps_the_old_exchange(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg)
    list(conv.send("Name a colour."))
    before = stored(conn, conv.session_id)
    # the same conversation, now answered by a server that is down
    conv.backend = RemoteOpenAI(dead_server_url(), timeout=2)
    done = list(conv.regenerate())[-1]
    assert isinstance(done, Done) and done.status == "error"
    assert stored(conn, conv.session_id) == before


def test_edit_that_fails_keeps_the_old_exchange(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg)
    list(conv.send("First question."))
    list(conv.send("Second question."))
    before = stored(conn, conv.session_id)
    last = conv.last_question()
    conv.backend = RemoteOpenAI(dead_server_url(), timeout=2)
    done = list(conv.send("Second question, edited.", replace_from=last.id))[-1]
    assert done.status == "error"
    assert stored(conn, conv.session_id) == before


def test_edit_replaces_the_exchange_and_the_prompt_leaves_it_out(model, cfg):
    conn = connect()
    conv = Conversation(model, conn, cfg)
    list(conv.send("The password is swordfish."))
    last = conv.last_question()
    assert "swordfish" in str(conv.history())
    prompts = []
    orig = model.stream

    def spy(messages, params, cancel=None):
        prompts.append(messages)
        return orig(messages, params, cancel)

    model.stream = spy
    try:
        done = list(conv.send("What is the weather like?", replace_from=last.id))[-1]
    finally:
        del model.stream
    assert done.status == "ok"
    assert "swordfish" not in str(prompts[0]), "the replaced exchange is not in the prompt"
    rows = stored(conn, conv.session_id)
    assert [r[:2] for r in rows] == [
        ("user", "What is the weather like?"),
        ("assistant", done.content),
    ]


def test_regenerate_abandoned_midway_keeps_both(model, cfg):
    """The answer's consumer goes away (the process is closing): the old exchange stays and the
    new question follows it with the part of the answer written so far, marked cancelled."""
    conn = connect()
    conv = Conversation(model, conn, cfg)
    list(conv.send("Name an animal."))
    before = stored(conn, conv.session_id)
    events = conv.regenerate()
    got = []
    for ev in events:
        if isinstance(ev, Token):
            got.append(ev.text)
            if len(got) == 2:
                break
    events.close()
    rows = stored(conn, conv.session_id)
    assert rows[:2] == before
    assert rows[2:] == [("user", "Name an animal.", "ok"), ("assistant", "".join(got), "cancelled")]


def test_cancelled_regenerate_keeps_the_partial_marked(model, cfg):
    """Esc during a regenerate does what Esc always does: the part written stays, marked; the
    screen and the stored history agree."""
    conn = connect()
    conv = Conversation(model, conn, cfg.with_overrides(**{"chat.max_tokens": 200}))
    list(conv.send("Say hi."))
    cancel = threading.Event()
    got = []
    for ev in conv.regenerate(cancel=cancel):
        if isinstance(ev, Token):
            got.append(ev.text)
            if len(got) == 3:
                cancel.set()
        last = ev
    assert last.status == "cancelled"
    rows = stored(conn, conv.session_id)
    assert [r[0] for r in rows] == ["user", "assistant"]
    assert rows[1][1:] == ("".join(got), "cancelled")
