"""/edit and /regenerate in the chat: the old exchange is replaced only by a saved new one."""

from __future__ import annotations

import socket

from ragterm.engine.models.llm import RemoteOpenAI
from ragterm.store import chats
from ragterm.store.db import connect
from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.prompt_input import PromptInput
from tests.tui.conftest import ask, ready, wait_for


def rows(sid: int) -> list[tuple[str, str, str]]:
    return [(m.role, m.content, m.status) for m in chats.messages(connect(), sid)]


async def test_edit_replaces_the_exchange_when_the_new_answer_is_saved() -> None:
    app = RagtermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        await ask(pilot, "What is the capital of Frnace?")
        sid = chat.conv.session_id
        box = chat.query_one(PromptInput)
        box.text = "/edit"
        await pilot.press("enter")
        await pilot.pause()
        assert box.text == "What is the capital of Frnace?"
        assert not list(chat.query(ChatMessage))
        assert len(rows(sid)) == 2, "nothing is deleted before the new answer exists"
        await ask(pilot, "What is the capital of France?")
        stored = rows(sid)
        assert [r[:1] + r[2:] for r in stored] == [("user", "ok"), ("assistant", "ok")]
        assert stored[0][1] == "What is the capital of France?"
        shown = [(m.role, m.content) for m in chat.query(ChatMessage)]
        assert shown == [(r[0], r[1]) for r in stored]


async def test_failed_regenerate_shows_and_keeps_the_old_answer() -> None:
    app = RagtermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        await ask(pilot, "Name a colour.")
        sid = chat.conv.session_id
        before = rows(sid)
        local = chat.conv.backend
        with socket.socket() as s:  # a port nobody listens on: the server is "down"
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        chat.conv.backend = RemoteOpenAI(f"http://127.0.0.1:{port}/v1", timeout=2)
        try:
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: not chat.generating)
            await pilot.pause(0.2)
        finally:
            chat.conv.backend = local
        assert any("cannot reach the server" in n.message for n in app._notifications)
        assert rows(sid) == before
        shown = [(m.role, m.content, m.status) for m in chat.query(ChatMessage)]
        assert shown == before
