"""Hub downloads against a local HTTP server (HF_ENDPOINT), never the internet."""

from __future__ import annotations

import pytest

from ragterm.engine.events import DownloadProgress
from ragterm.engine.hub import download
from ragterm.errors import ModelError
from tests.engine.hubserver import HubServer

REPO = "someone/tiny-GGUF"
FILE = "tiny.Q4_1.gguf"


@pytest.fixture
def hub_root(tmp_path, bundled_gguf):
    root = tmp_path / "hub"
    (root / REPO).mkdir(parents=True)
    (root / REPO / FILE).symlink_to(bundled_gguf)
    return root


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def run(dest, **kw):
    events = list(download(REPO, FILE, dest, **kw))
    return [e for e in events if isinstance(e, DownloadProgress)], events[-1]


def test_download_to_the_models_dir(hub_root, tmp_path, monkeypatch, online, bundled_gguf):
    with HubServer(hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        progress, final = run(tmp_path / "dest")
    assert final.read_bytes() == bundled_gguf.read_bytes()
    assert progress[-1].done == progress[-1].total == bundled_gguf.stat().st_size
    assert not list((tmp_path / "dest").glob("*.part"))


def test_interrupted_download_resumes_with_range(
    hub_root, tmp_path, monkeypatch, online, bundled_gguf
):
    dest = tmp_path / "dest"
    with HubServer(hub_root, drop_after=3_000_000) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="ended early"):
            run(dest)
        part = dest / (FILE + ".part")
        assert part.stat().st_size == 3_000_000
        progress, final = run(dest)
        assert hub.ranges[-1] == "bytes=3000000-"
    assert progress[0].resumed_from == 3_000_000
    assert final.read_bytes() == bundled_gguf.read_bytes()


def test_missing_file_and_unreachable_server(hub_root, tmp_path, monkeypatch, online):
    with HubServer(hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="HTTP 404") as info:
            list(download(REPO, "nope.gguf", tmp_path))
        assert "check the repository" in info.value.hint
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ModelError, match="cannot reach"):
        list(download(REPO, FILE, tmp_path))


def test_offline_mode_and_bad_names_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        list(download(REPO, FILE, tmp_path))
    with pytest.raises(ModelError, match="invalid hub repository"):
        list(download("no-slash", FILE, tmp_path))
    with pytest.raises(ModelError, match="not a .gguf"):
        list(download(REPO, "weights.safetensors", tmp_path))
