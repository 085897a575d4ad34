"""`ragterm models recommend` and `ragterm models pull ALIAS` against a local hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.hubserver import HubServer, serve_catalog_model


@pytest.fixture
def local_hub(tmp_path, bundled_gguf, monkeypatch):
    """A hub serving the bundled GGUF as catalog alias ``tiny-chat``; yields (hub, entry)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    catalog = tmp_path / "catalog.toml"
    entry = serve_catalog_model(tmp_path / "hub", bundled_gguf, catalog)
    monkeypatch.setenv("RAGTERM_MODELS__CATALOG", str(catalog))
    return tmp_path / "hub", catalog, entry


def test_recommend_names_the_best_fit_and_why(ragterm_cli):
    r = ragterm_cli("models", "recommend", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["machine"]["total_mb"] > 0 and out["machine"]["cores"] >= 1
    statuses = {m["alias"]: m["status"] for m in out["models"]}
    assert set(statuses.values()) <= {"recommended", "fits", "slow", "tight", "too big"}
    if out["recommended"]:
        assert statuses[out["recommended"]] == "recommended"
    table = ragterm_cli("models", "recommend")
    assert "qwen2.5-1.5b" in table.stdout and "verdict" in table.stdout


def test_pull_alias_verifies_registers_and_can_be_the_default(
    ragterm_cli, local_hub, monkeypatch, ragterm_home
):
    root, _, entry = local_hub
    with HubServer(root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        r = ragterm_cli("models", "pull", "tiny-chat")
    assert r.exit_code == 0, r.output
    assert "pulled tiny-chat" in r.stdout
    rows = {x["name"]: x for x in json.loads(ragterm_cli("models", "list", "--json").stdout)}
    assert rows["tiny-chat"]["source"] == "pulled"
    assert Path(rows["tiny-chat"]["path"]).name == entry["file"]
    assert rows["tiny-chat"]["path"].startswith(str(ragterm_home))
    assert ragterm_cli("models", "default", "tiny-chat").exit_code == 0
    assert ragterm_cli("config", "get", "chat.model").stdout.strip() == "tiny-chat"
    rec = json.loads(ragterm_cli("models", "recommend", "--json").stdout)
    assert rec["models"][0]["installed"] is True


def test_pull_with_a_broken_checksum_is_refused(
    ragterm_cli, tmp_path, bundled_gguf, monkeypatch, ragterm_home
):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    catalog = tmp_path / "catalog.toml"
    serve_catalog_model(tmp_path / "hub", bundled_gguf, catalog)
    monkeypatch.setenv("RAGTERM_MODELS__CATALOG", str(catalog))
    with HubServer(tmp_path / "hub", corrupt=True) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        r = ragterm_cli("models", "pull", "tiny-chat")
    assert r.exit_code == 1
    assert "checksum mismatch for tiny-chat.Q4_1.gguf" in r.stderr
    assert "Traceback" not in r.output
    assert not [p for p in (ragterm_home / "data").rglob("*") if p.is_file() and "gguf" in p.name]
    names = [x["name"] for x in json.loads(ragterm_cli("models", "list", "--json").stdout)]
    assert "tiny-chat" not in names


def test_unknown_alias_and_offline_are_one_line_errors(ragterm_cli, monkeypatch):
    r = ragterm_cli("models", "pull", "qwen2.5-1.5bb")
    assert r.exit_code == 1 and "did you mean qwen2.5-1.5b" in r.stderr
    r = ragterm_cli("models", "pull", "qwen2.5-1.5b")  # HF_HUB_OFFLINE=1 in every test
    assert r.exit_code == 1 and "HF_HUB_OFFLINE" in r.stderr


def test_ctrl_c_stops_a_pull_and_the_same_command_resumes(
    local_hub, monkeypatch, ragterm_home, bundled_gguf
):
    root, _, entry = local_hub
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    # the CDN stops after 24 MiB until released: SIGINT always lands mid-download
    with HubServer(root, hold_after=24 << 20) as hub:
        env["HF_ENDPOINT"] = hub.url
        cmd = [sys.executable, "-m", "ragterm", "models", "pull", "tiny-chat"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        part_dir = ragterm_home / "data" / "models" / "someone--tiny-chat-GGUF"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in part_dir.glob("*.part")):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        hub.release()
        assert proc.returncode == 130, err.decode()
        assert "run the same command to resume" in err.decode()
        assert b"Traceback" not in err
        [part] = part_dir.glob("*.part")
        have = part.stat().st_size
        assert 0 < have <= 24 << 20
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        assert hub.ranges[-1] == f"bytes={have}-"
    assert (part_dir / entry["file"]).read_bytes() == bundled_gguf.read_bytes()
