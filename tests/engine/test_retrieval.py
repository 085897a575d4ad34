"""Hybrid search over a real index: the right passage, cited, with every score filled in."""

from __future__ import annotations

import pytest

from ragterm.config import load
from ragterm.engine.embed import BUNDLED, load_embedder
from ragterm.engine.index.pipeline import index_paths
from ragterm.engine.retrieve.hybrid_search import GATE_BAND, Retriever, fts_query, has_index
from ragterm.errors import IndexingError
from ragterm.store import index_rows as store
from ragterm.store.db import connect
from tests.helpers import write_files

FILES = {
    "kitchen/bread.md": "# Bread\n\nKnead the dough for ten minutes, then let it rise "
    "overnight in the fridge.\n",
    "kitchen/soup.md": "# Soup\n\nSimmer onions and carrots, add stock, and blend until smooth.\n",
    "garden/roses.txt": "Prune roses in late winter, just above an outward-facing bud.\n",
    "garden/copy-of-roses.txt": "Prune roses in late winter, just above an outward-facing bud.\n",
    "code/net.py": "def fetch_url(url, timeout=10):\n    '''Download a web page over HTTP.'''\n"
    "    return http_get(url, timeout)\n",
}


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(BUNDLED)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    root = write_files(tmp_path_factory.mktemp("corpus") / "home", FILES)
    conn = connect(tmp_path_factory.mktemp("db") / "index.db")
    list(index_paths(conn, [root], embedder=embedder, cfg=load()))
    yield conn, root
    conn.close()


@pytest.fixture
def retriever(indexed, embedder):
    return Retriever(indexed[0], embedder=embedder, cfg=load())


def test_hybrid_finds_the_passage_with_citation_and_scores(retriever, indexed):
    hits = retriever.search("how long should bread dough rise", k=3)
    top = hits[0]
    assert top.rel_path == "kitchen/bread.md" and top.citation() == "kitchen/bread.md:1-3"
    assert top.path == str(indexed[1] / "kitchen" / "bread.md")
    assert top.collection == "home" and top.heading == "Bread"
    assert top.vector_rank == 1 and top.keyword_rank == 1
    assert 0.3 < top.vector_score <= 1.0
    assert top.score > hits[1].score
    assert all(h.vector_score is not None for h in hits)


def test_modes_fill_their_own_ranks(retriever):
    [kw] = retriever.search("fetch_url timeout", k=1, mode="keyword")
    assert kw.rel_path == "code/net.py" and kw.keyword_rank == 1 and kw.vector_rank is None
    [vec] = retriever.search("download a website", k=1, mode="vector")
    assert vec.rel_path == "code/net.py" and vec.vector_rank == 1 and vec.keyword_rank is None
    assert vec.score == pytest.approx(vec.vector_score)


def test_the_same_text_in_two_files_is_one_hit(retriever):
    hits = retriever.search("pruning roses in winter", k=5)
    rose_hits = [h for h in hits if "roses" in h.rel_path]
    assert len(rose_hits) == 1


def test_collection_and_path_filters(retriever, indexed):
    hits = retriever.search("cooking", k=10, path_glob="kitchen/*")
    assert hits and {h.rel_path for h in hits} <= {"kitchen/bread.md", "kitchen/soup.md"}
    hits = retriever.search("roses", k=10, path_glob="*.py")
    assert {h.rel_path for h in hits} == {"code/net.py"}
    hits = retriever.search("bread", k=10, path_glob=str(indexed[1] / "kitchen" / "*"))
    assert hits and all(h.rel_path.startswith("kitchen/") for h in hits)
    assert retriever.search("bread", k=3, collections=["home"])
    with pytest.raises(IndexingError, match="no collection named 'nope'"):
        retriever.search("bread", collections=["nope"])


def test_threshold_drops_weak_hits(retriever):
    hits = retriever.search("knead dough", k=10, threshold=0.3)
    assert hits and all(h.vector_score >= 0.3 for h in hits)
    assert len(hits) < len(FILES)
    assert retriever.search("knead dough", k=10, threshold=0.99) == []
    kw = retriever.search("dough", k=10, mode="keyword", threshold=0.2)
    assert kw and all(h.vector_score is not None for h in kw)


def test_gate_keeps_weaker_chunks_once_the_best_clears_it(retriever):
    """The answer path asks "is anything here about this?": when the best chunk clears the gate,
    weaker ones (often another part of the right file) still go to the model."""
    everything = retriever.search("knead dough", k=10)
    best = max(h.vector_score for h in everything)
    weakest = min(h.vector_score for h in everything)
    gate = (best + weakest) / 2
    gated = retriever.search("knead dough", k=10, gate=gate)
    assert [h.chunk_id for h in gated] == [h.chunk_id for h in everything]
    assert any(h.vector_score < gate for h in gated)
    assert retriever.search("knead dough", k=10, gate=best + GATE_BAND + 0.01) == []


def test_a_best_chunk_just_under_the_gate_passes_when_it_holds_the_questions_words(retriever):
    """Short notes score lower against a specific question than reference pages do; a chunk that
    holds most of the question's words is about it all the same, and an unrelated question whose
    best chunk scores as low still finds nothing."""
    q = "how long do I knead the dough"
    best = max(h.vector_score for h in retriever.search(q, k=5))
    hits = retriever.search(q, k=5, gate=best + GATE_BAND / 2)
    assert hits and hits[0].rel_path == "kitchen/bread.md"

    other = "which train leaves for Lisbon on Sunday"
    best_other = max(h.vector_score for h in retriever.search(other, k=5))
    assert retriever.search(other, k=5, gate=best_other + GATE_BAND / 2) == []


@pytest.mark.parametrize(
    "query", ['NEAR(" AND OR *', "-foo :bar ^baz", '"unbalanced', "the of and", "ünïcödé ✓ 日本"]
)
def test_any_user_text_is_a_safe_query(retriever, query):
    retriever.search(query, k=3)
    retriever.search(query, k=3, mode="keyword")


def test_fts_query_quotes_terms_and_drops_stop_words():
    assert fts_query('How do I "parse" args?') == '"parse" OR "args"'
    assert fts_query("the of") == '"the" OR "of"'
    assert fts_query("!!! ???") is None


def test_bad_arguments_are_one_line_errors(retriever):
    with pytest.raises(IndexingError, match="empty"):
        retriever.search("   ")
    with pytest.raises(IndexingError, match="mode"):
        retriever.search("x", mode="semantic")


def test_filtered_exact_search_agrees_with_binary_knn(retriever):
    qvec = retriever.embedder.embed_query("simmer vegetables into soup")
    knn = retriever.vector_search(qvec, 3)
    exact = retriever.vector_search(qvec, 3, " AND col.name = ?", ["home"])
    assert [s for _, s in knn] == pytest.approx([s for _, s in exact])  # ties may swap ids
    assert knn[0][0] == exact[0][0]


def test_has_index(indexed, tmp_path):
    assert has_index(indexed[0])
    assert not has_index(connect(tmp_path / "empty.db"))


def test_rrf_fusion_also_ranks_the_passage_first(indexed, embedder):
    cfg = load().with_overrides(**{"rag.fusion": "rrf", "rag.vector_weight": 0.5})
    [hit] = Retriever(indexed[0], embedder=embedder, cfg=cfg).search("bread dough rise", k=1)
    assert hit.rel_path == "kitchen/bread.md"


def test_bit_scan_agrees_with_vec0_knn_and_sees_new_vectors(tmp_path, embedder):
    root = tmp_path / "notes"
    root.mkdir()
    for i, topic in enumerate(
        ["volcanoes erupt lava", "glaciers carve valleys", "tides follow the moon"]
    ):
        (root / f"n{i}.txt").write_text(f"Note about {topic}.\n")
    conn = connect(tmp_path / "i.db")
    list(index_paths(conn, [root], embedder=embedder, cfg=load()))
    r = Retriever(conn, embedder=embedder, cfg=load())
    qvec = embedder.embed_query("molten rock from mountains")
    fast = r.vector_search(qvec, 3)
    vindex = r._vindex
    assert vindex.name == "sqlite-vec" and len(vindex) == 3  # read from vec0's storage
    vindex._bits, vindex._bits_gen = None, store.vectors_generation(conn)  # force vec0's KNN
    assert r.vector_search(qvec, 3) == fast
    (root / "n9.txt").write_text("Magma chambers feed volcanoes.\n")
    list(index_paths(conn, [root], embedder=embedder, cfg=load()))
    assert r.search("magma chamber", k=1)[0].rel_path == "n9.txt"
    assert r.search("magma chamber", k=1, mode="vector")[0].rel_path == "n9.txt"


def test_preload_loads_model_and_index_ahead_and_finds_the_same(indexed, retriever):
    ahead = Retriever(indexed[0], cfg=load())  # loads its own model (the cached one)
    ahead.preload()
    ahead.preload()  # a second call while the first runs is a no-op
    got = ahead.search("how long should bread dough rise", k=3)
    assert ahead._vindex is not None and len(ahead._vindex) > 0
    want = retriever.search("how long should bread dough rise", k=3)
    assert [(h.chunk_id, round(h.score, 6)) for h in got] == [
        (h.chunk_id, round(h.score, 6)) for h in want
    ]


def test_preload_of_an_empty_index_is_harmless(tmp_path):
    r = Retriever(connect(tmp_path / "empty.db"), cfg=load())
    r.preload()
    r.wait_preload()
    assert r._vindex is None and r._preloading is None
    assert r.vector_search(load_embedder(BUNDLED).embed_query("anything"), 5) == []


UPLOAD_GUIDE = (
    "# Uploads part {i}\n\nThe upload page shows every upload in progress. A failed upload shows a "
    "red mark; each attempt is listed, and you can retry it from the list of uploads.\n"
    "Uploads page {i} explains the upload list and failed uploads.\n"
)
QUEUE_CODE = (
    "class Queue:\n"
    + "\n".join(
        f"    def step_{i}(self, x):\n        '''Move item {i} along the queue and log its size.'''"
        f"\n        return x + {i}\n"
        for i in range(10)
    )
    + "\n    def resend_with_backoff(self, job):\n"
    "        '''Retry a failed upload, waiting longer after each attempt.'''\n        return job\n"
)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory, embedder):
    files = {f"docs/uploads-{i}.md": UPLOAD_GUIDE.format(i=i) for i in range(12)}
    files["src/transfer.py"] = QUEUE_CODE
    root = write_files(tmp_path_factory.mktemp("uploads") / "home", files)
    conn = connect(tmp_path_factory.mktemp("db") / "index.db")
    list(index_paths(conn, [root], embedder=embedder, cfg=load()))
    yield conn
    conn.close()


def test_a_line_that_names_the_answer_brings_its_chunk_into_the_sources(uploads, embedder):
    """A long chunk of code whose one docstring line answers the question ranks under a dozen
    pages that share its words; reading the candidates' lines gives it one of the last two places
    among the sources, and the places before them stay as ranked."""
    q = "which function retries a failed upload waiting longer each attempt"
    unread = Retriever(
        uploads, embedder=embedder, cfg=load().with_overrides(**{"rag.line_candidates": 0})
    )
    ranked = unread.search(q, k=10)
    assert "src/transfer.py" not in [h.rel_path for h in ranked]

    hits = Retriever(uploads, embedder=embedder, cfg=load()).search(q, k=4)
    assert [h.rel_path for h in hits[:3]] == [h.rel_path for h in ranked[:3]]
    assert hits[3].rel_path == "src/transfer.py"
    ten = Retriever(uploads, embedder=embedder, cfg=load()).search(q, k=10)
    assert [h.rel_path for h in ten[:8]] == [h.rel_path for h in ranked[:8]]
    assert "src/transfer.py" in [h.rel_path for h in ten[8:]]
