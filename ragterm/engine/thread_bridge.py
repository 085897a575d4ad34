"""The one thread-to-iterator bridge: slow work in a daemon thread, its results here.

Downloads, indexing, generation and the training child's output all block; the caller's thread
must stay free to notice Ctrl-C, a cancel flag or a stalled producer. ``bridge`` runs the work,
hands every item it emits to the caller's loop and re-raises the work's exception there.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_END = object()


class _Failed(Generic[T]):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Stalled(TimeoutError):
    """The work emitted nothing for ``stall_s`` seconds."""


def bridge(
    work: Callable[[Callable[[T], None]], object],
    *,
    name: str,
    maxsize: int = 0,
    poll_s: float = 0.1,
    on_poll: Callable[[], None] | None = None,
    on_interrupt: Callable[[], bool] | None = None,
    stall_s: float | None = None,
    join_s: float | None = None,
) -> Generator[T, None, None]:
    """Run ``work(emit)`` in a daemon thread named ``name``; yield what it emits, in order.

    ``on_poll`` runs every ``poll_s`` seconds without an item (check a cancel flag; an exception
    it raises ends the iteration). ``on_interrupt`` runs on Ctrl-C while waiting: True keeps
    waiting (it asked the work to stop), False lets the KeyboardInterrupt through.
    ``stall_s``: raise ``Stalled`` after that long without an item. ``maxsize`` bounds the queue
    (a fast producer waits for the consumer). On exit the thread is joined for ``join_s``
    seconds (None: until it ends, when the work finished; not at all after an error here).
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)

    def run() -> None:
        try:
            work(q.put)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            q.put(_Failed(exc))
        finally:
            q.put(_END)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    last = time.monotonic()
    finished = False
    try:
        while True:
            try:
                item = q.get(timeout=poll_s)
            except queue.Empty:
                if stall_s is not None and time.monotonic() - last > stall_s:
                    raise Stalled(f"{name}: nothing for {stall_s:g} s") from None
                if on_poll is not None:
                    on_poll()
                continue
            except KeyboardInterrupt:
                if on_interrupt is not None and on_interrupt():
                    continue
                raise
            last = time.monotonic()
            if item is _END:
                finished = True
                break
            if isinstance(item, _Failed):
                raise item.exc
            if on_poll is not None:
                on_poll()
            yield item
    finally:
        if finished or join_s is not None:
            thread.join(timeout=join_s)


def in_thread(
    items: Callable[[], Iterable[T]], *, name: str, **options: Any
) -> Generator[T, None, None]:
    """``bridge`` for work that is an iterator: its items, produced in a thread named ``name``."""

    def work(emit: Callable[[T], None]) -> None:
        for item in items():
            emit(item)

    return bridge(work, name=name, **options)
