"""Two indexers on one database: the second says clearly that one is running; search and ask keep
working meanwhile (WAL readers); a killed indexer leaves no stale lock."""

from __future__ import annotations

import pytest

from tests.faults.conftest import (
    env_for,
    indexing,
    kill,
    lock_file,
    ragterm,
    start,
    wait_until,
    write_corpus,
)
from tests.helpers import assert_consistent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_second_indexer_is_refused_readers_keep_working_and_a_kill_frees_the_lock(home, tmp_path):
    small = write_corpus(tmp_path / "small", n=3)
    assert ragterm(home, "index", str(small)).returncode == 0
    big = write_corpus(tmp_path / "big", n=200, seed=5)
    env = env_for(home, RAGTERM_EMBED__BATCH_SIZE="1")  # a long run: it is killed, not awaited
    first = start(home, "index", str(big), env=env)
    assert wait_until(lambda: indexing(home), timeout=240), first.communicate()
    assert lock_file(home).read_text().strip() == str(first.pid)

    second = ragterm(home, "index", str(small))
    assert second.returncode == 1, second.stderr
    assert "another `ragterm index` is running" in second.stderr
    assert f"(process {first.pid})" in second.stderr and "Traceback" not in second.stderr

    # a chat answer (written to the database) and a search while the index is being written
    asker = start(home, "ask", "--no-rag", "--max-tokens", "4", "Say hi.", env=env)
    found = ragterm(home, "search", "coffee")
    assert found.returncode == 0 and "coffee" in found.stdout, found.stderr
    out, err = asker.communicate(timeout=400)
    assert asker.returncode == 0, err
    assert first.poll() is None, "the index was being written all along"

    kill(first)  # the kernel drops its lock: the next run needs no clean-up
    again = ragterm(home, "index", str(small))
    assert again.returncode == 0, again.stderr
    assert_consistent(home / "data" / "ragterm.db", after_a_kill=True)
