"""Downloads through huggingface_hub from a local hub + CDN (HF_ENDPOINT), never the internet."""

from __future__ import annotations

import hashlib
import threading

import pytest

from ragterm.engine.events import DownloadProgress
from ragterm.engine.models.hub import download
from ragterm.errors import Cancelled, ModelError
from tests.engine.hubserver import HubServer

REPO = "someone/tiny-GGUF"
FILE = "tiny.Q4_1.gguf"


@pytest.fixture
def hub_root(tmp_path, bundled_gguf):
    root = tmp_path / "hub"
    (root / REPO).mkdir(parents=True)
    (root / REPO / FILE).symlink_to(bundled_gguf)
    return root


@pytest.fixture(scope="session")
def bundled_sha(tmp_path_factory) -> str:
    from ragterm.engine.models.registry import bundled_chat_path

    return hashlib.sha256(bundled_chat_path().read_bytes()).hexdigest()


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)


def run(dest, **kw):
    events = list(download(REPO, FILE, dest, **kw))
    return [e for e in events if isinstance(e, DownloadProgress)], events[-1]


def test_download_follows_the_redirect_and_keeps_the_token_on_the_hub(
    hub_root, tmp_path, monkeypatch, online, bundled_gguf
):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    with HubServer(hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # read at call time
        progress, final = run(tmp_path / "dest")
    assert final.read_bytes() == bundled_gguf.read_bytes()
    done = [p for p in progress if not p.verifying]
    assert done[-1].done == done[-1].total == bundled_gguf.stat().st_size
    assert progress[-1].verifying  # the sha256 was checked against the hub's X-Linked-Etag
    assert "Bearer hf_secret" in hub.hub_auth
    assert hub.cdn_auth and not any(hub.cdn_auth)  # never forwarded to the other host
    assert not list((tmp_path / "dest").glob("*.part"))


def test_interrupted_download_resumes_with_range_in_the_next_run(
    hub_root, tmp_path, monkeypatch, online, bundled_gguf
):
    dest = tmp_path / "dest"
    # the connection drops after 25 MB, then the CDN fails until it recovers
    with HubServer(hub_root, drop_after=25_000_000, fail_after_drop=True) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match=r"HTTP 503 after \d+ of \d+ bytes") as info:
            run(dest)
        assert "resume" in info.value.hint
        [part] = dest.glob(FILE + ".*.part")
        have = part.stat().st_size
        assert 0 < have <= 25_000_000  # what huggingface_hub had written (whole 10 MiB chunks)
        hub.recover()
        progress, final = run(dest)
        assert hub.ranges[-1] == f"bytes={have}-"
    assert progress[0].resumed_from == have
    assert final.read_bytes() == bundled_gguf.read_bytes()
    assert not part.exists()


def test_a_dropped_connection_is_resumed_within_the_same_pull(
    hub_root, tmp_path, monkeypatch, online, bundled_gguf
):
    with HubServer(hub_root, drop_after=15_000_000) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        _, final = run(tmp_path / "dest")
        assert hub.ranges == [None, f"bytes={10 * 1024 * 1024}-"]  # huggingface_hub's retry
    assert final.read_bytes() == bundled_gguf.read_bytes()


def test_cancel_keeps_the_part_and_the_next_run_resumes(
    hub_root, tmp_path, monkeypatch, online, bundled_gguf
):
    dest = tmp_path / "dest"
    cancel = threading.Event()
    # the CDN stops after 24 MiB until released: the cancel always lands mid-download
    with HubServer(hub_root, hold_after=24 << 20) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(Cancelled, match="run the same pull to resume"):
            for ev in download(REPO, FILE, dest, cancel=cancel):
                if isinstance(ev, DownloadProgress) and ev.done > 0 and not cancel.is_set():
                    cancel.set()  # seen on the next item, before more than a few chunks
                    hub.release()
        [part] = dest.glob(FILE + ".*.part")
        have = part.stat().st_size
        assert 0 < have < bundled_gguf.stat().st_size
        progress, final = run(dest)
        assert hub.ranges[-1] == f"bytes={have}-"
    assert final.read_bytes() == bundled_gguf.read_bytes()


def test_broken_checksum_is_refused_and_the_download_deleted(
    hub_root, tmp_path, monkeypatch, online
):
    dest = tmp_path / "dest"
    with HubServer(hub_root, corrupt=True) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="checksum mismatch for tiny.Q4_1.gguf") as info:
            run(dest)
    assert "\n" not in str(info.value)
    assert list(dest.iterdir()) == []  # no part, no model


def test_a_pinned_hash_that_the_hub_does_not_serve_is_refused_before_downloading(
    hub_root, tmp_path, monkeypatch, online, bundled_sha
):
    with HubServer(hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="different tiny.Q4_1.gguf than ragterm's catalog"):
            run(tmp_path / "dest", sha256="0" * 64)
        assert hub.ranges == []  # nothing was fetched
        _, final = run(tmp_path / "dest", sha256=bundled_sha)  # the right pin passes
    assert final.is_file()


def test_a_part_of_another_remote_version_is_not_resumed(
    hub_root, tmp_path, monkeypatch, online, bundled_gguf
):
    dest = tmp_path / "dest"
    dest.mkdir()
    stale = dest / f"{FILE}.0123456789abcdef.part"  # left by a file the hub no longer serves
    stale.write_bytes(b"x" * 1000)
    with HubServer(hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        _, final = run(dest)
        assert hub.ranges == [None]
    assert not stale.exists()
    assert final.read_bytes() == bundled_gguf.read_bytes()


def test_missing_file_and_unreachable_server(hub_root, tmp_path, monkeypatch, online):
    with HubServer(hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(ModelError, match="HTTP 404") as info:
            list(download(REPO, "nope.gguf", tmp_path))
        assert "check the repository" in info.value.hint
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ModelError, match="cannot reach http://127.0.0.1:9"):
        list(download(REPO, FILE, tmp_path))


def test_offline_is_read_at_call_time_and_bad_names_are_refused(hub_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        list(download(REPO, FILE, tmp_path))
    with pytest.raises(ModelError, match="invalid hub repository"):
        list(download("no-slash", FILE, tmp_path))
    with pytest.raises(ModelError, match="not a .gguf"):
        list(download(REPO, "weights.safetensors", tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE")  # huggingface_hub read it at import; we do per call
    with HubServer(hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        _, final = run(tmp_path / "dest")
    assert final.is_file()
