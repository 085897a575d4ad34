"""GGUF metadata from the real bundled file, the registry, and discovery of other apps' models."""

from __future__ import annotations

import json
import shutil

import pytest

from ragterm.engine.models import registry
from ragterm.errors import ModelError
from ragterm.store.db import connect


def test_bundled_metadata_comes_from_the_header(bundled_gguf):
    info = registry.read_gguf(bundled_gguf)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.parameters == "135M"
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert info.size == bundled_gguf.stat().st_size


def test_metadata_does_not_come_from_the_file_name(bundled_gguf, tmp_path):
    renamed = tmp_path / "mistral-7b.Q8_0.gguf"
    renamed.symlink_to(bundled_gguf)
    info = registry.read_gguf(renamed)
    assert (info.architecture, info.quantization) == ("llama", "Q4_1")


def test_truncated_gguf_is_refused(bundled_gguf, tmp_path):
    broken = tmp_path / "broken.gguf"
    with bundled_gguf.open("rb") as fh:
        broken.write_bytes(fh.read(4096))
    with pytest.raises(ModelError, match="corrupt or truncated"):
        registry.read_gguf(broken)


def test_not_a_gguf_and_missing_file(tmp_path):
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF"):
        registry.read_gguf(text)
    with pytest.raises(ModelError, match="no such file"):
        registry.read_gguf(tmp_path / "missing.gguf")


def test_registry_add_get_remove(bundled_gguf, tmp_path):
    conn = connect()
    reg = registry.Registry(conn)
    copy = tmp_path / "My Model.Q4_1.gguf"
    copy.symlink_to(bundled_gguf)
    entry, info = reg.add(copy)
    assert entry.name == "my-model.q4_1"
    assert reg.get("my-model.q4_1").path == copy
    with pytest.raises(ModelError, match="unknown model 'my-model'"):
        reg.get("my-model")
    with pytest.raises(ModelError, match="cannot be removed"):
        reg.remove(registry.BUNDLED_NAME)
    reg.remove("my-model.q4_1")
    assert [e.name for e in reg.entries()] == [registry.BUNDLED_NAME]


def test_lmstudio_and_ollama_models_are_discovered(bundled_gguf, tmp_path, monkeypatch):
    home = tmp_path / "user"
    lm = home / ".lmstudio" / "models" / "bartowski" / "SmolLM2-GGUF"
    lm.mkdir(parents=True)
    shutil.copyfile(bundled_gguf, lm / "SmolLM2.Q4_1.gguf")
    ollama = tmp_path / "ollama"
    digest = "sha256:" + "ab" * 32
    (ollama / "blobs").mkdir(parents=True)
    shutil.copyfile(bundled_gguf, ollama / "blobs" / digest.replace(":", "-"))
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "smollm2" / "135m"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.model", "digest": digest},
                    {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:00"},
                ]
            }
        )
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    reg = registry.Registry(connect())
    names = {e.name: e for e in reg.entries()}
    assert "lmstudio:bartowski/smollm2-gguf/smollm2.q4_1" in names
    assert "ollama:smollm2:135m" in names
    assert registry.read_gguf(names["ollama:smollm2:135m"].path).architecture == "llama"


def test_fingerprint_tells_files_apart(bundled_gguf, tmp_path):
    other = tmp_path / "other.gguf"
    data = bytearray(bundled_gguf.read_bytes())
    data[-1] ^= 0xFF
    other.write_bytes(bytes(data))
    assert registry.fingerprint(bundled_gguf) == registry.fingerprint(bundled_gguf)
    assert registry.fingerprint(bundled_gguf) != registry.fingerprint(other)
