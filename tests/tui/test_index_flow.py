"""/index a small folder in the background, watch progress, then get answers citing it."""

from __future__ import annotations

import pytest

from ragterm.tui.app import RagtermApp
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.prompt_input import PromptInput
from ragterm.tui.widgets.status_bar import StatusBar
from tests.tui.conftest import ask, ready, wait_for

pytest.importorskip("ragterm.engine.index.pipeline")
pytest.importorskip("ragterm.engine.retrieve.hybrid_search")


async def test_index_then_answer_cites_the_folder(tmp_path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zebra.txt").write_text("The zebra named Quillon lives in the Okavango delta.\n")
    (docs / "kitchen.md").write_text("# Kitchen\n\nThe blue kettle is on the left shelf.\n")
    (docs / "bikes.txt").write_text("My bicycle has eleven gears and a green frame.\n")
    app = RagtermApp()
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        box = chat.query_one(PromptInput)
        box.focus()
        box.text = f"/index {docs}"
        await pilot.press("enter")
        bar = chat.query_one("#index-progress")
        box.text = "typing still works"
        await pilot.pause()
        assert box.text == "typing still works"
        await wait_for(pilot, lambda: not bar.display, timeout=60)
        assert (bar.total, bar.progress) == (3, 3)  # the bar counted every file
        notes = [n.message for n in app._notifications]
        assert any("docs indexed: 3 new" in n for n in notes), notes
        assert "1 coll" in chat.query_one(StatusBar).render_status()
        box.text = ""
        await ask(pilot, "Where does the zebra Quillon live?")
        answer = list(chat.query(ChatMessage))[-1]
        cited = [h.rel_path for h in answer.sources]
        assert "zebra.txt" in cited
        panel = chat.query_one("#sources")
        assert any("zebra.txt" in h.citation() for h in panel.hits)
        # the evidence line is quoted under the answer, verbatim, with file:line
        quotes = [e for e in answer.evidence if "Okavango" in e.text]
        assert quotes and quotes[0].citation() == "zebra.txt:1"
        shown = str(answer.query_one(".evidence").render())
        assert "Evidence from your files" in shown
        assert "“The zebra named Quillon lives in the Okavango delta.”" in shown
        # and marked in the source preview
        from ragterm.tui.chat_rendering import preview_markdown

        hit = next(h for h in answer.sources if h.rel_path == "zebra.txt")
        assert "★1 The zebra named Quillon" in preview_markdown(hit, answer.evidence)


async def test_the_index_bar_follows_the_embedding_count_like_the_status_line() -> None:
    from textual.app import App, ComposeResult

    from ragterm.engine.events import EmbedProgress, FileDone, IndexFinished, IndexStarted
    from ragterm.tui.widgets.index_progress import IndexProgress

    class Host(App):
        def compose(self) -> ComposeResult:
            yield IndexProgress(id="bar")

    async with Host().run_test() as pilot:
        bar = pilot.app.query_one(IndexProgress)
        bar.start()
        bar.show(IndexStarted("docs", "/d", 4))
        bar.show(FileDone("a.md", "new", chunks=10))
        assert (bar.total, bar.progress) == (4, 1)
        status, _ = bar.show(EmbedProgress(640, 797))
        assert status == "embedding 640/797" and (bar.total, bar.progress) == (797, 640)
        assert bar.show(FileDone("b.md", "new", chunks=10)) == (
            None,
            None,
        )  # files no longer move it
        assert (bar.total, bar.progress) == (797, 640)
        bar.show(IndexFinished("docs", {"new": 4}, 1.0))
        assert not bar.display
