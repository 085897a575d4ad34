"""A local stand-in for the Hugging Face hub's file endpoint, with HTTP Range support."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path


class HubServer:
    """Serves ``/{owner}/{repo}/resolve/{rev}/{file}`` from a folder; records Range headers."""

    def __init__(self, root: Path, *, drop_after: int | None = None) -> None:
        self.root = root
        self.ranges: list[str | None] = []
        self.drop_after = drop_after  # cut the first response after this many bytes
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                m = re.match(r"^/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$", self.path)
                path = server.root / m.group(1) / m.group(2) / m.group(4) if m else None
                if path is None or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                rng = self.headers.get("Range")
                server.ranges.append(rng)
                start = 0
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drop_after is not None:
                    cut, server.drop_after = server.drop_after, None
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
