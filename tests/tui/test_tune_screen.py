"""The /tune screen: checks as you type, then one real training run in the child process
(start, live progress, cancel, resume, the chat still answering meanwhile, compare, use now)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragterm.tui.app import RagtermApp
from ragterm.tui.screens.chat_screen import ChatScreen
from ragterm.tui.screens.tune_screen import PathSuggester, TuneScreen
from tests.engine.tune.helpers import write_pirate_data
from tests.tui.conftest import wait_for

pytest.importorskip("peft")

QUICK = {"batch_size": 2, "max_seq_len": 96, "threads": 2}  # steps well under a second


def text(screen, widget_id: str) -> str:
    return str(screen.query_one(widget_id).render())


async def ready(pilot):
    """The chat with its model loaded (slow on a busy machine while a training child runs)."""
    await wait_for(pilot, lambda: any(isinstance(x, ChatScreen) for x in pilot.app.screen_stack))
    chat = pilot.app.chat
    await wait_for(pilot, lambda: chat.conv is not None, 180)
    return chat


async def open_tune(pilot, arg: str = "") -> TuneScreen:
    chat = await ready(pilot)
    await chat.run_command("tune", arg)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TuneScreen))
    await pilot.pause()
    return pilot.app.screen


async def fill(pilot, screen: TuneScreen, **values: str) -> None:
    for key, value in values.items():
        screen.query_one(f"#{key}").value = value
    await pilot.pause()


async def until(pilot, screen, widget_id: str, needle: str, timeout: float = 30.0) -> str:
    await wait_for(pilot, lambda: needle in text(screen, widget_id), timeout)
    return text(screen, widget_id)


def writing_folder(root: Path) -> Path:
    folder = root / "writing"
    (folder / "essays").mkdir(parents=True)
    para = "The tide came in slowly over the flats, and the birds lifted all at once. " * 6
    (folder / "essays" / "tides.md").write_text(f"# On tides\n\n{para}\n\n{para}\n", "utf-8")
    (folder / "gulls.txt").write_text("\n\n".join([para] * 6), "utf-8")
    (folder / "photo.md").write_bytes(b"\x00\x01binary")
    return folder


async def test_slash_command_and_palette_open_the_screen(tmp_path):
    app = RagtermApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_tune(pilot)
        assert text(screen, "#base") == "Base model: smollm2-135m (the chat model)"
        assert screen.query_one("#rank").value == "8" and screen.query_one("#lr").value == "1e-3"
        assert "auto: 3 epochs" in text(screen, "#params-msg")
        assert screen.query_one("#start").disabled
        await pilot.press("escape")  # nothing is training: Esc closes
        await wait_for(pilot, lambda: not isinstance(app.screen, TuneScreen))
        palette = [c.title for c in app.get_system_commands(app.screen)]
        assert "/tune" in palette


async def test_bad_input_is_named_before_training(tmp_path, monkeypatch):
    from ragterm.engine.models.registry import bundled_chat_path, fingerprint
    from ragterm.engine.tune import runner
    from ragterm.store import db, personas

    conn = db.connect()
    adapter = tmp_path / "old.gguf"
    fp = fingerprint(bundled_chat_path())
    personas.save(conn, personas.Persona("taken", "smollm2-135m", fp, str(adapter)))
    conn.close()
    good = write_pirate_data(tmp_path / "pirate.jsonl")
    bad = tmp_path / "bad.jsonl"
    lines = good.read_text().splitlines()
    bad.write_text("\n".join([lines[0], "{not json", lines[1], '{"text": 1}']) + "\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blob.jsonl").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "a.png").write_bytes(b"\x89PNG")

    app = RagtermApp()
    async with app.run_test(size=(120, 40)) as pilot:
        s = await open_tune(pilot)
        await fill(pilot, s, name="my/pirate")
        assert "no '/'" in text(s, "#name-msg")
        await fill(pilot, s, name="taken")
        assert "persona 'taken' exists" in text(s, "#name-msg")
        await fill(pilot, s, name="pirate")
        assert text(s, "#name-msg") == "✓ new persona pirate"

        await fill(pilot, s, data=str(tmp_path / "nope.jsonl"))
        await until(pilot, s, "#data-msg", f"no such file or folder: {tmp_path / 'nope.jsonl'}")
        await fill(pilot, s, data=str(bad))
        msg = await until(pilot, s, "#data-msg", "✗")
        assert msg == "✗ line 2: not valid JSON (Expecting property name enclosed in double " \
            "quotes at column 2) (the first of 2 bad lines)"  # fmt: skip
        await fill(pilot, s, data=str(tmp_path / "empty.jsonl"))
        assert "empty.jsonl: no examples" in await until(pilot, s, "#data-msg", "✗")
        await fill(pilot, s, data=str(tmp_path / "blob.jsonl"))
        assert "blob.jsonl is a binary file, not JSONL" in await until(pilot, s, "#data-msg", "✗")
        await fill(pilot, s, data=str(tmp_path / "nothing"))
        assert "no writing found" in await until(pilot, s, "#data-msg", "✗")
        assert s.query_one("#start").disabled

        await fill(pilot, s, data=str(good), steps="x")
        assert "steps: a whole number" in text(s, "#params-msg")
        await fill(pilot, s, steps="10", epochs="2")
        assert "give epochs or steps, not both" in text(s, "#params-msg")
        await fill(pilot, s, epochs="", rank="0")
        assert "invalid rank 0" in text(s, "#params-msg")
        await fill(pilot, s, rank="8", steps="")
        data = await until(pilot, s, "#data-msg", "✓")
        assert data.startswith("✓ 12 examples (messages 4, sharegpt 4, alpaca 4); 11 to train")
        est = await until(pilot, s, "#estimate", "Estimate")
        assert "24 steps of 4" in est and "memory" in est and "disk" in est
        assert not s.query_one("#start").disabled

        usage = runner.shutil.disk_usage("/")
        monkeypatch.setattr(runner.shutil, "disk_usage", lambda p: usage._replace(free=5 * 2**20))
        await fill(pilot, s, steps="12")
        assert "not enough disk space" in await until(pilot, s, "#estimate", "✗")
        assert s.query_one("#start").disabled
        monkeypatch.undo()
        monkeypatch.setattr("ragterm.engine.tune.prepare.free_memory", lambda: 300 * 2**20)
        await fill(pilot, s, steps="13")
        assert "GB of memory, 0.3 GB is available" in await until(pilot, s, "#estimate", "✗")
        assert s.query_one("#start").disabled


async def test_writing_folder_shows_its_pairs_and_paths_complete(tmp_path):
    folder = writing_folder(tmp_path)
    assert await PathSuggester().get_suggestion(str(tmp_path / "wri")) == str(folder) + "/"
    app = RagtermApp()
    async with app.run_test(size=(120, 40)) as pilot:
        s = await open_tune(pilot, "style")
        box = s.query_one("#data")
        assert s.focused is box  # the name came with /tune NAME
        box.value = str(tmp_path / "wri")
        box.cursor_position = len(box.value)
        await wait_for(pilot, lambda: bool(box._suggestion))
        await pilot.press("right")  # accepts the completion
        assert box.value == str(folder) + "/"
        msg = await until(pilot, s, "#data-msg", "✓")
        assert msg.startswith("✓ folder of writing: 4 training pairs built; 3 to train on")
        assert "photo.md: skipped, not text" in msg
        pairs = text(s, "#pairs")
        assert pairs.startswith("Training pairs built from your writing (3 of 4):")
        assert 'asks:    Write a piece titled "On tides" in my voice.' in pairs
        assert "answers: # On tides The tide came in slowly over the flats" in pairs


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two child starts; about two minutes on an idle two-core machine
async def test_train_cancel_resume_compare_and_use_now(tmp_path):
    """The one real run: start, live steps, Esc cancels, resume, chat meanwhile, result, use."""
    from ragterm.store import db, personas

    data = write_pirate_data(tmp_path / "pirate.jsonl")
    app = RagtermApp()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await ready(pilot)
        backend = chat.conv.backend
        s = await open_tune(pilot)
        s.extra = QUICK | {"lr": 2e-3}
        await fill(pilot, s, name="pirate", data=str(data), steps="40")
        await wait_for(pilot, lambda: not s.query_one("#start").disabled, 60)
        await pilot.pause()  # the estimate that enabled Start moves it: click where it is now
        await pilot.click("#start")
        await wait_for(pilot, lambda: app.tuning.progress is not None, 10)

        def stepped() -> bool:  # any step: on a fast machine step 1 shows for less than one poll
            assert not app.tuning.progress.error, app.tuning.progress.error
            return re.search(r"step \d+/40", text(s, "#stats")) is not None

        await wait_for(pilot, stepped, 400)
        assert s.query_one("#tune-progress").display
        assert s.query_one("#loss-chart").data  # the chart has its first point
        assert "tuning pirate" in str(chat.query_one("#status").render())
        await pilot.press("escape")  # cancel: the checkpoint is kept
        await until(pilot, s, "#name-msg", "unfinished training run", timeout=200)
        assert s.query_one("#tune-form").display and s.query_one("#resume").display
        assert "stopped at step" in text(s, "#estimate")
        assert "tuning" not in str(chat.query_one("#status").render())

        await pilot.press("ctrl+g")  # back to chat; reopening /tune NAME offers resume
        await wait_for(pilot, lambda: app.screen is chat)
        s = await open_tune(pilot, "pirate")
        assert s.query_one("#resume").display and not s.query_one("#resume").disabled
        await fill(pilot, s, steps="4")
        await pilot.click("#resume")
        await until(pilot, s, "#stage", "pirate:", timeout=60)
        await pilot.press("ctrl+g")  # training goes on; the chat still answers
        await wait_for(pilot, lambda: app.screen is chat)
        before = len(chat.query("ChatMessage"))
        chat.query_one("#prompt").text = "Say hello."
        await pilot.press("enter")
        answered = lambda: len(chat.query("ChatMessage")) == before + 2 and not chat.generating  # noqa: E731
        await wait_for(pilot, answered, 180)
        assert chat.query("ChatMessage")[-1].content  # answered while the child trains
        assert "tuning pirate" in str(chat.query_one("#status").render())

        s = await open_tune(pilot, "pirate")
        result = await until(pilot, s, "#result", "is ready", timeout=500)
        assert "smoke test passed" in result
        assert "validation loss:" in result and "before →" in result and "perplexity:" in result
        p = personas.get(db.connect(), "pirate")
        assert p is not None and p.metrics["steps"] == 4
        before, after = p.metrics["base_val_loss"], p.metrics["val_loss"]
        assert f"{before:.3f} before → {after:.3f} after" in result

        s.query_one("#question").value = "What is the capital of France?"
        s.query_one("#question").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "…" not in text(s, "#persona-answer"), 180)
        assert text(s, "#base-answer").startswith("base: ")
        assert len(text(s, "#persona-answer")) > len("pirate: ")

        await pilot.click("#use-now")
        await wait_for(pilot, lambda: chat.persona_name == "pirate", 120)
        assert chat.conv.backend is backend  # same base: the adapter switched in place
        assert "persona pirate" in str(chat.query_one("#status").render())
        assert chat.conv.persona.name == "pirate"


async def settle_form(pilot) -> None:
    """The form with a name and a data path that does not exist (no timings, no free memory)."""
    app = pilot.app
    await wait_for(pilot, lambda: any(isinstance(x, ChatScreen) for x in app.screen_stack), 60)
    app.chat.open_tune()
    await wait_for(pilot, lambda: isinstance(app.screen, TuneScreen), 60)
    await pilot.pause()
    s = app.screen
    for box in s.query("Input"):
        box.cursor_blink = False
    await fill(pilot, s, name="pirate", data="missing.jsonl")
    await until(pilot, s, "#data-msg", "✗", timeout=120)
    s.query_one("#data").focus()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_tune_screen_snapshot(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(RagtermApp(), terminal_size=size, run_before=settle_form)
