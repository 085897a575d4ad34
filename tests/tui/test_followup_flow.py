"""A follow-up question in the TUI: the inspector shows the standalone query that was searched,
and /rag says how follow-ups are rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragterm.store.db import connect
from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.chat_message import ChatMessage
from tests.engine.test_rewrite import SOUP, TREES
from tests.helpers import index_folder, write_files
from tests.tui.conftest import ask, ready, wait_for


@pytest.fixture
def indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = write_files(tmp_path / "docs", {"trees.md": TREES, "soup.md": SOUP})
    conn = connect()
    index_folder(conn, docs)
    conn.close()
    monkeypatch.setenv("RAGTERM_RAG__THRESHOLD", "0")
    monkeypatch.setenv("RAGTERM_RAG__TOP_K", "1")
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "4")  # the answers are not under test


async def test_inspector_shows_the_rewritten_follow_up(indexed) -> None:
    app = RagtermApp()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await ask(pilot, "How can I copy a whole directory tree?")
        await ask(pilot, "and how do I delete it again?")
        await wait_for(pilot, lambda: len(list(chat.query(ChatMessage))) == 4)
        answer = list(chat.query(ChatMessage))[-1]
        assert [h.rel_path for h in answer.sources] == ["trees.md"]
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InspectorScreen")
        label = str(app.screen.query_one("#inspector-query").render())
        assert label.startswith("searched for: and how do I delete it again? copy whole directory")
        assert "follow-up + earlier terms" in label
        await pilot.press("escape")
        await chat.run_command("rag", "")  # toggles retrieval off and says what is in effect
        await pilot.pause()
        notes = [n.message for n in app._notifications]
        assert any(
            "retrieval off" in n and "carry the earlier question's terms" in n and "too small" in n
            for n in notes
        )
