"""The main screen at 80x24 and 120x40 with a stored conversation (no clocks, no timings)."""

from __future__ import annotations

import pytest

from ragterm.engine.retrieve.hits import Hit
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


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_first_run_welcome(snap_compare, size: tuple[int, int], monkeypatch, bundled_gguf) -> None:
    """An empty chat greets a new user; fixed paths so the picture does not change per run."""
    import shutil
    from pathlib import Path

    from tests.engine.hubserver import serve_catalog_model

    home = Path("/tmp/ragterm-snapshot-welcome")
    shutil.rmtree(home, ignore_errors=True)
    monkeypatch.setenv("RAGTERM_HOME", str(home))
    catalog = home / "catalog.toml"
    serve_catalog_model(
        home / "hub",
        bundled_gguf,
        catalog,
        alias="qwen2.5-1.5b",
        size=600_000_000,  # small enough to "fit" any test machine, one core and up
        ram_mb=900,
        note="the best answers from your files under 1.2 GB; quotes and cites reliably",
    )
    monkeypatch.setenv("RAGTERM_MODELS__CATALOG", str(catalog))

    async def welcome(pilot) -> None:
        await settle(pilot)
        chat = pilot.app.chat
        # the panel composed, not only mounted
        await wait_for(pilot, lambda: bool(chat.query("#welcome-dismiss")))
        button = chat.query_one("#welcome-dismiss")
        await wait_for(pilot, lambda: button.region.area > 0)
        await pilot.pause()

    assert snap_compare(RagtermApp(), terminal_size=size, run_before=welcome)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_model_picker_with_the_catalog(
    snap_compare, size: tuple[int, int], monkeypatch, tmp_path, bundled_gguf
) -> None:
    """Installed models, then catalog models with size, RAM and whether this machine runs them."""
    from tests.engine.hubserver import serve_catalog_model

    catalog = tmp_path / "catalog.toml"
    serve_catalog_model(tmp_path / "hub", bundled_gguf, catalog, note="fits anywhere")
    huge = (
        catalog.read_text()
        .replace('"tiny-chat"', '"huge-chat"')
        .replace("ram_mb = 300", "ram_mb = 9000000")
    )
    catalog.write_text(catalog.read_text() + "\n" + huge.replace("fits anywhere", "needs 9 TB"))
    monkeypatch.setenv("RAGTERM_MODELS__CATALOG", str(catalog))
    monkeypatch.setenv("RAGTERM_UI__WELCOME", "0")  # its paths change per run

    async def picker(pilot) -> None:
        from textual.widgets import OptionList

        await settle(pilot)
        await pilot.app.chat.run_command("model", "")
        await wait_for(pilot, lambda: bool(pilot.app.screen.query(OptionList)))
        await pilot.pause()

    assert snap_compare(RagtermApp(), terminal_size=size, run_before=picker)
