"""Inspector: see ranks and scores, pin a chunk, regenerate with it; preview and help open."""

from __future__ import annotations

from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.chat_message import ChatMessage
from tests.tui.conftest import ready, wait_for
from tests.tui.test_snapshots import seeded_session


async def test_pin_a_chunk_and_regenerate(tmp_path) -> None:
    app = RagtermApp(session_id=seeded_session())
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        await wait_for(pilot, lambda: len(list(chat.query(ChatMessage))) == 2)
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InspectorScreen")
        table = app.screen.query_one("DataTable")
        row = [str(c) for c in table.get_row_at(0)]
        assert row[1:5] == ["design.md:3-9", "2", "1", "0.0325"]
        await pilot.press("p")
        assert str(table.get_row_at(0)[-1]) == "pinned"
        await pilot.press("r")

        def regenerated() -> bool:  # a fast model may finish before the first check
            msgs = list(chat.query(ChatMessage))
            return (
                not chat.generating
                and len(msgs) == 2
                and bool(msgs[-1].content)
                and "SQLite file" not in msgs[-1].content
            )

        await wait_for(pilot, regenerated)
        await pilot.pause()
        msgs = list(chat.query(ChatMessage))
        assert [m.role for m in msgs] == ["user", "assistant"]
        answer = msgs[-1]
        assert answer.content != "" and "SQLite file" not in answer.content
        assert [h.rel_path for h in answer.sources] == ["design.md"]

        await pilot.press("f1")
        assert type(app.screen).__name__ == "TextView"
        await pilot.press("escape")
        assert app.screen is chat
