"""A local stand-in for the Hugging Face hub: the resolve endpoint and the CDN behind it.

What ``huggingface_hub`` needs, as huggingface.co serves an LFS file:
  * ``HEAD|GET /{owner}/{repo}/resolve/{rev}/{file}`` on the hub answers 302 with ``X-Repo-Commit``,
    ``X-Linked-Etag`` (the file's SHA-256), ``X-Linked-Size`` and a ``Location`` on the "CDN" —
    a second server on another port, so another host as far as headers are concerned;
  * the CDN serves ``/blobs/{sha256}`` with HTTP Range support.
Both record what they were sent (Range and Authorization headers), and the CDN can misbehave on
request: cut the first response short, then fail until ``recover()``; serve corrupted bytes; or
stop mid-file until ``release()``, so that a test can cancel a download that cannot have finished
first, however fast the machine.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Server:
    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HubServer:
    """Serves ``root/{owner}/{repo}/{file}``; ``url`` is the hub, ``cdn_url`` the file host."""

    def __init__(
        self,
        root: Path,
        *,
        drop_after: int | None = None,
        fail_after_drop: bool = False,
        corrupt: bool = False,
        hold_after: int | None = None,
    ) -> None:
        self.root = root
        self.drop_after = drop_after  # cut the first CDN response after this many bytes
        self.fail_after_drop = fail_after_drop  # then answer 503 until recover()
        self.failing = False
        self.corrupt = corrupt  # serve the file with one byte changed (the etag stays right)
        # the first CDN response stops after this many bytes (more than 10 MiB: huggingface_hub
        # writes in 10 MiB pieces; less than its 10 s read timeout is spent held) ...
        self.hold_after = hold_after
        self.released = threading.Event()  # ... until release()
        self.ranges: list[str | None] = []  # Range header of every CDN GET
        self.hub_auth: list[str | None] = []  # Authorization header of every hub request
        self.cdn_auth: list[str | None] = []  # ... and of every CDN request
        self.log: list[tuple[str, str, str]] = []  # (server, method, path) of every request
        self._blobs: dict[str, Path] = {}
        self.hub = _Server(self._hub_handler())
        self.cdn = _Server(self._cdn_handler())
        self.url = self.hub.url
        # another host name for the same loopback address: what the Authorization rule looks at
        self.cdn_url = self.cdn.url.replace("127.0.0.1", "localhost")

    def recover(self) -> None:
        self.failing = False

    def release(self) -> None:
        self.released.set()

    def sha256(self, path: Path) -> str:
        for sha, p in self._blobs.items():
            if p == path:
                return sha
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        self._blobs[sha] = path
        return sha

    # -- the hub: metadata and a redirect --------------------------------------------------------

    def _hub_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Hub(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self.resolve()

            def do_GET(self) -> None:  # noqa: N802
                self.resolve()

            def resolve(self) -> None:
                server.hub_auth.append(self.headers.get("Authorization"))
                server.log.append(("hub", self.command, self.path))
                m = re.match(r"^/([^/]+)/([^/]+)/resolve/([^/]+)/([^?]+)", self.path)
                if m is None:
                    return self.fail(404, "RepoNotFound")
                repo_dir = server.root / m.group(1) / m.group(2)
                if not repo_dir.is_dir():
                    return self.fail(404, "RepoNotFound")
                path = repo_dir / m.group(4)
                if not path.is_file():
                    return self.fail(404, "EntryNotFound")
                sha = server.sha256(path)
                self.send_response(302)
                self.send_header("Location", f"{server.cdn_url}/blobs/{sha}?name={path.name}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", '"0123456789abcdef0123456789abcdef01234567"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(path.stat().st_size))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def fail(self, code: int, error: str) -> None:
                self.send_response(code)
                self.send_header("X-Error-Code", error)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Hub

    # -- the CDN: bytes, with Range ---------------------------------------------------------------

    def _cdn_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Cdn(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self.serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self.serve(body=True)

            def serve(self, body: bool) -> None:
                server.cdn_auth.append(self.headers.get("Authorization"))
                server.log.append(("cdn", self.command, self.path))
                m = re.match(r"^/blobs/([0-9a-f]{64})", self.path)
                path = server._blobs.get(m.group(1)) if m else None
                if path is None:
                    self.send_error(404)
                    return
                if server.failing:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                if server.corrupt:
                    mid = len(data) // 2
                    data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
                rng = self.headers.get("Range")
                if body:
                    server.ranges.append(rng)
                start = 0
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                chunk = data[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if not body:
                    return
                if server.drop_after is not None:
                    cut, server.drop_after = server.drop_after, None
                    server.failing = server.fail_after_drop
                    self.wfile.write(chunk[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                step = 1 << 16
                hold, server.hold_after = server.hold_after, None
                try:
                    for i in range(0, len(chunk), step):
                        if hold is not None and i >= hold:
                            self.wfile.flush()
                            server.released.wait(120)
                            hold = None
                        self.wfile.write(chunk[i : i + step])
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Cdn

    def __enter__(self) -> HubServer:
        self.hub.start()
        self.cdn.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.hub.stop()
        self.cdn.stop()


def serve_catalog_model(root: Path, gguf: Path, catalog: Path, **override: Any) -> dict[str, Any]:
    """Put ``gguf`` in the hub at ``root`` and write a one-entry catalog naming it (alias
    ``tiny-chat``); ``override`` changes the entry (e.g. a wrong ``sha256``). Returns the entry."""
    repo, file = "someone/tiny-chat-GGUF", "tiny-chat.Q4_1.gguf"
    (root / repo).mkdir(parents=True, exist_ok=True)
    if not (root / repo / file).exists():
        (root / repo / file).symlink_to(gguf)
    entry: dict[str, Any] = {
        "alias": "tiny-chat",
        "name": "Tiny Chat (test)",
        "repo": repo,
        "file": file,
        "size": gguf.stat().st_size,
        "sha256": hashlib.sha256(gguf.read_bytes()).hexdigest(),
        "license": "Apache-2.0",
        "params": "135M",
        "context": 8192,
        "ram_mb": 300,
        "score": 1,
        "note": "the bundled model, served by the test hub",
        **override,
    }
    lines = ["[[model]]"] + [
        f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"' for k, v in entry.items()
    ]
    catalog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return entry
