"""Remote embeddings against a real OpenAI-compatible server on loopback (ragterm's own, serving
the bundled MiniLM through fastembed): same vectors, batching, retries, clear failures."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ragterm.config import load
from ragterm.engine.embed import BUNDLED, configured_name, load_embedder
from ragterm.engine.embed.embed_server import Busy, EmbeddingServer
from ragterm.engine.embed.remote_embedder import RemoteEmbedder, endpoint
from ragterm.engine.events import IndexFinished
from ragterm.engine.index.pipeline import MODEL_KEY, index_paths
from ragterm.engine.retrieve.hybrid_search import Retriever
from ragterm.errors import IndexingError, ModelError
from ragterm.store.db import connect, get_meta
from tests.helpers import free_port

TEXTS = [
    "How do I parse command-line arguments?",
    "argparse parses options and sub-commands from sys.argv",
    "A recipe for banana bread with walnuts",
    "Green tea wants water at eighty degrees",
    "sqlite stores a whole database in one file",
]


@pytest.fixture(scope="module")
def local():
    return load_embedder(BUNDLED)


@pytest.fixture
def server(local):
    srv = EmbeddingServer(("127.0.0.1", 0), local)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def remote_cfg(url: str, **extra):
    return load().with_overrides(
        **{"embed.backend": "remote", "embed.url": url, "embed.remote_model": "all-MiniLM-L6-v2"},
        **extra,
    )


def test_remote_vectors_match_local_ones_and_come_in_batches(server, local):
    remote = load_embedder(configured_name(remote_cfg(server.url)), cfg=remote_cfg(server.url))
    assert isinstance(remote, RemoteEmbedder)
    assert remote.name == "remote:all-MiniLM-L6-v2"
    assert remote.dim == 384
    before = server.requests
    vecs = remote.embed(TEXTS, batch_size=2)
    assert server.requests - before == 3  # 5 texts in batches of 2
    assert vecs.shape == (5, 384)
    same = np.sum(vecs * local.embed(TEXTS), axis=1)
    assert same.min() > 0.999
    q = remote.embed_query("command line options")
    assert q @ vecs[1] > q @ vecs[2] + 0.2


def test_url_spellings_reach_the_embeddings_route():
    assert endpoint("http://h:1") == "http://h:1/v1/embeddings"
    assert endpoint("http://h:1/v1/") == "http://h:1/v1/embeddings"
    assert endpoint("h:1/v1/embeddings") == "http://h:1/v1/embeddings"


def test_index_and_search_through_the_server_and_mixing_is_refused(server, tmp_path: Path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "coffee.md").write_text("# Coffee\n\nGrind the beans, steep four minutes.\n")
    (folder / "tea.txt").write_text("Green tea wants water at eighty degrees.\n")
    cfg = remote_cfg(server.url)
    conn = connect()
    events = list(index_paths(conn, [folder], cfg=cfg))
    done = [e for e in events if isinstance(e, IndexFinished)][-1]
    assert done.counts["embedded"] == 2
    assert get_meta(conn, f"{MODEL_KEY}1") == "remote:all-MiniLM-L6-v2"
    hits = Retriever(conn, cfg=cfg).search("how hot should the water be for tea", k=1)
    assert hits[0].rel_path == "tea.txt"
    # the bundled model here, remote vectors there: refused, with the command that fixes it
    with pytest.raises(IndexingError) as exc:
        list(index_paths(conn, [folder], cfg=load(), embedder=load_embedder(BUNDLED)))
    assert "remote:all-MiniLM-L6-v2" in exc.value.message and "notes" in exc.value.message
    assert "ragterm index --reembed" in exc.value.hint
    conn.close()


class _Truncated:
    """The same model cut to 256 dimensions, as a server with another model would answer."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, 256

    def embed(self, texts, batch_size=32):
        return self.inner.embed(texts, batch_size)[:, :256]


def test_a_server_with_another_dimension_is_refused(server, local, tmp_path: Path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("Grind the beans coarsely.\n")
    conn = connect()
    list(index_paths(conn, [folder], cfg=remote_cfg(server.url)))
    other = EmbeddingServer(("127.0.0.1", 0), _Truncated(local), model_name="all-MiniLM-L6-v2")
    other.start()
    try:
        cfg = remote_cfg(other.url)
        with pytest.raises(IndexingError) as exc:
            list(index_paths(conn, [folder], cfg=cfg))
        assert "384 dims" in exc.value.message and "256 dims" in exc.value.message
        with pytest.raises(IndexingError, match="256 dims"):
            Retriever(conn, cfg=cfg).search("beans", k=1)
    finally:
        other.shutdown()
        other.server_close()
        conn.close()


def test_a_server_that_is_down_fails_in_one_line_after_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"
    remote = RemoteEmbedder(url, "all-MiniLM-L6-v2", retries=2, backoff_s=0.05)
    t = time.monotonic()
    with pytest.raises(ModelError) as exc:
        remote.embed(["hello"])
    assert time.monotonic() - t >= 0.15  # waited 0.05 + 0.1 between the 3 tries
    assert "not answering" in exc.value.message and "connection refused" in exc.value.message
    assert "embed.backend local" in exc.value.hint
    assert "\n" not in exc.value.message


class _Flaky(EmbeddingServer):
    """Answers 503 to the first ``fail`` requests (a server still loading its model)."""

    fail = 2

    def embed(self, texts):
        if self.fail > 0:
            self.fail -= 1
            raise Busy("loading the model")
        return super().embed(texts)


def test_busy_server_is_retried_with_backoff(local):
    srv = _Flaky(("127.0.0.1", 0), local)
    srv.start()
    try:
        remote = RemoteEmbedder(srv.url, "all-MiniLM-L6-v2", retries=3, backoff_s=0.01)
        vecs = remote.embed(TEXTS[:2])
        assert vecs.shape == (2, 384)
        assert remote.retried == 2
    finally:
        srv.shutdown()
        srv.server_close()


def test_unknown_model_fails_at_once_with_the_servers_message(server):
    remote = RemoteEmbedder(server.url, "no-such-model", retries=3, backoff_s=5)
    t = time.monotonic()
    with pytest.raises(ModelError) as exc:
        remote.embed(["hello"])
    assert time.monotonic() - t < 2  # a 404 is not retried
    assert "HTTP 404" in exc.value.message and "no-such-model" in exc.value.message
    assert "embed.remote_model" in exc.value.hint


def test_remote_backend_without_a_url_says_which_key_to_set():
    cfg = load().with_overrides(**{"embed.backend": "remote", "embed.remote_model": "m"})
    with pytest.raises(ModelError) as exc:
        load_embedder(configured_name(cfg), cfg=cfg)
    assert "embed.url" in exc.value.hint
