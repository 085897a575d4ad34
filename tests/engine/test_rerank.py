"""Reranking with fastembed's TextCrossEncoder: fetched from a (local) hub, loaded from a folder,
and a clear way out when no model is installed. No reranker weights exist offline, so the model is
a stand-in with the real architecture (tests/engine/crossencoder.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragterm import config
from ragterm.engine.embed import BUNDLED, load_embedder
from ragterm.engine.index.pipeline import index_paths
from ragterm.engine.retrieve import rerank
from ragterm.engine.retrieve.hybrid_search import Retriever
from ragterm.errors import ModelError
from ragterm.store.db import connect
from tests.engine import crossencoder
from tests.engine.hubserver import HubServer


@pytest.fixture(autouse=True)
def fresh_cache():
    rerank._cache.clear()
    yield
    rerank._cache.clear()


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Path:
    return crossencoder.build(tmp_path_factory.mktemp("ce") / "ms-marco-MiniLM-L-6-v2")


@pytest.fixture
def conn(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "trees.md").write_text("# Folders\n\nshutil.rmtree removes a whole directory tree.\n")
    (docs / "soup.md").write_text("# Soup\n\nSimmer the onions for ten minutes.\n")
    (docs / "tea.md").write_text("# Tea\n\nGreen tea wants water at eighty degrees.\n")
    c = connect()
    list(index_paths(c, [docs], embedder=load_embedder(BUNDLED)))
    yield c
    c.close()


def _cfg(name: str):
    return config.load().with_overrides(**{"rag.rerank": name, "rag.rerank_candidates": 3})


def test_the_reranker_downloads_from_the_hub_and_orders_the_hits(
    standin, conn, tmp_path, monkeypatch
):
    import shutil

    repo = tmp_path / "hub" / "Xenova" / "ms-marco-MiniLM-L-6-v2"
    shutil.copytree(standin, repo)
    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        hits = Retriever(conn, cfg=_cfg(rerank.DEFAULT)).search("delete a directory tree", k=2)
    assert any(path.endswith("onnx/model.onnx") for _, _, path in hub.log)
    assert len(hits) == 2 and all(h.rerank_score is not None for h in hits)
    assert hits[0].rerank_score >= hits[1].rerank_score
    assert hits[0].rel_path == "trees.md"
    plain = Retriever(conn, cfg=_cfg("off")).search("delete a directory tree", k=2)
    assert all(h.rerank_score is None for h in plain)


def test_a_folder_with_the_model_works_offline(standin, conn):
    hits = Retriever(conn, cfg=_cfg(str(standin))).search("water temperature for tea", k=1)
    assert hits[0].rel_path == "tea.md" and hits[0].rerank_score is not None


def test_no_model_installed_says_how_to_get_one(conn, tmp_path):
    with pytest.raises(ModelError) as exc:
        Retriever(conn, cfg=_cfg(rerank.DEFAULT)).search("tea", k=1)
    assert "not installed" in exc.value.message and "\n" not in exc.value.message
    assert "rag.rerank off" in exc.value.hint and "HF_ENDPOINT" in exc.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="onnx/model.onnx"):
        rerank.Reranker(str(tmp_path / "empty"))
