"""The bundled embedding model works offline through fastembed."""

from __future__ import annotations

import numpy as np

from ragterm.engine import embed
from ragterm.engine.embed import local_embedder


def test_bundled_model_embeds_meaningfully():
    emb = embed.load_embedder(embed.BUNDLED)
    vecs = emb.embed(
        [
            "How do I parse command-line arguments?",
            "argparse parses options and sub-commands from sys.argv",
            "A recipe for banana bread with walnuts",
        ]
    )
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2
    q = emb.embed_query("command line options")
    assert q.shape == (384,)


def test_bundled_folder_is_assembled_once(ragterm_home):
    first = embed.bundled_model_dir()
    assert {"model.onnx", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in first.iterdir()
    }
    mtime = (first / "model.onnx").stat().st_mtime_ns
    assert embed.bundled_model_dir() == first
    assert (first / "model.onnx").stat().st_mtime_ns == mtime
    assert str(first).startswith(str(ragterm_home))


def test_token_counts_use_the_model_tokenizer():
    emb = embed.load_embedder(embed.BUNDLED)
    assert emb.count_tokens(["hello world", ""]) == [2, 0]
    assert emb.max_tokens == 256


def test_token_bounded_batches_give_each_text_its_own_vector():
    emb = embed.load_embedder(embed.BUNDLED)
    long = " ".join(f"word{i}" for i in range(400))  # past the model's 256 tokens
    texts = ["short line", long, "short line", "another " * 30, long + " tail", "x", long]
    vecs = emb.embed(texts, batch_size=32)
    assert vecs.shape == (len(texts), 384)
    alone = np.stack([emb.embed([t])[0] for t in texts])
    assert np.allclose(vecs, alone, atol=1e-4)  # batching and padding change nothing
    assert np.array_equal(vecs[0], vecs[2]) and np.array_equal(vecs[1], vecs[6])
    assert vecs[0] @ vecs[3] < 0.99  # rows stay in input order


def test_batches_stay_within_the_budget():
    lengths = [256] * 9 + [16] * 100 + [100] * 20
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches = list(local_embedder._batches(order, lengths, 32))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 32
        cost = len(b) * longest * (longest + local_embedder.BATCH_FFN)
        assert len(b) == 1 or cost <= local_embedder.BATCH_BUDGET
    assert max(len(b) for b in batches if lengths[b[0]] == 256) == 2
    assert max(len(b) for b in batches) == 32  # short texts still go many at a time


def test_the_last_query_vector_is_reused_not_shared():
    emb = embed.load_embedder(embed.BUNDLED)
    first = emb.embed_query("how do I read a file")
    first[:] = 0  # a caller scribbling on its copy
    again = emb.embed_query("how do I read a file")
    assert np.isclose(np.linalg.norm(again), 1.0, atol=1e-4)
    other = emb.embed_query("banana bread")
    assert other @ again < 0.9
