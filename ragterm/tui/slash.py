"""What each slash command does on the chat screen: one handler a command, found in ``HANDLERS``.

A handler gets the screen and the argument text; the screen's controller does the work and a
``RagtermError`` becomes a notification. ``commands.COMMANDS`` (names, arguments, help) and
``HANDLERS`` list the same names; a test checks that they agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ragterm.errors import RagtermError
from ragterm.tui import commands
from ragterm.tui.chat_controller import ChatController
from ragterm.tui.widgets.chat_message import ChatMessage
from ragterm.tui.widgets.prompt_input import PromptInput


class ChatScreen(Protocol):
    """What a handler uses of the chat screen (``tui/screens/chat_screen.py``). The screen runs
    the handlers, so this module names the screen's interface instead of importing it."""

    @property
    def app(self) -> Any: ...
    @property
    def controller(self) -> ChatController: ...
    @property
    def model_name(self) -> str: ...
    @property
    def persona_name(self) -> str | None: ...

    def notify(self, message: str, *, title: str = ..., severity: Any = ...) -> None: ...
    def query(self, selector: Any) -> Any: ...
    def query_one(self, selector: Any) -> Any: ...
    def status(self, **values: Any) -> None: ...
    def update_meter(self, text: str | None = None) -> None: ...
    def selected_answer(self) -> ChatMessage | None: ...
    def new_conversation(self, session_id: int | None = None) -> None: ...
    def pick_model(self, reason: str = "") -> None: ...
    def switch_model(self, name: str, persona: str | None = None) -> None: ...
    def open_tune(self, name: str = "") -> None: ...
    def start_index(self, arg: str) -> None: ...
    def attach_file(self, arg: str) -> None: ...
    async def ask(self, text: str, *, regenerate: bool = False) -> None: ...
    def action_help(self) -> None: ...
    def action_inspect(self) -> None: ...
    def action_toggle_sessions(self) -> None: ...
    def action_toggle_sources(self) -> None: ...
    def action_toggle_theme(self) -> None: ...


Handler = Callable[[ChatScreen, str], Awaitable[None]]


async def run(screen: ChatScreen, name: str, arg: str) -> None:
    """Run ``/name arg``; problems become notifications."""
    handler = HANDLERS.get(name)
    if handler is None:
        found = commands.matches("/" + name)
        hint = f" (did you mean /{found[0].name}?)" if found else " (/help lists them)"
        screen.notify(f"unknown command /{name}{hint}", severity="warning")
        return
    try:
        await handler(screen, arg)
    except RagtermError as exc:
        screen.notify(f"{exc.message}\n{exc.hint or ''}".strip(), severity="error")


async def _help(screen: ChatScreen, arg: str) -> None:
    screen.action_help()


async def _new(screen: ChatScreen, arg: str) -> None:
    screen.new_conversation(None)


async def _sessions(screen: ChatScreen, arg: str) -> None:
    screen.action_toggle_sessions()


async def _model(screen: ChatScreen, arg: str) -> None:
    if arg:
        screen.switch_model(arg)
    else:
        screen.pick_model()


async def _persona(screen: ChatScreen, arg: str) -> None:
    if not arg:
        screen.notify(f"persona: {screen.persona_name or 'none'} (/persona NAME|off)")
    else:
        screen.switch_model(screen.model_name, persona=arg)


async def _tune(screen: ChatScreen, arg: str) -> None:
    screen.open_tune(arg)


async def _index(screen: ChatScreen, arg: str) -> None:
    screen.start_index(arg)


async def _collections(screen: ChatScreen, arg: str) -> None:
    text = screen.controller.collections_text()
    screen.notify(text or "nothing indexed yet (/index PATH)", title="Collections")


async def _attach(screen: ChatScreen, arg: str) -> None:
    if arg:
        screen.attach_file(arg)
        return
    listed = screen.controller.attachments.describe()
    screen.notify(listed or "no files attached (/attach PATH)", title="Attached")


async def _detach(screen: ChatScreen, arg: str) -> None:
    gone = screen.controller.attachments.remove(arg)
    left = screen.controller.attachments
    more = f"; still attached: {len(left.files)}" if left else "; the index is searched again"
    screen.notify(f"detached {', '.join(gone)}{more}", title="Attached")
    screen.update_meter()


async def _rag(screen: ChatScreen, arg: str) -> None:
    screen.status(rag=screen.controller.set_rag(arg))
    screen.update_meter()
    screen.notify(screen.controller.rag_text(), title="/rag")


async def _k(screen: ChatScreen, arg: str) -> None:
    screen.status(k=screen.controller.set_k(arg))
    screen.update_meter()


async def _sources(screen: ChatScreen, arg: str) -> None:
    screen.action_toggle_sources()


async def _inspect(screen: ChatScreen, arg: str) -> None:
    screen.action_inspect()


async def _system(screen: ChatScreen, arg: str) -> None:
    conv = screen.controller.require_conv()
    if not arg:
        screen.notify(conv.system_prompt or "(no system prompt)", title="System prompt")
        return
    screen.controller.set_system_prompt(arg)
    screen.notify("system prompt set for this conversation")
    screen.update_meter()


async def _regenerate(screen: ChatScreen, arg: str) -> None:
    screen.controller.check_can_redo("regenerate")
    msgs = list(screen.query(ChatMessage))
    if msgs and msgs[-1].role == "assistant":
        await msgs[-1].remove()
    await screen.ask("", regenerate=True)


async def _edit(screen: ChatScreen, arg: str) -> None:
    """Put the last question back in the input; sending it replaces that exchange."""
    question = screen.controller.start_edit()
    views = list(screen.query(ChatMessage))
    while views:
        w = views.pop()
        await w.remove()
        if w.role == "user":
            break
    box = screen.query_one(PromptInput)
    box.set_value(question)
    box.focus()


async def _copy(screen: ChatScreen, arg: str) -> None:
    answer = screen.selected_answer()
    if answer is None:
        raise RagtermError("no answer to copy yet")
    screen.app.copy_to_clipboard(answer.content)
    screen.notify("answer copied to the clipboard")


async def _export(screen: ChatScreen, arg: str) -> None:
    path = screen.controller.export(arg)
    screen.notify(f"saved {path}")


async def _theme(screen: ChatScreen, arg: str) -> None:
    screen.action_toggle_theme()


async def _quit(screen: ChatScreen, arg: str) -> None:
    screen.app.exit()


HANDLERS: dict[str, Handler] = {
    "help": _help,
    "new": _new,
    "clear": _new,
    "sessions": _sessions,
    "model": _model,
    "persona": _persona,
    "tune": _tune,
    "index": _index,
    "collections": _collections,
    "attach": _attach,
    "detach": _detach,
    "rag": _rag,
    "k": _k,
    "sources": _sources,
    "inspect": _inspect,
    "system": _system,
    "regenerate": _regenerate,
    "edit": _edit,
    "copy": _copy,
    "export": _export,
    "theme": _theme,
    "quit": _quit,
}
