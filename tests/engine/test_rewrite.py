"""Follow-up questions keep their sources: rewriting into standalone queries, through the real
index, the real bundled embedding model and the real bundled chat model."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragterm import config
from ragterm.engine.answer.conversation import Conversation, make_retriever
from ragterm.engine.events import Retrieved
from ragterm.engine.models.llm import LocalLlama
from ragterm.engine.retrieve import query_rewrite
from ragterm.store.db import connect
from tests.helpers import index_folder, write_files

TURNS = [("How can I copy a whole directory tree?", "shutil.copytree(src, dst) copies it.")]


def test_a_follow_up_carries_the_earlier_questions_terms():
    rw = query_rewrite.standalone("and how do I delete it again?", TURNS, "terms")
    assert rw.method == "terms" and rw.changed
    assert rw.query.startswith("and how do I delete it again?")  # the user's words stay
    assert {"copy", "directory", "tree"} <= set(rw.query.split())


def test_a_question_that_stands_alone_is_searched_as_typed():
    for q in ("How do I decode base64 text back into bytes?", "What is a heapq priority queue?"):
        rw = query_rewrite.standalone(q, TURNS, "terms")
        assert (rw.query, rw.method) == (q, "none")
    assert query_rewrite.standalone("and delete it?", [], "terms").method == "none"  # a first turn
    assert query_rewrite.standalone("and delete it?", TURNS, "off").query == "and delete it?"


def test_auto_uses_terms_for_the_small_bundled_model(bundled_llama):
    assert query_rewrite.resolve_mode("auto", bundled_llama) == "terms"
    assert "too small" in query_rewrite.describe("auto", bundled_llama)
    assert query_rewrite.parse_params("1.5B") == 1.5e9


@pytest.fixture(scope="module")
def chat_model():
    from ragterm.engine.models.registry import bundled_chat_path

    m = LocalLlama(bundled_chat_path(), n_ctx=2048, threads=2)
    yield m
    m.close()


TREES = (
    "# Copying and removing folders\n\nshutil.copytree copies a whole directory tree; "
    "shutil.rmtree removes a directory tree with every file in it.\n"
)
PHOTOS = (
    "# Deleting photos\n\nHow do I delete them again? Delete blurry holiday pictures again "
    "after the trip; keep the sharp ones.\n"
)
SOUP = "# Soup\n\nSimmer the onions for ten minutes, then add stock.\n"


@pytest.fixture
def indexed(tmp_path: Path):
    docs = tmp_path / "docs"
    write_files(docs, {"trees.md": TREES, "photos.md": PHOTOS, "soup.md": SOUP})
    conn = connect()
    index_folder(conn, docs)
    return conn


def _second_turn(chat_model, conn, mode):
    cfg = config.load().with_overrides(
        **{"rag.rewrite": mode, "chat.max_tokens": 8, "chat.temperature": 0, "rag.threshold": 0}
    )
    conv = Conversation(chat_model, conn, cfg)
    retrieve = make_retriever(conn, cfg)
    list(conv.send("How can I copy a whole directory tree?", retrieve=retrieve, k=1))
    events = list(conv.send("and how do I delete it again?", retrieve=retrieve, k=1))
    return next(e for e in events if isinstance(e, Retrieved))


def test_the_follow_ups_answer_keeps_its_source(chat_model, indexed):
    without = _second_turn(chat_model, indexed, "off")
    assert without.rewrite == "none" and without.query == "and how do I delete it again?"
    assert without.hits[0].rel_path == "photos.md"  # "delete … again" alone finds the photos
    with_terms = _second_turn(chat_model, indexed, "terms")
    assert with_terms.rewrite == "terms" and "directory" in with_terms.query
    assert with_terms.hits[0].rel_path == "trees.md"


def test_the_chat_model_can_rewrite_the_follow_up(chat_model, indexed):
    got = _second_turn(chat_model, indexed, "model")
    # the bundled model's rewrite, or the terms when it gave nothing usable: never the bare words
    assert got.rewrite in ("model", "terms") and got.query != "and how do I delete it again?"
    assert got.hits[0].rel_path == "trees.md"
