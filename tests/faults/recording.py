"""Servers on loopback that record every byte ragterm sends them, and the check for leaks.

``RecordingEmbeddings`` is ragterm's own ``/v1/embeddings`` server (the bundled model answers);
``RecordingChat`` answers ``/v1/chat/completions`` with a short streamed answer. Both keep the raw
request bodies, so a test can prove that nothing of a file left out of the index was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ragterm.engine.embed.embed_server import EmbeddingServer, _Handler

MIN_LINE = 16  # a line at least this long found in a request counts as sent


class _RecordingHandler(_Handler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.bodies.append(body)  # type: ignore[attr-defined]
        socket_file, self.rfile = self.rfile, _Replay(body)  # the real handler reads it again
        try:
            super().do_POST()
        finally:
            self.rfile = socket_file  # keep-alive: the next request comes from the socket


class _Replay:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return out


class RecordingEmbeddings(EmbeddingServer):
    """The real embedding server, keeping each request body."""

    def __init__(self, embedder: Any) -> None:
        super().__init__(("127.0.0.1", 0), embedder)
        self.RequestHandlerClass = _RecordingHandler
        self.bodies: list[bytes] = []

    def sent(self) -> str:
        """Every text sent, decoded from the JSON bodies (escapes undone)."""
        return "\n".join(_texts(b) for b in self.bodies)


class _ChatHandler(BaseHTTPRequestHandler):
    server: RecordingChat
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"object": "list", "data": [{"id": "recorder"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for piece in self.server.answer.split(" "):
            chunk = {"choices": [{"index": 0, "delta": {"content": piece + " "}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


class RecordingChat(ThreadingHTTPServer):
    """An OpenAI-compatible chat server that records each request and streams ``answer``."""

    daemon_threads = True

    def __init__(self, answer: str = "The keeper trims the wick at dusk [1].") -> None:
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.answer = answer
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def sent(self) -> str:
        return "\n".join(_texts(b) for b in self.bodies)


def _texts(body: bytes) -> str:
    """The strings inside a JSON body, joined (JSON escapes would hide a match in raw bytes)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    try:
        walk(json.loads(body))
    except ValueError:
        out.append(body.decode("utf-8", "replace"))
    return "\n".join(out)


def file_lines(path: Path) -> list[str]:
    """The distinct lines of a file (decoded leniently) long enough to be recognised if sent."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    text = data.decode("utf-8", "ignore").replace("\x00", "")
    return sorted({s for line in text.splitlines() if len(s := line.strip()) >= MIN_LINE})


def leaked_bytes(sent: str, paths: list[Path], shared: Sequence[Path] = ()) -> dict[str, int]:
    """For each file with a line found in ``sent``: how many bytes of its lines were found.

    Lines that ``shared`` files (the indexed ones) hold as well are not counted: sending them is
    sending those files ("-----END RSA PRIVATE KEY-----" in a page about PEM files)."""
    known = {line for p in shared for line in file_lines(p)}
    out: dict[str, int] = {}
    for p in paths:
        n = sum(len(line.encode()) for line in file_lines(p) if line in sent and line not in known)
        if n:
            out[str(p)] = n
    return out
