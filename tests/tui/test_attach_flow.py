"""/attach a file in the chat (Tab completes its path), ask about it, /detach it."""

from __future__ import annotations

from textual.widgets import OptionList

from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.context_meter import ContextMeter
from ragterm.tui.widgets.prompt_input import PromptInput
from tests.tui.conftest import ask, ready, wait_for


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_attach_ask_and_detach(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "office.md").write_text("# Office\n\nThe office wifi password is tangerine-42.\n")
    parts = [f"## Part {n}\n\nShelf {n} holds bolts, nuts and washers." for n in range(150)]
    (tmp_path / "inventory.md").write_text("# Inventory\n\n" + "\n\n".join(parts) + "\n")
    app = RagtermApp()
    async with app.run_test(size=(120, 30)) as pilot:
        chat = await ready(pilot)
        box = chat.query_one(PromptInput)
        box.focus()
        box.text = "/attach "
        await pilot.pause()
        hint = chat.query_one("#command-hint")
        assert hint.display and "inventory.md  office.md" in str(hint.render())
        box.set_value("/attach of")
        await pilot.press("tab")
        assert box.text == "/attach office.md"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("goes with every question" in n for n in notes(app)))
        meter = chat.query_one(ContextMeter)
        await wait_for(pilot, lambda: "attached office.md whole" in str(meter.render()))

        await ask(pilot, "What is the office wifi password?")
        answer = list(chat.query(ChatMessage))[-1]
        assert [(h.citation(), h.attached) for h in answer.sources] == [("office.md:1-3", True)]
        assert [e.citation() for e in answer.evidence][:1] == ["office.md:3"]
        shown = chat.query_one("#sources-list", OptionList).get_option_at_index(0).prompt
        assert str(shown) == "[1] office.md:1-3  attached"

        box.text = "/attach inventory.md"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(chat.controller.attachments.files) == 2)
        await ask(pilot, "Summarise these files")
        answer = list(chat.query(ChatMessage))[-1]
        said = str(answer.query_one(".evidence").render())
        assert "inventory.md is too long for the context window" in said
        assert {h.rel_path for h in answer.sources} == {"office.md", "inventory.md"}

        box.text = "/attach"
        await pilot.press("enter")
        listed = notes(app)[-1]
        assert "1. office.md (markdown" in listed and "· whole" in listed
        assert "2. inventory.md (markdown" in listed and "%)" in listed

        box.text = "/detach 2"
        await pilot.press("enter")
        assert "detached inventory.md; still attached: 1" in notes(app)[-1]
        box.text = "/detach"
        await pilot.press("enter")
        assert "detached office.md; the index is searched again" in notes(app)[-1]
        box.text = "/detach"
        await pilot.press("enter")
        assert "no files are attached" in notes(app)[-1]
        box.text = "/attach missing.pdf"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "missing.pdf: no such file" in notes(app)[-1])
        assert not chat.controller.attachments
