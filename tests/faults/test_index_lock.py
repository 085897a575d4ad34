"""Two indexers on one database: the second says clearly that one is running; search and ask keep
working meanwhile (WAL readers); a killed indexer leaves no stale lock."""

from __future__ import annotations

import pytest

from tests.faults.conftest import (
    assert_consistent,
    env_for,
    indexing,
    kill,
    lock_file,
    ragterm,
    start,
    wait_until,
    write_corpus,
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_second_indexer_is_refused_and_readers_keep_working(home, tmp_path):
    small = write_corpus(tmp_path / "small", n=3)
    assert ragterm(home, "index", str(small)).returncode == 0
    big = write_corpus(tmp_path / "big", n=80, seed=5)
    env = env_for(home, RAGTERM_EMBED__BATCH_SIZE="2")  # a slow run: time to try things
    first = start(home, "index", str(big), env=env)
    assert wait_until(lambda: indexing(home), timeout=120), first.communicate()
    pid = lock_file(home).read_text().strip()
    assert pid == str(first.pid)

    second = ragterm(home, "index", str(small))
    assert second.returncode == 1, second.stderr
    assert "another `ragterm index` is running" in second.stderr
    assert f"(process {first.pid})" in second.stderr and "Traceback" not in second.stderr

    # a chat answer (written to the database) and a search while the index is being written
    asker = start(
        home, "ask", "--max-tokens", "4", "--temperature", "0", "How do I make coffee?", env=env
    )
    found = ragterm(home, "search", "coffee")
    assert found.returncode == 0 and "small" in found.stdout, found.stderr
    assert first.poll() is None, "the search ran while the index was being written"
    out, err = asker.communicate(timeout=180)
    assert asker.returncode == 0, err

    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert lock_file(home).read_text() == ""
    assert_consistent(home / "data" / "ragterm.db")


@pytest.mark.timeout(180)
def test_a_killed_indexer_leaves_no_stale_lock(home, tmp_path):
    folder = write_corpus(tmp_path / "notes", n=10)
    proc = start(home, "index", str(folder), env=env_for(home, RAGTERM_EMBED__BATCH_SIZE="2"))
    assert wait_until(lambda: indexing(home) or proc.poll() is not None, timeout=120)
    kill(proc)
    r = ragterm(home, "index", str(folder))
    assert r.returncode == 0, r.stderr
    assert_consistent(home / "data" / "ragterm.db")
