"""The `ragterm` command as a user meets it: help, version, config, models, doctor, errors."""

from __future__ import annotations

import json

import pytest

from tests.engine.hubserver import HubServer

COMMANDS = ["ask", "chat", "index", "search", "models", "persona", "config", "doctor", "mcp"]


def test_version_and_help_everywhere(ragterm_cli):
    r = ragterm_cli("--version")
    assert r.exit_code == 0 and "0.1.0" in r.stdout
    top = ragterm_cli("--help")
    assert all(c in top.stdout for c in COMMANDS)
    for c in COMMANDS:
        r = ragterm_cli(c, "--help")
        assert r.exit_code == 0, (c, r.output)
        assert "Usage:" in r.stdout


def test_shell_completion_script(ragterm_cli, monkeypatch):
    from click.testing import CliRunner

    from ragterm.cli import cli

    res = CliRunner().invoke(cli, [], prog_name="ragterm", env={"_RAGTERM_COMPLETE": "bash_source"})
    assert "_ragterm_completion" in res.output


def test_config_set_show_and_validation(ragterm_cli, ragterm_home):
    r = ragterm_cli("config", "set", "chat.temperature", "0.2")
    assert r.exit_code == 0
    assert ragterm_cli("config", "get", "chat.temperature").stdout.strip() == "0.2"
    shown = json.loads(ragterm_cli("config", "show", "--json").stdout)
    assert shown["chat.temperature"] == 0.2
    assert "chat.temperature = 0.2" in (
        ragterm_home / "config" / "config.toml"
    ).read_text().replace("[chat]\ntemperature", "chat.temperature")
    bad = ragterm_cli("config", "set", "chat.temperature", "hot")
    assert bad.exit_code == 1
    assert "invalid value 'hot' for chat.temperature" in bad.stderr
    assert "Traceback" not in bad.output
    typo = ragterm_cli("config", "set", "chat.temprature", "1")
    assert typo.exit_code == 1 and "did you mean chat.temperature" in typo.stderr
    path = ragterm_cli("config", "path").stdout
    assert str(ragterm_home) in path


def test_invalid_config_file_is_one_line(ragterm_cli, ragterm_home):
    cfg = ragterm_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[chat\ntemperature = 1\n")
    r = ragterm_cli("config", "show")
    assert r.exit_code == 1
    assert "not valid TOML" in r.stderr and "Traceback" not in r.output
    cfg.write_text("[chat]\ntemperature = 'warm'\n")
    r = ragterm_cli("models", "list")
    assert r.exit_code == 1 and "chat.temperature" in r.stderr


def test_environment_overrides_the_file(ragterm_cli, monkeypatch):
    ragterm_cli("config", "set", "rag.top_k", "3")
    monkeypatch.setenv("RAGTERM_RAG__TOP_K", "9")
    assert ragterm_cli("config", "get", "rag.top_k").stdout.strip() == "9"


def test_models_list_reads_the_bundled_header(ragterm_cli):
    r = ragterm_cli("models", "list", "--json")
    rows = json.loads(r.stdout)
    bundled = next(x for x in rows if x["source"] == "bundled")
    assert bundled["default"] is True
    assert (bundled["architecture"], bundled["quantization"], bundled["context_length"]) == (
        "llama",
        "Q4_1",
        8192,
    )


def test_models_add_default_rm(ragterm_cli, tmp_path, bundled_gguf):
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    r = ragterm_cli("models", "add", str(bad))
    assert r.exit_code == 1 and "not a GGUF" in r.stderr and "Traceback" not in r.output
    good = tmp_path / "tiny.gguf"
    good.symlink_to(bundled_gguf)
    assert ragterm_cli("models", "add", str(good), "--name", "tiny").exit_code == 0
    assert ragterm_cli("models", "default", "tiny").exit_code == 0
    assert ragterm_cli("config", "get", "chat.model").stdout.strip() == "tiny"
    r = ragterm_cli("models", "default", "tinny")
    assert r.exit_code == 1 and "did you mean tiny" in r.stderr
    assert ragterm_cli("models", "rm", "tiny").exit_code == 0
    assert ragterm_cli("config", "get", "chat.model").stdout.strip() == "smollm2-135m"


def test_models_pull_from_local_hub(ragterm_cli, tmp_path, bundled_gguf, monkeypatch, ragterm_home):
    root = tmp_path / "hub"
    (root / "org" / "repo-GGUF").mkdir(parents=True)
    (root / "org" / "repo-GGUF" / "m.Q4_1.gguf").symlink_to(bundled_gguf)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with HubServer(root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        r = ragterm_cli("models", "pull", "org/repo-GGUF", "m.Q4_1.gguf", "--name", "pulled")
        assert r.exit_code == 0, r.output
        missing = ragterm_cli("models", "pull", "org/repo-GGUF", "nope.gguf")
    assert missing.exit_code == 1 and "HTTP 404" in missing.stderr
    rows = {x["name"]: x for x in json.loads(ragterm_cli("models", "list", "--json").stdout)}
    assert rows["pulled"]["source"] == "pulled"
    assert rows["pulled"]["path"].startswith(str(ragterm_home))


def test_unknown_model_in_config_is_reported_by_doctor(ragterm_cli, monkeypatch):
    monkeypatch.setenv("RAGTERM_CHAT__MODEL", "no-such-model")
    r = ragterm_cli("doctor")
    assert r.exit_code == 1
    assert "FAIL" in r.stdout and "unknown model 'no-such-model'" in r.stdout


@pytest.mark.slow
def test_doctor_all_ok(ragterm_cli):
    r = ragterm_cli("doctor")
    assert r.exit_code == 0, r.output
    for name in (
        "python",
        "llama.cpp",
        "sqlite-vec",
        "database",
        "chat model",
        "embedding model",
        "tuning",
    ):
        assert name in r.stdout
    assert "FAIL" not in r.stdout


def test_error_text_with_brackets_is_shown_verbatim(ragterm_cli, tmp_path):
    odd = tmp_path / "[draft] notes.gguf"
    odd.write_text("x")
    r = ragterm_cli("models", "add", str(odd))
    assert "[draft] notes.gguf" in r.stderr
