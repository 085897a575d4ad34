"""The HTTP side of OpenAI-compatible servers (llama-server, Ollama, vLLM, TEI, ragterm's own
embedding server), shared by the remote chat backend and the remote embedder: the connection,
the request headers and the server's own words when it refuses."""

from __future__ import annotations

import http.client
import json
import urllib.parse

Connection = http.client.HTTPConnection


def open_connection(url: str, timeout: float) -> tuple[Connection, str]:
    """An unopened connection to the server of ``url`` (http or https) and the request path."""
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "localhost", parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return conn, path


def request_headers(api_key: str, accept: str = "application/json") -> dict[str, str]:
    """JSON in, ``accept`` out, and the bearer key when there is one."""
    headers = {"Content-Type": "application/json", "Accept": accept}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def error_message(data: bytes) -> str:
    """The server's message from an error body (``{"error": {"message": ...}}`` or
    ``{"error": "..."}``), else the body's start."""
    try:
        err = json.loads(data).get("error")
        msg = err.get("message") if isinstance(err, dict) else err
        return str(msg or "")[:200]
    except (ValueError, AttributeError):
        return data[:200].decode("utf-8", "replace").strip()
