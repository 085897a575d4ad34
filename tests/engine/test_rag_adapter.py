"""The retrieval-tuned adapter shipped for the bundled model: `rag.adapter = auto` (the default)
loads it, `off` does not, and with it the 135M model answers in the trained form, quoting the
sources verbatim (tests never retrain it)."""

from __future__ import annotations

import gguf
import pytest

from ragterm import config
from ragterm.engine.answer.conversation import make_retriever, open_conversation, rag_adapter_path
from ragterm.engine.events import Done
from ragterm.engine.models.registry import bundled_chat_path

NOTES = {
    "backup.md": "# backup\n\nbackup.mirror(src, dest)\n\nCopy every file under src to the disk "
    "mounted at dest, keeping timestamps.\n\nbackup.prune(dest, days)\n\nDelete snapshots "
    "older than days from dest.\n",
    "garden.md": "# Garden\n\nPrune roses in late winter, just above an outward-facing bud.\n",
}


def test_the_adapter_ships_in_the_package_and_is_a_small_lora():
    auto = config.load().with_overrides(**{"rag.adapter": "auto"})
    path = rag_adapter_path(auto, bundled_chat_path())
    assert path is not None, "ragterm/adapters/rag-smollm2-135m.gguf is missing from the package"
    reader = gguf.GGUFReader(path)
    kind = reader.fields["general.type"]
    assert bytes(kind.parts[kind.data[0]]).decode() == "adapter"
    assert len(reader.tensors) > 0
    import os

    assert os.path.getsize(path) < 12 * 2**20


def test_off_and_other_models_get_no_adapter(tmp_path):
    cfg = config.load()
    assert (
        rag_adapter_path(cfg.with_overrides(**{"rag.adapter": "off"}), bundled_chat_path()) is None
    )
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    assert rag_adapter_path(cfg, other) is None


@pytest.fixture
def notes(tmp_path):
    from ragterm.engine.index.pipeline import index_paths
    from ragterm.store.db import connect

    root = tmp_path / "notes"
    root.mkdir()
    for name, text in NOTES.items():
        (root / name).write_text(text)
    conn = connect()
    list(index_paths(conn, [root], cfg=config.load()))
    return conn


def _answer(conn, adapter: str, question: str) -> tuple[Done, object]:
    cfg = config.load().with_overrides(
        **{"rag.adapter": adapter, "chat.temperature": 0.0, "chat.max_tokens": 60}
    )
    conv = open_conversation(cfg, conn)
    try:
        done = next(
            ev
            for ev in conv.send(question, retrieve=make_retriever(conn, cfg))
            if isinstance(ev, Done)
        )
        return done, conv.backend.lora_path
    finally:
        conv.backend.close()


def test_with_the_adapter_the_bundled_model_quotes_the_sources_verbatim(notes):
    """The trained form: `name: "a line of a source" [n]`, or "The files do not say." — the quote
    is never invented (how often it is the right line: scripts/bench_answers.py)."""
    import re

    q = "Which backup function copies every file under src to the disk mounted at dest?"
    done, lora = _answer(notes, "auto", q)
    assert lora is not None and lora.endswith("rag-smollm2-135m.gguf")
    sent = " ".join(" ".join(h.text.split()) for h in done.sources)
    quoted = re.findall(r'"([^"]+)"', done.content)
    assert quoted or "The files do not say." in done.content, done.content
    assert all(" ".join(x.split()) in sent for x in quoted), done.content

    _, lora = _answer(notes, "off", q)
    assert lora is None


def test_a_turn_without_sources_is_answered_by_the_bare_model(notes):
    """The adapter teaches short quoted answers from sources; general chat (no sources sent) keeps
    the model's own voice: the same answer as with `rag.adapter off`, and the next turn with
    sources gets the adapter back (the adapter belongs to the excerpts assembly)."""
    cfg = config.load().with_overrides(
        **{"chat.temperature": 0.0, "chat.max_tokens": 40, "rag.assembly": "excerpts"}
    )
    ask = "Write a short poem about the sea."

    def reply(conv, text, **kw):
        return next(ev for ev in conv.send(text, **kw) if isinstance(ev, Done))

    bare = open_conversation(cfg.with_overrides(**{"rag.adapter": "off"}), notes)
    try:
        expected = reply(bare, ask, rag=False).content
    finally:
        bare.backend.close()

    conv = open_conversation(cfg, notes)
    try:
        q = "Which backup function copies every file under src to the disk mounted at dest?"
        first = reply(conv, q, retrieve=make_retriever(notes, cfg))
        assert first.sources and conv.backend.adapter_on
        fresh = open_conversation(cfg, notes, reuse=conv.backend)
        poem = reply(fresh, ask, rag=False)
        assert poem.grounding == "no_rag"
        assert poem.content == expected
        assert not fresh.backend.adapter_on
        again = reply(fresh, q, retrieve=make_retriever(notes, cfg))
        assert again.sources and fresh.backend.adapter_on
    finally:
        conv.backend.close()
