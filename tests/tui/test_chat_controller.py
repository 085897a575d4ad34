"""The chat screen's state machine, driven without Textual: the real bundled model, no pilot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ragterm import config
from ragterm.engine.connection import PerThreadConnection
from ragterm.engine.events import Done, Token
from ragterm.errors import RagtermError
from ragterm.tui import commands, slash
from ragterm.tui.chat_controller import ChatController


@pytest.fixture
def ctl() -> ChatController:
    c = ChatController(config.load(), PerThreadConnection())
    c.loaded(c.load(c.model_name, c.persona_name, None))
    return c


def answer(ctl: ChatController, text: str, **kw: bool) -> tuple[list[object], Done]:
    turn = ctl.begin(text, **kw)
    assert ctl.generating
    events = list(ctl.events(turn))
    done = events[-1]
    assert isinstance(done, Done)
    ctl.finished(done)
    assert not ctl.generating
    return events, done


def test_the_controller_needs_no_textual():
    code = "import sys, ragterm.tui.chat_controller; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_slash_table_covers_every_command():
    assert set(slash.HANDLERS) == set(commands.BY_NAME)


def test_send_streams_and_stores_then_history_and_sessions(ctl):
    events, done = answer(ctl, "Say hello")
    assert done.status == "ok" and done.content.strip()
    assert any(isinstance(e, Token) for e in events)
    assert ctl.history() == ["Say hello"]
    assert [s.id for s in ctl.sessions()] == [ctl.session_id]
    assert [m.role for m in ctl.messages(ctl.session_id)] == ["user", "assistant"]


def test_one_answer_at_a_time_and_cancel(ctl):
    turn = ctl.begin("Write a long story")
    with pytest.raises(RagtermError, match="being written"):
        ctl.begin("another")
    with pytest.raises(RagtermError, match="wait for the answer"):
        ctl.new_conversation()
    assert ctl.cancel() and turn.cancel.is_set()
    done = list(ctl.events(turn))[-1]
    assert done.status == "cancelled"
    ctl.finished(done)
    assert not ctl.cancel()  # nothing left to cancel


def test_before_the_model_loads_nothing_is_sent():
    c = ChatController(config.load(), PerThreadConnection())
    with pytest.raises(RagtermError, match="still loading"):
        c.begin("hi")
    with pytest.raises(RagtermError, match="nothing to regenerate"):
        c.check_can_redo("regenerate")


def test_settings_are_validated(ctl):
    assert ctl.set_rag("off") is False and ctl.set_rag("") is True
    with pytest.raises(RagtermError, match="/rag takes on, off or rewrite"):
        ctl.set_rag("maybe")
    ctl.set_rag("rewrite off")  # how follow-ups are searched, said by /rag
    assert ctl.cfg["rag.rewrite"] == "off" and "searched as typed" in ctl.rag_text()
    assert "(best evidence first)" in ctl.rag_text()  # rag.order, the default
    with pytest.raises(RagtermError, match="/rag rewrite takes one of"):
        ctl.set_rag("rewrite sideways")
    assert ctl.set_k("7") == 7
    for bad in ("0", "x", "101"):
        with pytest.raises(RagtermError, match="/k needs a number"):
            ctl.set_k(bad)
    assert ctl.k == 7


def test_edit_replaces_the_last_exchange_once_answered(ctl):
    answer(ctl, "What is two plus two?")
    assert ctl.start_edit() == "What is two plus two?"
    answer(ctl, "What is three plus three?")
    stored = ctl.messages(ctl.session_id)
    assert [m.content for m in stored if m.role == "user"] == ["What is three plus three?"]


def test_regenerate_keeps_one_answer(ctl):
    answer(ctl, "Name a colour")
    ctl.check_can_redo("regenerate")
    _, done = answer(ctl, "", regenerate=True)
    assert done.status == "ok"
    assert [m.role for m in ctl.messages(ctl.session_id)] == ["user", "assistant"]


def test_export_new_and_delete(ctl, tmp_path):
    with pytest.raises(RagtermError, match="nothing to export"):
        ctl.export("")
    answer(ctl, "Say hi")
    sid = ctl.session_id
    path = ctl.export(str(tmp_path / "chat.md"))
    assert "Say hi" in path.read_text(encoding="utf-8")
    ctl.new_conversation()
    assert ctl.session_id is None and ctl.history() == []
    assert ctl.delete(sid) is False  # not the current conversation
    assert ctl.sessions() == []
