"""`ragterm persona ...` through the real entry point, with a persona of the bundled model."""

from __future__ import annotations

import json

import pytest

from tests.engine.tune.helpers import PHRASE, install, train_pirate, write_pirate_data


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    pytest.importorskip("peft")
    return train_pirate(tmp_path_factory.mktemp("pirate"))


@pytest.fixture
def pirate(trained):
    return install(trained)


def test_list_when_empty(ragterm_cli):
    r = ragterm_cli("persona", "list")
    assert r.exit_code == 0 and "no personas yet" in r.stdout


def test_bad_data_lists_lines_and_fails_before_training(ragterm_cli, tmp_path):
    data = tmp_path / "chats.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, '
        '{"role": "assistant", "content": "yo"}]}\n'
        "{oops\n"
        '{"instruction": "x"}\n'
    )
    r = ragterm_cli("persona", "tune", "p", "--data", str(data))
    assert r.exit_code == 1
    assert "line 2: not valid JSON" in r.stderr
    assert "line 3: unknown format (keys: instruction)" in r.stderr
    assert "error: " in r.stderr and "2 bad lines" in r.stderr
    assert "--skip-bad" in r.stderr
    assert "Traceback" not in r.output


def test_missing_training_packages_are_explained(ragterm_cli, tmp_path, monkeypatch):
    from ragterm.engine.tune import deps

    monkeypatch.setattr(deps, "MODULES", ("torch", "transformers", "peft_missing_for_test"))
    data = write_pirate_data(tmp_path / "p.jsonl")
    r = ragterm_cli("persona", "tune", "p", "--data", str(data))
    assert r.exit_code == 1
    assert "needs peft_missing_for_test" in r.stderr
    assert "pipx inject ragterm torch transformers peft" in r.stderr
    assert "pipx install 'ragterm[tune]'" in r.stderr


def test_dry_run_prints_the_estimate(ragterm_cli, tmp_path):
    pytest.importorskip("peft")
    data = write_pirate_data(tmp_path / "p.jsonl")
    r = ragterm_cli("persona", "tune", "p", "--data", str(data), "--epochs", "2", "--dry-run")
    assert r.exit_code == 0, r.output
    out = " ".join(r.stdout.split())
    assert "12 examples (messages 4, sharegpt 4, alpaca 4)" in out
    assert "11 for training, 1 held out" in out
    assert "estimate: about" in out and "of memory" in out and "tokens of data" in out
    assert "6 steps of 4" in out  # 2 epochs x 11 examples / batch 4


def test_invalid_options_are_named(ragterm_cli, tmp_path):
    data = write_pirate_data(tmp_path / "p.jsonl")
    r = ragterm_cli("persona", "tune", "p", "--data", str(data), "--quantize", "Q9_Z")
    assert r.exit_code == 1 and "invalid --quantize 'Q9_Z'" in r.stderr and "Q4_K_M" in r.stderr
    r = ragterm_cli("persona", "tune", "p")
    assert r.exit_code == 1 and "no training data given" in r.stderr


@pytest.mark.slow
def test_list_show_use_export_rm(ragterm_cli, pirate, tmp_path):
    r = ragterm_cli("persona", "list")
    assert r.exit_code == 0 and "pirate" in r.stdout and "smollm2-135m" in r.stdout
    assert "(base " in r.stdout  # perplexity with and without the adapter

    r = ragterm_cli("persona", "show", "pirate")
    assert r.exit_code == 0
    assert "with the persona" in r.stdout and "without" in r.stdout
    assert "11 training, 1 held-out examples" in " ".join(r.stdout.split())

    r = ragterm_cli("persona", "use", "pirate")
    assert r.exit_code == 0 and "chat will use persona pirate" in r.stdout
    listed = json.loads(ragterm_cli("persona", "list", "--json").stdout)
    assert [p["name"] for p in listed["personas"] if p["default"]] == ["pirate"]
    assert ragterm_cli("config", "get", "chat.persona").stdout.strip() == "pirate"

    r = ragterm_cli("persona", "export", "pirate", str(tmp_path))
    assert r.exit_code == 0
    exported = tmp_path / "pirate-adapter.gguf"
    from ragterm.engine.models.registry import read_gguf

    assert read_gguf(exported).gguf_type == "adapter"
    r = ragterm_cli("persona", "export", "pirate", str(tmp_path), "--merged")
    assert r.exit_code == 1 and "has no merged model" in r.stderr and "--merge" in r.stderr

    r = ragterm_cli("persona", "rm", "pirate", "--yes")
    assert r.exit_code == 0
    assert not pirate.exists()
    assert "no personas yet" in ragterm_cli("persona", "list").stdout
    assert ragterm_cli("config", "get", "chat.persona").stdout.strip() == ""
    r = ragterm_cli("persona", "use", "pirate")
    assert r.exit_code == 1 and "unknown persona 'pirate'" in r.stderr


@pytest.mark.slow
def test_persona_for_another_base_model_is_refused(ragterm_cli, pirate, tmp_path):
    from tests.engine.tune.test_export import tiny_gguf

    other = tiny_gguf(tmp_path / "other.gguf", "llama")
    assert ragterm_cli("models", "add", str(other), "--name", "other").exit_code == 0
    assert ragterm_cli("config", "set", "chat.model", "other").exit_code == 0
    r = ragterm_cli("persona", "use", "pirate")
    assert r.exit_code == 1
    assert "trained for base model 'smollm2-135m', not the current chat model 'other'" in r.stderr
    assert "ragterm models default smollm2-135m" in r.stderr


@pytest.mark.slow
def test_persona_speaks_in_ask_and_compare(ragterm_cli, pirate):
    r = ragterm_cli("persona", "compare", "pirate", "Where do penguins live?", "--max-tokens", "24")
    assert r.exit_code == 0, r.output
    base, persona = r.stdout.split("persona:")
    assert PHRASE not in base and PHRASE in persona

    question = "Where do penguins live?"
    r = ragterm_cli("ask", "--persona", "pirate", "--no-rag", "--temperature", "0", question)
    assert r.exit_code == 0, r.output
    assert PHRASE in r.stdout
