"""The main flows, driven through the keyboard with the real bundled model."""

from __future__ import annotations

from ragterm.store import chats
from ragterm.store.db import connect
from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.prompt_input import PromptInput
from ragterm.tui.widgets.status_bar import StatusBar
from tests.tui.conftest import ask, ready, wait_for


async def test_ask_streams_an_answer_and_saves_it() -> None:
    app = RagtermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        seen: list[str] = []
        orig = ChatMessage.append

        async def spy(self: ChatMessage, text: str) -> None:
            seen.append(text)
            await orig(self, text)

        ChatMessage.append = spy  # type: ignore[method-assign]
        try:
            await ask(pilot, "Say hello")
        finally:
            ChatMessage.append = orig  # type: ignore[method-assign]
        msgs = list(chat.query(ChatMessage))
        assert [m.role for m in msgs] == ["user", "assistant"]
        answer = msgs[-1]
        assert answer.status == "ok" and answer.content.strip()
        assert len(seen) > 1, "the answer arrived token by token"
        assert "".join(seen) == answer.content
        status = chat.query_one(StatusBar).render_status()
        assert "smollm2-135m" in status and "tok/s" in status and "RAG on" in status
        stored = chats.messages(connect(), chat.conv.session_id)
        assert [m.role for m in stored] == ["user", "assistant"]
        assert stored[1].content == answer.content


async def test_escape_cancels_and_keeps_the_partial_answer(monkeypatch) -> None:
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "1000")
    app = RagtermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        chat.query_one("#prompt").text = "Write a very long story about a dragon."
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.answer is not None and len(chat.answer.content) > 5)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not chat.generating, timeout=5)
        answer = list(chat.query(ChatMessage))[-1]
        assert answer.status == "cancelled"
        assert answer.content.strip()
        stored = chats.messages(connect(), chat.conv.session_id)
        assert stored[-1].status == "cancelled"
        assert stored[-1].completion_tokens < 1000


async def test_sessions_switch_and_history(monkeypatch) -> None:
    app = RagtermApp()
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await ask(pilot, "first question")
        first = chat.conv.session_id
        await pilot.press("ctrl+n")
        assert not list(chat.query(ChatMessage))
        await ask(pilot, "second question")
        second = chat.conv.session_id
        assert first != second
        await pilot.press("ctrl+b")
        sidebar = chat.query_one("#sessions")
        assert sidebar.display
        titles = [s.title for s in sidebar.sessions]
        assert titles == ["second question", "first question"]
        await pilot.press("down", "enter")  # newest is highlighted first; go to the older one
        await wait_for(pilot, lambda: chat.conv.session_id == first)
        await pilot.pause()
        texts = [m.content for m in chat.query(ChatMessage)]
        assert texts[0] == "first question" and len(texts) == 2
        box = chat.query_one(PromptInput)
        box.focus()
        await pilot.press("up")
        assert box.text == "first question"


async def test_slash_commands_and_errors_become_notifications(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = RagtermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        box = chat.query_one(PromptInput)
        box.focus()
        await pilot.press("slash", "r", "a")
        assert chat.query_one("#command-hint").display
        await pilot.press("tab")
        assert box.text == "/rag "
        await pilot.press(*"off", "enter")
        assert chat.rag is False
        assert "RAG off" in chat.query_one(StatusBar).render_status()
        box.text = "/k zero"
        await pilot.press("enter")
        assert any("/k needs a number" in n.message for n in app._notifications)
        box.text = "/model no-such-model"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.screen_stack) > 2)  # the model picker opens
        assert type(app.screen).__name__ == "ModelPicker"
        await pilot.press("enter")  # the bundled model is first
        status = chat.query_one(StatusBar)
        await wait_for(pilot, lambda: "loading" not in status.render_status())  # reloaded
        await ask(pilot, "hi")
        box.text = "/export"
        await pilot.press("enter")
        exported = tmp_path / f"ragterm-chat-{chat.conv.session_id}.md"
        assert "## You" in exported.read_text()
