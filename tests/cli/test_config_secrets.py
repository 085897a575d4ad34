"""remote.api_key never shows in `config` output; it may come from the environment or a file."""

from __future__ import annotations

import json

import pytest

from ragterm import config
from ragterm.errors import ConfigError

KEY = "sk-very-secret-0123456789"


def test_every_config_output_masks_the_key(ragterm_cli):
    r = ragterm_cli("config", "set", "remote.api_key", KEY)
    assert r.exit_code == 0 and KEY not in r.output and "****" in r.output
    get = ("config", "get", "remote.api_key")
    outputs = [("config", "show"), ("config", "show", "--json"), get]
    for args in outputs:
        r = ragterm_cli(*args)
        assert r.exit_code == 0, r.output
        assert KEY not in r.output and "****" in r.output, args
    shown = json.loads(ragterm_cli("config", "show", "--json").stdout)
    assert shown["remote.api_key"] == config.MASK
    assert config.load()["remote.api_key"] == KEY  # masked in output only


def test_key_from_the_environment(monkeypatch, ragterm_cli):
    monkeypatch.setenv("RAGTERM_REMOTE__API_KEY", KEY)
    assert config.remote_api_key(config.load()) == KEY
    assert KEY not in ragterm_cli("config", "show").output


def test_key_from_a_file(tmp_path, monkeypatch):
    f = tmp_path / "key"
    f.write_text(KEY + "\n")
    monkeypatch.setenv("RAGTERM_REMOTE__API_KEY_FILE", str(f))
    assert config.remote_api_key(config.load()) == KEY
    f.unlink()
    with pytest.raises(ConfigError, match=r"cannot read the API key file .*key"):
        config.remote_api_key(config.load())


def test_the_key_reaches_the_server(tmp_path, monkeypatch):
    """The file's key is what the remote backend sends (checked on a loopback server)."""
    import http.server
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization", ""))
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n'
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        f = tmp_path / "key"
        f.write_text(KEY)
        monkeypatch.setenv("RAGTERM_CHAT__BACKEND", "remote")
        monkeypatch.setenv("RAGTERM_REMOTE__URL", f"http://127.0.0.1:{server.server_port}/v1")
        monkeypatch.setenv("RAGTERM_REMOTE__API_KEY_FILE", str(f))
        from ragterm.engine.models.llm import SamplingParams, open_backend

        backend = open_backend(config.load())
        out = "".join(backend.stream([{"role": "user", "content": "hi"}], SamplingParams()))
        assert out == "ok" and seen == [f"Bearer {KEY}"]
    finally:
        server.shutdown()
