"""A remote server that stalls (before its headers, or mid-answer) never holds the user: Esc or
Ctrl-C returns within a moment, and the part written so far is kept, marked."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ragterm import config
from ragterm.engine.answer.conversation import Conversation
from ragterm.engine.events import Done, Token
from ragterm.engine.models.llm import RemoteOpenAI, SamplingParams
from ragterm.store import chats
from ragterm.store.db import connect


class StallingServer:
    """A loopback HTTP server that reads the request, optionally streams ``tokens``, then goes
    silent with the connection open (a hung llama-server, a stuck proxy)."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            conn.recv(65536)
            if self.tokens:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                for t in self.tokens:
                    line = f'data: {{"choices":[{{"delta":{{"content":"{t}"}}}}]}}\n\n'.encode()
                    conn.sendall(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            # ... and then nothing, with the connection held open

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def stalled_before_headers():
    s = StallingServer([])
    yield s
    s.close()


@pytest.fixture
def stalled_mid_answer():
    s = StallingServer(["Once ", "upon ", "a time"])
    yield s
    s.close()


def cancel_after(seconds: float) -> threading.Event:
    ev = threading.Event()
    threading.Timer(seconds, ev.set).start()
    return ev


def test_cancel_while_the_server_sends_nothing(stalled_before_headers):
    backend = RemoteOpenAI(stalled_before_headers.url, timeout=120)
    cancel = cancel_after(0.3)
    t0 = time.monotonic()
    out = list(backend.stream([{"role": "user", "content": "hi"}], SamplingParams(), cancel))
    assert out == [] and time.monotonic() - t0 < 3


def test_cancel_while_the_server_stalls_mid_answer_keeps_the_part_written(stalled_mid_answer):
    cfg = config.load()
    conn = connect()
    conv = Conversation(RemoteOpenAI(stalled_mid_answer.url, timeout=120), conn, cfg)
    cancel = cancel_after(0.5)
    t0 = time.monotonic()
    events = list(conv.send("Tell me a story.", cancel=cancel))
    assert time.monotonic() - t0 < 3, "cancel waited for the stalled server"
    done = events[-1]
    assert isinstance(done, Done) and done.status == "cancelled"
    assert "".join(e.text for e in events if isinstance(e, Token)) == "Once upon a time"
    saved = chats.messages(conn, conv.session_id)[-1]
    assert (saved.content, saved.status) == ("Once upon a time", "cancelled")


def test_a_stalled_server_without_cancel_times_out_with_one_line(stalled_mid_answer):
    from ragterm.errors import GenerationError

    backend = RemoteOpenAI(stalled_mid_answer.url, timeout=1)
    with pytest.raises(GenerationError, match="broke mid-answer"):
        list(backend.stream([{"role": "user", "content": "hi"}], SamplingParams()))
