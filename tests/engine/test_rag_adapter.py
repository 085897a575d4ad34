"""The retrieval-tuned adapter shipped for the bundled model: loaded by default, switchable off,
and it makes the 135M model quote the line that answers and cite it (tests never retrain it)."""

from __future__ import annotations

import gguf
import pytest

from ragterm import config
from ragterm.engine.chat import make_retriever, open_conversation, rag_adapter_path
from ragterm.engine.events import Done
from ragterm.engine.models import bundled_chat_path

NOTES = {
    "office.md": "# Office\n\nThe office wifi password is tangerine-42.\n"
    "The printer on the second floor is called Hermes.\n",
    "garden.md": "# Garden\n\nPrune roses in late winter, just above an outward-facing bud.\n",
}


def test_the_adapter_ships_in_the_package_and_is_a_small_lora():
    path = rag_adapter_path(config.load(), bundled_chat_path())
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
    from ragterm.engine.indexer import index_paths
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


def test_with_the_adapter_the_bundled_model_quotes_and_cites_the_answer(notes):
    done, lora = _answer(notes, "auto", "What is the office wifi password?")
    assert lora is not None and lora.endswith("rag-smollm2-135m.gguf")
    assert "tangerine-42" in done.content, done.content
    assert done.citations, done.content
    assert done.sources[done.citations[0] - 1].rel_path == "office.md"

    done, lora = _answer(notes, "off", "What is the office wifi password?")
    assert lora is None
