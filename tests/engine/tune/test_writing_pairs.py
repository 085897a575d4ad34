"""A folder of writing is read as the index reads it: one binary test, one decoder."""

from __future__ import annotations

import json

from ragterm.engine.index.walk import WalkOptions, walk
from ragterm.engine.tune.writing_pairs import build_from_writing


def test_a_utf16_file_is_text_for_the_index_and_for_training(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    para = "The lighthouse keeper counts the ships that pass before the fog comes in. " * 4
    (notes / "diary.txt").write_bytes("\n\n".join([para] * 3).encode("utf-16"))  # with its BOM

    indexed = [e for e in walk(notes, WalkOptions()) if e.reason is None]
    assert [e.rel for e in indexed] == ["diary.txt"]

    out = tmp_path / "pairs.jsonl"
    skipped = build_from_writing(notes, out)
    assert skipped == []
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert records and "lighthouse keeper" in records[0]["messages"][1]["content"]
