"""SIGKILL `ragterm index` at seeded random moments: every re-run ends where a clean index does."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests.faults.conftest import (
    db_counts,
    env_for,
    indexing,
    kill,
    ragterm,
    search_results,
    search_works,
    start,
    wait_until,
    write_corpus,
)
from tests.helpers import assert_consistent

SEED = 20261202
KILLS = 10
QUERIES = ["how long to steep coffee", "tyre pressure", "rotate logs", "sourdough starter"]


def searchable(r) -> bool:
    """Search works (a kill before the first file was stored leaves nothing to find yet)."""
    if "Traceback" in r.stderr:
        return False
    return r.returncode == 0 or r.stderr.startswith("error: nothing is indexed yet")


def mutate(folder: Path, rng: random.Random, step: int) -> None:
    """Give the next run work to do: edit, add, delete or rename a file."""
    files = sorted(folder.iterdir())
    what = rng.choice(["edit", "add", "delete", "rename"])
    victim = rng.choice(files)
    if what == "edit":
        victim.write_text(victim.read_text() + f"\nEdited in step {step}: keep the beans dry.\n")
    elif what == "add":
        write_corpus(folder / f"added-{step}", n=2, seed=step)
    elif what == "delete":
        shutil.rmtree(victim) if victim.is_dir() else victim.unlink()
    else:
        victim.rename(victim.with_name(f"renamed-{step}-{victim.name}"))


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_sigkill_at_random_moments_then_rerun_matches_a_clean_index(tmp_path):
    rng = random.Random(SEED)
    folder = write_corpus(tmp_path / "notes", n=20, seed=1)
    home = tmp_path / "home"
    # small embedding batches: the run has many moments where a kill can land
    env = env_for(home, RAGTERM_EMBED__BATCH_SIZE="4")

    # how long indexing itself takes (lock held), to spread the kills over it
    proc = start(home, "index", str(folder), env=env)
    assert wait_until(lambda: indexing(home) or proc.poll() is not None)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=300)
    span = time.monotonic() - t0
    assert proc.returncode == 0, err
    shutil.rmtree(home / "data")

    survived = 0
    for step in range(KILLS):
        if step:
            mutate(folder, rng, step)
        proc = start(home, "index", str(folder), env=env)
        assert wait_until(lambda p=proc: indexing(home) or p.poll() is not None)
        time.sleep(rng.uniform(0, span))
        kill(proc)
        db = home / "data" / "ragterm.db"
        assert_consistent(db, after_a_kill=True)  # after every kill, before any repair
        assert search_works(db)
        survived += 1
    r = ragterm(home, "index", str(folder), env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = ragterm(home, "search", "coffee", env=env)
    assert searchable(r) and r.returncode == 0, r.stderr

    clean = tmp_path / "clean"
    r = ragterm(clean, "index", str(folder), env=env_for(clean, RAGTERM_EMBED__BATCH_SIZE="4"))
    assert r.returncode == 0, r.stderr
    got, want = home / "data" / "ragterm.db", clean / "data" / "ragterm.db"
    assert_consistent(got, after_a_kill=True)
    assert db_counts(got) == db_counts(want)
    assert search_results(got, QUERIES) == search_results(want, QUERIES)
    assert survived == KILLS
