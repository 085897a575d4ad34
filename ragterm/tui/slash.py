"""What each slash command does on the chat screen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragterm.errors import RagtermError
from ragterm.tui import commands

if TYPE_CHECKING:
    from ragterm.tui.screens.chat import ChatScreen


async def run(screen: ChatScreen, name: str, arg: str) -> None:
    """Run ``/name arg``; problems become notifications."""
    if name not in commands.BY_NAME:
        found = commands.matches("/" + name)
        hint = f" (did you mean /{found[0].name}?)" if found else " (/help lists them)"
        screen.notify(f"unknown command /{name}{hint}", severity="warning")
        return
    try:
        await _run(screen, name, arg)
    except RagtermError as exc:
        screen.notify(f"{exc.message}\n{exc.hint or ''}".strip(), severity="error")


async def _run(screen: ChatScreen, name: str, arg: str) -> None:
    from ragterm.store import chats

    if name == "help":
        screen.action_help()
    elif name in ("new", "clear"):
        screen.new_conversation(None)
    elif name == "sessions":
        screen.action_toggle_sessions()
    elif name == "model":
        if arg:
            screen.switch_model(arg)
        else:
            screen.pick_model()
    elif name == "persona":
        if not arg:
            screen.notify(f"persona: {screen.persona_name or 'none'} (/persona NAME|off)")
        else:
            screen.switch_model(screen.model_name, persona=arg)
    elif name == "tune":
        screen.open_tune(arg)
    elif name == "index":
        screen.start_index(arg)
    elif name == "collections":
        rows = screen.conn.execute(
            "SELECT c.name, c.root, (SELECT count(*) FROM files f WHERE f.collection_id = c.id) "
            "FROM collections c ORDER BY c.name"
        ).fetchall()
        text = "\n".join(f"{r[0]}: {r[1]} ({r[2]} files)" for r in rows)
        screen.notify(text or "nothing indexed yet (/index PATH)", title="Collections")
    elif name == "rag":
        from ragterm.engine import rewrite

        words = arg.split()
        if words[:1] == ["rewrite"]:
            mode = words[1] if len(words) > 1 else ""
            if mode not in rewrite.MODES:
                raise RagtermError(f"/rag rewrite takes one of {', '.join(rewrite.MODES)}",
                                   hint="/rag rewrite terms")  # fmt: skip
            screen.cfg = screen.cfg.with_overrides(**{"rag.rewrite": mode})
            if screen.conv is not None:
                screen.conv.cfg = screen.conv.cfg.with_overrides(**{"rag.rewrite": mode})
        elif arg not in ("on", "off", ""):
            raise RagtermError(f"/rag takes on, off or rewrite MODE, not {arg!r}", hint="/rag on")
        else:
            screen.rag = (not screen.rag) if not arg else arg == "on"
            screen.status(rag=screen.rag)
            screen.update_meter()
        backend = screen.conv.backend if screen.conv is not None else None
        screen.notify(
            f"retrieval {'on' if screen.rag else 'off'}, {screen.k} chunks; "
            + rewrite.describe(screen.cfg["rag.rewrite"], backend),
            title="/rag",
        )
    elif name == "k":
        try:
            k = int(arg)
            if not 1 <= k <= 100:
                raise ValueError
        except ValueError:
            raise RagtermError(
                f"/k needs a number from 1 to 100, not {arg!r}", hint="/k 5"
            ) from None
        screen.k = k
        screen.status(k=k)
        screen.update_meter()
    elif name == "sources":
        screen.action_toggle_sources()
    elif name == "inspect":
        screen.action_inspect()
    elif name == "system":
        if screen.conv is None:
            raise RagtermError("the model is still loading")
        if not arg:
            screen.notify(screen.conv.system_prompt or "(no system prompt)", title="System prompt")
            return
        screen.conv.system_prompt = arg
        if screen.conv.session_id is not None:
            chats.update_session(screen.conn, screen.conv.session_id, system_prompt=arg)
        screen.notify("system prompt set for this conversation")
        screen.update_meter()
    elif name == "regenerate":
        await regenerate(screen)
    elif name == "edit":
        await edit(screen)
    elif name == "copy":
        answer = screen._answer()
        if answer is None:
            raise RagtermError("no answer to copy yet")
        screen.app.copy_to_clipboard(answer.content)
        screen.notify("answer copied to the clipboard")
    elif name == "export":
        if screen.conv is None or screen.conv.session_id is None:
            raise RagtermError("nothing to export yet", hint="ask something first")
        sid = screen.conv.session_id
        path = Path(arg).expanduser() if arg else Path.cwd() / f"ragterm-chat-{sid}.md"
        try:
            path.write_text(chats.export_markdown(screen.conn, sid), encoding="utf-8")
        except OSError as exc:
            raise RagtermError(
                f"cannot write {path}: {exc.strerror}", hint="/export FILE"
            ) from None
        screen.notify(f"saved {path}")
    elif name == "theme":
        screen.action_toggle_theme()
    elif name == "quit":
        screen.app.exit()


async def regenerate(screen: ChatScreen) -> None:
    from ragterm.tui.widgets.chat_message import ChatMessage

    if screen.conv is None or screen.conv.session_id is None:
        raise RagtermError("nothing to regenerate yet", hint="ask something first")
    if screen.generating:
        raise RagtermError("an answer is being written", hint="Esc cancels it")
    msgs = list(screen.query(ChatMessage))
    if msgs and msgs[-1].role == "assistant":
        await msgs[-1].remove()
    await screen.ask("", regenerate=True)


async def edit(screen: ChatScreen) -> None:
    """Put the last question back in the input; sending it replaces that exchange."""
    from ragterm.tui.widgets.chat_message import ChatMessage
    from ragterm.tui.widgets.prompt_input import PromptInput

    if screen.conv is None or screen.conv.session_id is None:
        raise RagtermError("nothing to edit yet", hint="ask something first")
    if screen.generating:
        raise RagtermError("an answer is being written", hint="Esc cancels it")
    last = screen.conv.last_question()
    if last is None:
        raise RagtermError("nothing to edit yet", hint="ask something first")
    # the stored exchange is replaced only when the edited question gets its answer
    screen.edit_from = last.id
    views = list(screen.query(ChatMessage))
    while views:
        w = views.pop()
        await w.remove()
        if w.role == "user":
            break
    box = screen.query_one(PromptInput)
    box.set_value(last.content)
    box.focus()
