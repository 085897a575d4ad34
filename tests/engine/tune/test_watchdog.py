"""A training child that hangs (no step, no stage for tune.watchdog_s) is stopped with a clear
message, and its checkpoint is kept for --resume."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ragterm.engine.events import Stage
from ragterm.engine.tune.runner import start_training
from ragterm.errors import TuningError
from tests.engine.tune.helpers import write_pirate_data
from tests.engine.tune.test_runner import quick


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_hung_child_is_killed_and_its_checkpoint_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGTERM_TUNE__WATCHDOG_S", "5")
    data = write_pirate_data(tmp_path / "pirate.jsonl")
    job = start_training(quick(data, name="hangs"))
    assert job.watchdog_s == 5
    run_dir = Path(job.plan.run_dir)
    t0 = None
    with pytest.raises(TuningError) as err:
        for ev in job.events():
            if isinstance(ev, Stage) and t0 is None:
                (run_dir / "checkpoint").mkdir(exist_ok=True)  # as after a periodic save
                os.kill(job.proc.pid, signal.SIGSTOP)  # alive, but silent for ever
                t0 = time.monotonic()
    assert t0 is not None and time.monotonic() - t0 < 30
    assert "made no progress for 5 s and was stopped" in err.value.message
    assert "--resume" in err.value.hint and "train.log" in err.value.hint
    assert job.proc.poll() is not None, "the hung child is gone"
    assert (run_dir / "checkpoint").is_dir()
