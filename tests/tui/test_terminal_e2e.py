"""The installed `ragterm` in a real terminal (tmux): it opens, answers, and quits cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
    pytest.mark.slow,  # a real terminal, a real `ragterm` process and model
]


def ragterm_exe() -> str:
    exe = Path(sys.executable).parent / "ragterm"
    return str(exe) if exe.exists() else (shutil.which("ragterm") or "ragterm")


def test_ragterm_in_tmux(tmp_path) -> None:
    name = f"ragterm-e2e-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env["TERM"] = "xterm-256color"
    sock = ["-L", name]  # a private tmux server: never touches the user's sessions
    cmd = [TMUX, *sock, "new-session", "-d", "-s", name, "-x", "100", "-y", "30", ragterm_exe()]
    subprocess.run(cmd, env=env, check=True)

    def tm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TMUX, *sock, *args], capture_output=True, text=True, check=False)

    def screen() -> str:
        return tm("capture-pane", "-p", "-t", name).stdout

    def wait(pred, timeout: float = 60) -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            s = screen()
            if pred(s):
                return s
            time.sleep(0.3)
        raise AssertionError("the screen never showed it:\n" + screen())

    try:
        wait(lambda s: "smollm2-135m ·" in s and "loading" not in s)
        tm("send-keys", "-t", name, "-l", "Say hi")
        tm("send-keys", "-t", name, "Enter")
        shown = wait(lambda s: "Assistant" in s and "tok/s" in s)
        assert "Say hi" in shown
        tm("send-keys", "-t", name, "C-q")
        wait(lambda s: tm("has-session", "-t", name).returncode != 0, timeout=15)
    finally:
        tm("kill-server")
    from ragterm.store import chats
    from ragterm.store.db import connect

    sessions = chats.list_sessions(connect())
    assert [s.title for s in sessions] == ["Say hi"]
