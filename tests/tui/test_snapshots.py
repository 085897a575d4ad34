"""The main screen at 80x24 and 120x40 with a stored conversation (no clocks, no timings)."""

from __future__ import annotations

import pytest

from ragterm.engine.events import Hit
from ragterm.store import chats
from ragterm.store.db import connect, transaction
from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.prompt_input import PromptInput
from tests.tui.conftest import ready, wait_for

ANSWER = """The index lives in **one SQLite file** [1].

```python
conn = connect()
```

- keyword search: FTS5
- vector search: sqlite-vec"""


def seeded_session() -> int:
    conn = connect()
    hit = Hit(
        chunk_id=1,
        text="ragterm keeps everything in one SQLite database.",
        path="/notes/design.md",
        rel_path="design.md",
        collection="notes",
        start_line=3,
        end_line=9,
        score=0.0325,
        vector_rank=1,
        keyword_rank=2,
    )
    with transaction(conn):
        sid = chats.create_session(conn, title="Where is the index?", model="smollm2-135m")
        chats.add_message(conn, sid, "user", "Where does ragterm keep its index?")
        chats.add_message(conn, sid, "assistant", ANSWER, sources=[hit.to_dict()])
    return sid


async def settle(pilot) -> None:
    chat = await ready(pilot)
    await wait_for(pilot, lambda: bool(str(chat.query_one("#meter").render()).strip()))
    box = chat.query_one(PromptInput)
    box.cursor_blink = False
    box.focus()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_main_screen(snap_compare, size: tuple[int, int]) -> None:
    app = RagtermApp(session_id=seeded_session())
    assert snap_compare(app, terminal_size=size, run_before=settle)
