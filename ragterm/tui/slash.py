"""The slash commands, declared once: name, arguments, help and handler in ``COMMANDS``.

``/help``, Tab completion (``commands.complete``), the hint under the input and the command
palette are all generated from the table. A handler gets the screen and the argument text; the
screen's controller does the work and a ``RagtermError`` becomes a notification. A new command
is one handler and one row here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ragterm.errors import RagtermError
from ragterm.tui.chat_controller import ChatController
from ragterm.tui.widgets.chat_message import ChatMessage


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
    async def edit_last_question(self) -> None: ...
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
        found = matches("/" + name)
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
    await screen.edit_last_question()


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


@dataclass(frozen=True)
class Command:
    name: str  # without the slash
    args: str  # usage of the arguments, "" if none
    help: str
    handler: Handler
    bare: bool = False  # has args, yet the palette runs it without any (it asks or picks itself)

    @property
    def usage(self) -> str:
        return f"/{self.name}{' ' + self.args if self.args else ''}"


_C = Command
COMMANDS: tuple[Command, ...] = (
    _C("help", "", "show commands and keys", _help),
    _C("new", "", "start a new conversation", _new),
    _C("sessions", "", "show or hide the conversations sidebar", _sessions),
    _C("model", "NAME", "switch to another chat model (no name: pick one)", _model, bare=True),
    _C("persona", "NAME|off", "answer as a persona, or stop", _persona),
    _C("tune", "", "fine-tune a persona (/tune NAME shows or resumes its training)", _tune),
    _C("index", "PATH", "index a folder in the background", _index),
    _C("collections", "", "list indexed folders", _collections),
    _C("attach", "PATH", "send a file with every question (no path: list them)", _attach),
    _C("detach", "[NAME|N]", "stop sending an attached file (no name: all of them)", _detach),
    _C(
        "rag",
        "on|off|rewrite auto|model|terms|off",
        "use the indexed folders when answering; how follow-ups are searched",
        _rag,
    ),
    _C("k", "N", "number of retrieved excerpts per question", _k),
    _C("sources", "", "show or hide the sources panel", _sources),
    _C("inspect", "", "retrieval inspector for the selected answer", _inspect),
    _C("system", "TEXT", "set the system prompt of this conversation", _system),
    _C("regenerate", "", "answer the last question again", _regenerate),
    _C("edit", "", "edit the last question and ask again", _edit),
    _C("copy", "", "copy the selected answer to the clipboard", _copy),
    _C("export", "[FILE]", "save the conversation as Markdown", _export, bare=True),
    _C("clear", "", "clear the screen and start a new conversation", _new),
    _C("theme", "", "toggle light and dark themes", _theme),
    _C("quit", "", "leave ragterm", _quit),
)

BY_NAME = {c.name: c for c in COMMANDS}
HANDLERS: dict[str, Handler] = {c.name: c.handler for c in COMMANDS}


def matches(text: str) -> list[Command]:
    """Commands whose name starts with what was typed after the slash."""
    if not text.startswith("/") or " " in text or "\n" in text:
        return []
    word = text[1:].lower()
    return [c for c in COMMANDS if c.name.startswith(word)]


def help_table() -> str:
    """The Markdown rows of /help: one per command, in the table's order."""
    return "\n".join(f"| `{c.usage}` | {c.help} |" for c in COMMANDS)
