"""`ragterm ask` end to end with the bundled model."""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setenv("RAGTERM_CHAT__TEMPERATURE", "0")
    monkeypatch.setenv("RAGTERM_CHAT__MAX_TOKENS", "12")
    monkeypatch.setenv("RAGTERM_CHAT__CONTEXT_LENGTH", "1024")


def test_ask_streams_an_answer_and_continues_a_session(ragterm_cli):
    r = ragterm_cli("ask", "What", "is", "the", "capital", "of", "France?")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip()
    out = json.loads(ragterm_cli("ask", "--json", "--session", "1", "And of Italy?").stdout)
    assert out["session_id"] == 1 and out["status"] == "ok" and out["answer"]
    assert out["tokens"]["completion"] > 0 and out["timings"]["tokens_per_s"] > 0
    assert out["sources"] == []


def test_question_from_stdin(ragterm_cli):
    r = ragterm_cli("ask", "--json", "-", input="Name a fruit.\n")
    assert json.loads(r.stdout)["answer"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", " "], "the question is empty"),
        (["ask", "--model", "nope", "hi"], "unknown model 'nope'"),
        (["ask", "--persona", "pirate", "hi"], "unknown persona 'pirate'"),
        (["ask", "--session", "99", "hi"], "no conversation with id 99"),
    ],
)
def test_bad_input_is_one_line(ragterm_cli, args, message):
    r = ragterm_cli(*args)
    assert r.exit_code == 1
    assert message in r.stderr and "Traceback" not in r.output


def test_corrupt_model_file_is_one_line(ragterm_cli, tmp_path, bundled_gguf):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(bundled_gguf.read_bytes()[:100_000])
    r = ragterm_cli("ask", "--model", str(broken), "hi")
    assert r.exit_code == 1 and "corrupt or truncated" in r.stderr


@pytest.mark.slow  # indexes a folder, or a real `ragterm` process
def test_ask_cites_indexed_files_and_no_rag_skips_them(ragterm_cli, tmp_path):
    root = tmp_path / "kb"
    root.mkdir()
    (root / "wifi.md").write_text("# Office\n\nThe office wifi password is tangerine-42.\n")
    assert ragterm_cli("index", str(root)).exit_code == 0
    r = ragterm_cli("ask", "What is the office wifi password?")
    assert r.exit_code == 0, r.output
    assert "[1] wifi.md:1-3" in r.stdout.splitlines()  # sources after the answer
    out = json.loads(ragterm_cli("ask", "--json", "What is the office wifi password?").stdout)
    assert out["sources"][0]["citation"] == "wifi.md:1-3"
    assert "tangerine-42" in out["sources"][0]["text"]
    # the quoted answer cites its source itself: nothing for ragterm to attribute
    assert out["citations"] == [1] and out["attributed"] == []
    assert out["unsupported"] == [] and out["bare_citation"] == 0
    out = json.loads(ragterm_cli("ask", "--json", "--no-rag", "What is the wifi password?").stdout)
    assert out["sources"] == [] and out["evidence"] == [] and out["grounding"] == "no_rag"


@pytest.mark.slow  # indexes a folder, or a real `ragterm` process
def test_ask_quotes_the_evidence_line_verbatim_and_says_when_nothing_matches(
    ragterm_cli, tmp_path, monkeypatch
):
    root = tmp_path / "kb"
    root.mkdir()
    (root / "wifi.md").write_text("# Office\n\nThe office wifi password is tangerine-42.\n")
    assert ragterm_cli("index", str(root)).exit_code == 0
    r = ragterm_cli("ask", "What is the office wifi password?")
    assert "Evidence (quoted from your files):" in r.stdout
    assert "wifi.md:3" in r.stdout and "“The office wifi password is tangerine-42.”" in r.stdout
    out = json.loads(ragterm_cli("ask", "--json", "What is the office wifi password?").stdout)
    [ev] = [e for e in out["evidence"] if "tangerine" in e["text"]]
    assert (ev["line"], ev["text"], ev["status"]) == (
        3,
        "The office wifi password is tangerine-42.",
        "current",
    )
    assert ev["path"] == str(root / "wifi.md") and ev["score"] > 0
    assert out["grounding"] == "sources"
    sent = " ".join(" ".join(h["text"].split()) for h in out["sources"])
    for quote in re.findall(r'"([^"\n]{12,})"', out["answer"]):  # checked: in the files, or said
        assert " ".join(quote.split()).strip(" .") in sent or quote.strip() in out["unquoted"]

    (root / "wifi.md").write_text("# Office\n\nThe wifi was replaced; ask IT.\n")
    out = json.loads(ragterm_cli("ask", "--json", "What is the office wifi password?").stdout)
    assert all(e["status"] == "changed" for e in out["evidence"] if "tangerine" in e["text"])

    monkeypatch.setenv("RAGTERM_RAG__THRESHOLD", "0.95")  # nothing in the index clears it
    r = ragterm_cli("ask", "Who painted the Mona Lisa?")
    assert r.exit_code == 0 and "nothing in your indexed folders is about this" in r.stderr
    out = json.loads(ragterm_cli("ask", "--json", "Who painted the Mona Lisa?").stdout)
    assert out["grounding"] == "nothing_found" and out["sources"] == []
    assert any("general knowledge" in n for n in out["notes"])


def test_a_missing_rag_adapter_file_is_one_line(ragterm_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("RAGTERM_RAG__ADAPTER", str(tmp_path / "nope.gguf"))
    r = ragterm_cli("ask", "hi")
    assert r.exit_code == 1 and "rag.adapter" in r.stderr and "Traceback" not in r.output


def test_system_prompt_and_sampling_flags_are_used(ragterm_cli):
    from ragterm.store import chats
    from ragterm.store.db import connect

    args = ["ask", "--json", "--system", "Answer in French.", "--max-tokens", "3", "--seed", "5"]
    a = json.loads(ragterm_cli(*args, "--temperature", "0", "Hello").stdout)
    b = json.loads(ragterm_cli(*args, "--temperature", "0", "Hello").stdout)
    assert a["tokens"]["completion"] <= 3 and a["answer"] == b["answer"]
    s = chats.get_session(connect(), a["session_id"])
    assert s.system_prompt == "Answer in French." and s.title == "Hello"


@pytest.mark.slow  # indexes a folder, or a real `ragterm` process
def test_ctrl_c_stops_the_answer_and_saves_it_as_cancelled(ragterm_home):
    import os
    import signal
    import subprocess
    import sys

    from ragterm.store import chats
    from ragterm.store.db import connect

    # greedy, so the story's length does not vary from run to run (~400 tokens)
    env = {**os.environ, "RAGTERM_CHAT__MAX_TOKENS": "2000", "RAGTERM_CHAT__TEMPERATURE": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragterm", "ask", "--no-rag", "Write a very long story."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout.read(20)  # the answer is streaming
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"partial answer was saved" in err and b"Traceback" not in err
    conn = connect()
    [session] = chats.list_sessions(conn)
    user, answer = chats.messages(conn, session.id)
    assert (user.content, answer.status) == ("Write a very long story.", "cancelled")
    assert answer.content and answer.completion_tokens < 2000


@pytest.mark.slow  # indexes a folder, or a real `ragterm` process
def test_ask_with_attached_files_answers_from_them_and_says_what_did_not_fit(
    ragterm_cli, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "office.md").write_text("# Office\n\nThe office wifi password is tangerine-42.\n")
    long = "\n\n".join(
        f"## Part {n}\n\nShelf {n} holds bolts, nuts and washers." for n in range(90)
    )
    (tmp_path / "inventory.md").write_text("# Inventory\n\n" + long + "\n")
    r = ragterm_cli("ask", "-f", "office.md", "What is the office wifi password?")
    assert r.exit_code == 0, r.output
    assert "[1] office.md:1-3  (attached)" in r.stdout.splitlines()
    assert "“The office wifi password is tangerine-42.”" in r.stdout  # evidence, file:line
    assert "office.md:3" in r.stdout
    out = json.loads(
        ragterm_cli("ask", "--json", "-f", "office.md", "-f", "inventory.md", "Summarise").stdout
    )
    assert [(a["name"], a["whole"]) for a in out["attached"]] == [
        ("office.md", True),
        ("inventory.md", False),
    ]
    part = out["attached"][1]
    assert 0 < part["share"] < 1 and part["by"] == "start"
    assert part["note"] in out["notes"] and "inventory.md is too long" in part["note"]
    assert out["sources"][0]["citation"] == "office.md:1-3" and out["grounding"] == "sources"
    assert out["timings"]["attach_s"] >= 0
    # the files were read for this question only: nothing was indexed
    assert "nothing is indexed yet" in ragterm_cli("search", "wifi").stderr


def test_a_file_that_cannot_be_attached_is_one_line(ragterm_cli, tmp_path):
    r = ragterm_cli("ask", "-f", str(tmp_path / "nope.pdf"), "Summarise it")
    assert r.exit_code == 1 and "nope.pdf: no such file" in r.stderr
    assert "Traceback" not in r.output


def test_a_bad_model_with_an_index_is_one_line_while_retrieval_preloads(ragterm_cli, tmp_path):
    root = tmp_path / "kb"
    root.mkdir()
    (root / "wifi.md").write_text("# Office\n\nThe office wifi password is tangerine-42.\n")
    assert ragterm_cli("index", str(root)).exit_code == 0
    r = ragterm_cli("ask", "--model", "nope", "What is the office wifi password?")
    assert r.exit_code == 1 and "unknown model 'nope'" in r.stderr
    assert "Traceback" not in r.output
