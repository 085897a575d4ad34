"""The bundled embedding model works offline through fastembed."""

from __future__ import annotations

import numpy as np

from ragterm.engine import embed


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
