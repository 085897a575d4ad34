"""First run and the model catalog in the chat: the welcome panel, and pulling a model from /model.

The catalog points at a local hub (HF_ENDPOINT) serving the bundled GGUF as ``tiny-chat``: the
download is real HTTP through huggingface_hub, the switch loads the downloaded file in llama.cpp.
"""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from ragterm import config
from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.status_bar import StatusBar
from ragterm.tui.widgets.welcome import Welcome
from tests.engine.hubserver import HubServer, serve_catalog_model
from tests.tui.conftest import ready, wait_for


@pytest.fixture
def tiny_catalog(tmp_path, bundled_gguf, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    path = tmp_path / "catalog.toml"
    entry = serve_catalog_model(tmp_path / "hub", bundled_gguf, path)
    monkeypatch.setenv("RAGTERM_MODELS__CATALOG", str(path))
    return tmp_path / "hub", entry


def welcome_text(chat) -> str:
    """The panel's text as the user reads it (Rich renders the table, wide enough not to wrap)."""
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(width=400, file=out, color_system=None)
    for w in chat.query_one(Welcome).query("Static"):
        console.print(w.content)
    return out.getvalue()


async def test_welcome_panel_guides_a_new_user_and_is_dismissed_for_good(
    tmp_path, bundled_gguf, monkeypatch, ragterm_home
) -> None:
    catalog = tmp_path / "catalog.toml"
    serve_catalog_model(
        tmp_path / "hub", bundled_gguf, catalog, size=500_000_000, ram_mb=700, note="test pick"
    )
    monkeypatch.setenv("RAGTERM_MODELS__CATALOG", str(catalog))
    app = RagtermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        await wait_for(pilot, lambda: bool(chat.query(Welcome)))
        # mounted is not composed: wait for its lines, not only for the panel
        await wait_for(pilot, lambda: "/index ~/notes" in welcome_text(chat))
        text = welcome_text(chat)
        assert "smollm2-135m (bundled, 98 MB)" in text
        assert "tiny-chat (500 MB, fits this machine): test pick" in text
        assert "ragterm models pull tiny-chat" in text
        assert str(ragterm_home / "data") in text and "config.toml" in text
        button = chat.query_one("#welcome-dismiss")
        await wait_for(pilot, lambda: button.region.area > 0)  # laid out, on screen
        await pilot.click("#welcome-dismiss")
        await wait_for(pilot, lambda: not chat.query(Welcome))
        assert chat.focused is chat.query_one("#prompt")
    assert config.load()["ui.welcome"] is False
    async with RagtermApp().run_test(size=(80, 24)) as pilot:  # remembered
        chat = await ready(pilot)
        await pilot.pause(0.2)
        assert not chat.query(Welcome)


async def test_the_first_question_replaces_the_welcome_panel(monkeypatch) -> None:
    monkeypatch.setenv("RAGTERM_RAG__ENABLED", "0")  # no embedder to load: only the chat matters
    app = RagtermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await ready(pilot)
        await wait_for(pilot, lambda: bool(chat.query(Welcome)))
        await pilot.click("#prompt")
        chat.query_one("#prompt").text = "hi"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(chat.query(ChatMessage)))
        assert not chat.query(Welcome)
        await wait_for(pilot, lambda: not chat.generating, timeout=120)  # a shared CPU is slow
        assert [m.role for m in chat.query(ChatMessage)] == ["user", "assistant"]
    assert config.load()["ui.welcome"] is True  # not dismissed: an empty chat shows it again


async def open_picker(pilot, chat, alias: str) -> OptionList:
    await chat.run_command("model", "")
    await wait_for(
        pilot,
        lambda: (
            type(pilot.app.screen).__name__ == "ModelPicker" and pilot.app.screen.query(OptionList)
        ),
    )
    options = pilot.app.screen.query_one(OptionList)
    options.highlighted = options.get_option_index(f"pull:{alias}")
    return options


async def test_picker_downloads_a_catalog_model_and_switches_to_it(
    tiny_catalog, monkeypatch
) -> None:
    root, entry = tiny_catalog
    with HubServer(root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        app = RagtermApp()
        async with app.run_test(size=(120, 40)) as pilot:
            chat = await ready(pilot)
            options = await open_picker(pilot, chat, "tiny-chat")
            label = str(options.get_option("pull:tiny-chat").prompt)
            assert "0.1 GB · 0.3 GB RAM · ★ recommended for this machine" in label
            await pilot.press("enter")
            await wait_for(pilot, lambda: chat.model_name == "tiny-chat", timeout=90)
            await wait_for(
                pilot, lambda: chat.conv is not None and chat.conv.model_name == "tiny-chat"
            )
            assert type(app.screen).__name__ == "ChatScreen"
            assert "tiny-chat" in chat.query_one(StatusBar).render_status()
        assert hub.ranges == [None]
    from ragterm.engine.models.registry import Registry
    from ragterm.store.db import connect

    pulled = Registry(connect()).get("tiny-chat")
    assert pulled.source == "pulled" and pulled.path.name == entry["file"]


async def test_escape_stops_a_download_in_the_picker(
    tiny_catalog, monkeypatch, ragterm_home
) -> None:
    root, _ = tiny_catalog
    with HubServer(root, hold_after=24 << 20) as hub:  # stops mid-file until released
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        app = RagtermApp()
        async with app.run_test(size=(120, 40)) as pilot:
            chat = await ready(pilot)
            await open_picker(pilot, chat, "tiny-chat")
            picker = app.screen
            await pilot.press("enter")
            bar = picker.query_one("#pull-progress")
            await wait_for(pilot, lambda: (bar.progress or 0) > 0)
            await pilot.press("escape")
            await pilot.pause(0.3)  # the download's poll sees the flag while the CDN holds
            hub.release()
            status = picker.query_one("#pull-status")
            await wait_for(
                pilot, lambda: "choose the model again to resume" in str(status.render())
            )
            assert app.screen is picker  # still choosing
            parts = list((ragterm_home / "data" / "models").rglob("*.part"))
            assert len(parts) == 1 and parts[0].stat().st_size > 0
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is chat)
            assert chat.model_name == "smollm2-135m"
