"""`index`, `search`, `ask` (local model) and `persona tune` open no network socket.

Each runs in its own process with a sitecustomize that makes every IPv4/IPv6 connect, send,
listen and name lookup fail and records it (Unix sockets stay allowed; creating a socket without
using it, as urllib3 does at import to probe for IPv6, sends nothing and is allowed)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.faults.conftest import env_for, ragterm, write_corpus

SITE = textwrap.dedent(
    """
    import os, socket, traceback

    _log = os.environ["RAGTERM_TEST_NET_LOG"]
    _INET = (socket.AF_INET, socket.AF_INET6)

    def _refuse(what):
        with open(_log, "a") as fh:
            fh.write("%s\\n%s\\n" % (what, "".join(traceback.format_stack())))
        raise OSError("network disabled by the test")

    def _wrap(name):
        orig = getattr(socket.socket, name)

        def guarded(self, *args, **kwargs):
            if self.family in _INET:
                _refuse("%s%r" % (name, args))
            return orig(self, *args, **kwargs)

        setattr(socket.socket, name, guarded)

    for _name in ("connect", "connect_ex", "sendto", "sendmsg", "listen"):
        _wrap(_name)

    def _no_dns(*args, **kwargs):
        _refuse("getaddrinfo%r" % (args,))

    socket.getaddrinfo = _no_dns
    """
)


@pytest.fixture
def offline(home: Path, tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE)
    env = env_for(home, RAGTERM_TEST_NET_LOG=str(tmp_path / "net.log"))
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    return env


def attempts(env: dict[str, str]) -> str:
    p = Path(env["RAGTERM_TEST_NET_LOG"])
    return p.read_text() if p.exists() else ""


def test_the_guard_itself_catches_a_connection(offline):
    import subprocess
    import sys

    code = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9', timeout=1)"
    r = subprocess.run([sys.executable, "-c", code], env=offline, capture_output=True, text=True)
    assert r.returncode != 0 and "network disabled by the test" in r.stderr
    assert attempts(offline), "the sitecustomize guard is active in a child"


@pytest.mark.timeout(240)
def test_index_search_ask_open_no_socket(home, tmp_path, offline):
    folder = write_corpus(tmp_path / "notes", n=3)
    for args in (
        ("index", str(folder)),
        ("search", "coffee"),
        ("ask", "--max-tokens", "8", "--temperature", "0", "How do I make coffee?"),
    ):
        r = ragterm(home, *args, env=offline)
        assert r.returncode == 0, (args, r.stderr[-2000:])
        assert attempts(offline) == "", (args, attempts(offline))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_persona_tune_opens_no_socket(home, tmp_path, offline):
    """The whole training child (torch, transformers, peft, the GGUF export) under the guard."""
    pytest.importorskip("peft")
    from tests.engine.tune.helpers import write_pirate_data

    data = write_pirate_data(tmp_path / "pirate.jsonl")
    r = ragterm(
        home, "persona", "tune", "netless", "--data", str(data), "--steps", "2",
        "--batch-size", "2", "--max-len", "96", env=offline, timeout=280,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert attempts(offline) == "", attempts(offline)
