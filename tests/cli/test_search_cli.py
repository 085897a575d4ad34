"""`ragterm search`: ranked hits with citation, score and snippet; JSON for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def indexed(ragterm_cli, tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "backup.md").write_text(
        "# Backups\n\nRun restic every night and keep seven daily snapshots.\n"
    )
    (root / "plants.txt").write_text("Water the fern twice a week in summer.\n")
    assert ragterm_cli("index", str(root)).exit_code == 0
    return root


def test_search_prints_citations_scores_and_snippets(ragterm_cli, indexed):
    r = ragterm_cli("search", "how", "often", "are", "backups", "made")
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert first.startswith("1. docs/backup.md:1-3 (kb) score")
    assert "cos" in first and "restic every night" in r.stdout


def test_search_json_and_options(ragterm_cli, indexed):
    r = ragterm_cli("search", "watering plants", "--json", "-k", "1")
    [hit] = json.loads(r.stdout)
    assert hit["citation"] == "plants.txt:1-1" and hit["collection"] == "kb"
    assert {"score", "vector_score", "vector_rank", "keyword_rank", "path", "text"} <= hit.keys()
    r = ragterm_cli("search", "backups", "--json", "--path", "*.txt", "--mode", "keyword")
    assert json.loads(r.stdout) == []
    r = ragterm_cli("search", "backups", "--json", "--collection", "kb", "--threshold", "0.2")
    hits = json.loads(r.stdout)
    assert hits and all(h["vector_score"] >= 0.2 for h in hits)
    r = ragterm_cli("search", "zebra migration", "--threshold", "0.95")
    assert "No matches" in r.stdout


def test_search_errors(ragterm_cli, tmp_path):
    r = ragterm_cli("search", "anything")
    assert r.exit_code == 1 and "nothing is indexed yet" in r.stderr
    (tmp_path / "a.txt").write_text("hello")
    ragterm_cli("index", str(tmp_path / "a.txt"))
    r = ragterm_cli("search", "hello", "--collection", "nope")
    assert r.exit_code == 1 and "no collection named 'nope'" in r.stderr
