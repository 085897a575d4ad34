"""The remote backend against llama-cpp-python's own OpenAI-compatible server on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest

from ragterm import config
from ragterm.engine.answer.conversation import Conversation
from ragterm.engine.events import Token
from ragterm.engine.models.llm import RemoteOpenAI, SamplingParams
from ragterm.errors import GenerationError
from ragterm.store import chats
from ragterm.store.db import connect
from tests.helpers import free_port


@pytest.fixture(scope="module")
def server():
    from ragterm.engine.models.registry import bundled_chat_path

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(bundled_chat_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "1024",
            "--n_threads",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).read()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start")
    yield url
    proc.terminate()
    proc.wait(10)


def test_remote_streams_through_the_same_interface(server, monkeypatch):
    monkeypatch.setenv("RAGTERM_CHAT__TEMPERATURE", "0")
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "16")
    cfg = config.load()
    backend = RemoteOpenAI(server, model="smollm2", n_ctx=1024)
    conn = connect()
    conv = Conversation(backend, conn, cfg)
    events = list(conv.send("What is the capital of France?"))
    tokens = [e for e in events if isinstance(e, Token)]
    done = events[-1]
    assert len(tokens) >= 2 and done.status == "ok"
    assert done.content == "".join(t.text for t in tokens)
    assert chats.messages(conn, conv.session_id)[-1].content == done.content


def test_server_down_is_a_clear_error():
    backend = RemoteOpenAI(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(GenerationError, match="cannot reach the server"):
        list(backend.stream([{"role": "user", "content": "hi"}], SamplingParams()))


def test_server_down_saves_nothing(monkeypatch):
    cfg = config.load()
    conn = connect()
    conv = Conversation(RemoteOpenAI(f"http://127.0.0.1:{free_port()}/v1"), conn, cfg)
    done = list(conv.send("hello"))[-1]
    assert done.status == "error" and "cannot reach" in done.error
    assert chats.list_sessions(conn) == []
