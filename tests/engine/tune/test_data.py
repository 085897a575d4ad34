"""Training data: three chat formats detected, bad lines reported by number, writing folders turned
into pairs, a held-out split, and files read by offset rather than loaded whole."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from ragterm.engine.tune.training_data import (
    CONTINUE_PROMPT,
    DatasetError,
    build_from_writing,
    detect_format,
    normalise,
    open_dataset,
)


def jsonl(path, records):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


OPENAI = {
    "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
    ]
}
SHAREGPT = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
ALPACA = {"instruction": "Translate", "input": "chat", "output": "cat"}


def test_three_formats_are_detected_and_normalised():
    assert [detect_format(r) for r in (OPENAI, SHAREGPT, ALPACA, {"text": "x"})] == [
        "messages",
        "sharegpt",
        "alpaca",
        None,
    ]
    assert normalise(OPENAI)[1][2] == {"role": "assistant", "content": "hello"}
    assert normalise(SHAREGPT)[1] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]
    assert normalise(ALPACA)[1][0] == {"role": "user", "content": "Translate\n\nchat"}


def test_mixed_file_is_summarised_and_split(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [OPENAI, SHAREGPT, ALPACA] * 10)
    ds = open_dataset(path)
    s = ds.summary()
    assert s["examples"] == 30 and s["formats"] == {"messages": 10, "sharegpt": 10, "alpaca": 10}
    assert s["validation"] == 3 and s["train"] == 27
    assert set(ds.train_ids).isdisjoint(ds.val_ids)
    assert ds.common_system_prompt() == "Be terse."
    assert open_dataset(path).val == ds.val  # the split is reproducible
    assert ds.example(2).source.endswith("d.jsonl:3")


def test_bad_lines_are_reported_with_line_numbers(tmp_path):
    path = jsonl(
        tmp_path / "d.jsonl",
        [
            OPENAI,
            "{not json",
            {"prompt": "x"},
            "",
            {"messages": [{"role": "bot", "content": "x"}]},
            {"messages": [{"role": "user", "content": "only a question"}]},
            {"conversations": [{"from": "alien", "value": "x"}]},
            ALPACA,
            "[1, 2]",
        ],
    )
    with pytest.raises(DatasetError) as err:
        open_dataset(path)
    lines = [(b.line, b.reason) for b in err.value.bad]
    assert [n for n, _ in lines] == [2, 3, 5, 6, 7, 9]  # the blank line 4 is not an error
    reasons = dict(lines)
    assert "not valid JSON" in reasons[2]
    assert "unknown format (keys: prompt)" in reasons[3]
    assert "role 'bot'" in reasons[5]
    assert "no assistant reply" in reasons[6]
    assert "'alien'" in reasons[7]
    assert "expected a JSON object" in reasons[9]
    assert "6 bad lines" in err.value.message and "line 2" in err.value.message
    assert "--skip-bad" in err.value.hint

    ds = open_dataset(path, skip_bad=True)  # trains without them, still listing them
    assert len(ds) == 2 and ds.summary()["bad_lines"] == 6
    assert ds.summary()["bad"][0].startswith("line 2: not valid JSON")


@pytest.mark.parametrize(
    "content, message",
    [("", "no examples"), ("\n\n", "no examples"), ("{}\n", "no usable examples")],
)
def test_empty_datasets_are_refused(tmp_path, content, message):
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        open_dataset(path, skip_bad=True)


def test_one_example_is_not_enough_and_missing_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="at least 2"):
        open_dataset(jsonl(tmp_path / "one.jsonl", [OPENAI]))
    with pytest.raises(DatasetError, match="no such file or folder: .*nope.jsonl"):
        open_dataset(tmp_path / "nope.jsonl")


def test_not_utf8_line_is_reported(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        json.dumps(SHAREGPT).encode() + b"\n\xff\xfe bad\n" + json.dumps(ALPACA).encode()
    )
    with pytest.raises(DatasetError) as err:
        open_dataset(path)
    assert str(err.value.bad[0]) == "line 2: not UTF-8 text (byte 0)"


def test_binary_file_is_named_as_binary(tmp_path):
    path = tmp_path / "model.jsonl"
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 4)
    with pytest.raises(DatasetError, match=r"model.jsonl is a binary file, not JSONL text"):
        open_dataset(path)


def test_json_list_is_accepted(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([SHAREGPT, ALPACA, {"oops": 1}]))
    with pytest.raises(DatasetError, match="item number"):
        open_dataset(path, work_dir=tmp_path / "work")
    ds = open_dataset(path, work_dir=tmp_path / "work", skip_bad=True)
    assert len(ds) == 2 and ds.summary()["path"] == str(path)


def test_large_file_is_streamed_not_loaded(tmp_path):
    """A dataset far larger than what the scan keeps in memory: only offsets are held."""
    path = tmp_path / "big.jsonl"
    reply = "Arr, " * 120
    line = json.dumps({"conversations": [{"from": "human", "value": "q"},
                                         {"from": "gpt", "value": reply}]})  # fmt: skip
    with path.open("w") as fh:
        for _ in range(40_000):
            fh.write(line + "\n")
    size = path.stat().st_size
    assert size > 20_000_000
    tracemalloc.start()
    ds = open_dataset(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(ds) == 40_000
    assert peak < size / 10, f"scan held {peak} bytes for a {size}-byte file"
    assert ds.example(39_999).messages[1]["content"] == reply


def test_folder_of_writing_becomes_pairs(tmp_path):
    notes = tmp_path / "notes"
    (notes / "essays").mkdir(parents=True)
    (notes / ".git").mkdir()
    para = "I walk to the harbour every morning, and the gulls argue about breakfast. " * 4
    (notes / "essays" / "harbour_walks.md").write_text(
        "# Harbour walks\n\n" + "\n\n".join([para] * 12)
    )
    (notes / "short.txt").write_text("tiny")
    (notes / "image.md").write_bytes(b"\x89PNG\x00\x00binary")
    (notes / ".git" / "config.txt").write_text(para)
    (notes / "latin1.txt").write_bytes(("Café au lait, naïve façade. " * 10).encode("latin-1"))

    out = tmp_path / "pairs.jsonl"
    skipped = build_from_writing(notes, out)
    assert "short.txt: skipped, too short (under 40 characters of prose)" in skipped
    assert "image.md: skipped, not text" in skipped
    records = [json.loads(x) for x in out.read_text().splitlines()]
    sources = [r["source"] for r in records]
    assert not any(".git" in s for s in sources)
    harbour = [r for r in records if r["source"].startswith("essays/harbour_walks.md")]
    assert len(harbour) >= 3
    first, second = harbour[0]["messages"], harbour[1]["messages"]
    assert first[0]["content"] == 'Write a piece titled "Harbour walks" in my voice.'
    assert second[0]["content"].startswith(CONTINUE_PROMPT.split("{")[0])
    assert second[0]["content"].rstrip().endswith(harbour[0]["messages"][1]["content"][-40:])
    assert any("Café" in r["messages"][1]["content"] for r in records)

    ds = open_dataset(notes, work_dir=tmp_path / "work")
    assert ds.summary()["formats"] == {"writing": len(records)}
    assert ds.example(0).source == records[0]["source"]
    assert any("too short" in n for n in ds.summary()["notes"])


def test_folder_without_writing_is_refused(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"\x89PNG")
    with pytest.raises(DatasetError, match="no writing found"):
        open_dataset(tmp_path / "pics", work_dir=tmp_path / "work")
