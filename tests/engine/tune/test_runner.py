"""The training child: checks before start, estimate, crash containment, cancel and resume."""

from __future__ import annotations

import json
import os

import pytest

from ragterm.engine.events import Stage, TrainStep, TuneFinished
from ragterm.engine.tune import deps, runner
from ragterm.engine.tune.runner import estimate, prepare, start_training
from ragterm.engine.tune.spec import TrainSpec
from ragterm.errors import NotAvailable, TuningError
from tests.engine.tune.helpers import write_pirate_data


@pytest.fixture
def data(tmp_path):
    return write_pirate_data(tmp_path / "pirate.jsonl")


def quick(data, **kw) -> TrainSpec:
    """A spec whose steps take well under a second each on two cores."""
    args = {"name": "quick", "data": str(data), "steps": 3, "batch_size": 2, "max_seq_len": 96,
            "threads": 2, "lr": 2e-3}  # fmt: skip
    return TrainSpec(**(args | kw))


def test_missing_training_packages_say_how_to_install(monkeypatch, data):
    real = deps.importlib.util.find_spec
    monkeypatch.setattr(
        deps.importlib.util, "find_spec", lambda n, *a: None if n == "peft" else real(n, *a)
    )
    with pytest.raises(NotAvailable) as err:
        prepare(quick(data))
    assert err.value.message == "persona training needs peft, which is not installed"
    assert "pipx inject ragterm torch transformers peft" in err.value.hint
    assert "pipx install 'ragterm[tune]'" in err.value.hint


def test_estimate_before_start(data):
    est = estimate(quick(data, steps=None, epochs=2))
    assert est["examples"] == 12 and est["train_examples"] == 11
    assert est["steps"] == 11  # 2 epochs of 11 examples in batches of 2
    assert 200 < est["tokens"] < 2000  # ~60 short chat turns' worth
    assert 1 < est["seconds"] < 600
    assert 500 * 2**20 < est["memory_bytes"] < 8 * 2**30
    assert not (runner.persona_dir("quick")).exists()  # a dry run leaves nothing behind


def test_no_gpu_means_no_unsloth(data):
    if runner.guess_device("auto") == "cuda":
        pytest.skip("this machine has a GPU")
    with pytest.raises(TuningError, match="unsloth needs a CUDA GPU") as err:
        prepare(quick(data, backend="unsloth"))
    assert "--backend peft" in err.value.hint


def test_too_little_disk_is_refused_before_training(monkeypatch, data):
    import shutil

    usage = shutil.disk_usage("/")
    monkeypatch.setattr(runner.shutil, "disk_usage", lambda p: usage._replace(free=5 * 2**20))
    with pytest.raises(TuningError, match=r"not enough disk space .*5 MB free"):
        prepare(quick(data))


def test_too_little_memory_is_refused_before_training(monkeypatch, data):
    monkeypatch.setattr("ragterm.engine.tune.prepare.free_memory", lambda: 300 * 2**20)
    with pytest.raises(TuningError, match=r"would need about .* GB of memory, 0.3 GB") as err:
        prepare(quick(data, device="cpu"))
    assert "--batch-size 1" in err.value.hint


def test_gradient_checkpointing_is_on_by_default_on_a_cpu(data):
    """It costs no measurable speed on a CPU (docs/benchmarks.md) and most of the activations."""
    without = prepare(quick(data, device="cpu", checkpointing=False), dry_run=True)
    plan = prepare(quick(data, device="cpu"), dry_run=True)
    assert plan.spec.checkpointing is True
    assert plan.estimate["memory_bytes"] < without.estimate["memory_bytes"]
    assert plan.estimate["memory_free"] > 0 and plan.estimate["disk_free"] > 0


def test_unsupported_architecture_is_refused_before_training(tmp_path, data):
    from tests.engine.tune.test_export import tiny_gguf

    gguf = tiny_gguf(tmp_path / "tiny-gpt2.gguf", "gpt2")
    with pytest.raises(TuningError, match="cannot export a LoRA adapter for architecture 'gpt2'"):
        prepare(quick(data, base=str(gguf)))


def test_hugging_face_folder_must_match_the_chat_model(tmp_path, data):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"num_hidden_layers": 2, "num_attention_heads": 4})
    )
    with pytest.raises(TuningError, match="2 layers, 4 heads.*30 layers, 9 heads"):
        prepare(quick(data, base=str(folder)))
    (folder / "config.json").unlink()
    with pytest.raises(TuningError, match="not a Hugging Face model"):
        prepare(quick(data, base=str(folder)))


def test_resume_without_a_checkpoint_is_refused():
    with pytest.raises(TuningError, match="no unfinished training of persona 'ghost'"):
        prepare(TrainSpec(name="ghost", data="", resume=True))


@pytest.mark.slow
def test_a_crashing_child_never_takes_the_parent_down(data):
    job = start_training(quick(data, name="crashy"))
    with pytest.raises(TuningError, match=r"'crashy' is already training \(process \d+\)"):
        prepare(quick(data, name="crashy", restart=True))
    with pytest.raises(TuningError) as err:
        for ev in job.events():
            if isinstance(ev, Stage):
                job.kill()  # what the kernel's OOM killer would do
    assert "stopped unexpectedly (killed by signal 9)" in err.value.message
    assert "train.log" in err.value.hint
    assert os.getpid()  # still here
    from ragterm.store import db, personas

    assert personas.get(db.connect(), "crashy") is None


@pytest.mark.slow
def test_cancel_keeps_the_checkpoint_and_resume_continues(data):
    from ragterm.store import db, personas

    job = start_training(quick(data, name="pausing", steps=4))
    seen = []
    for ev in job.events():
        seen.append(ev)
        if isinstance(ev, TrainStep) and ev.step == 1:
            job.cancel()
    done = seen[-1]
    assert isinstance(done, TuneFinished) and done.status == "cancelled"
    assert "stopped at step" in done.message and "--resume" in done.message
    stopped_at = max(e.step for e in seen if isinstance(e, TrainStep))
    assert stopped_at < 4
    assert (runner.run_dir("pausing") / "checkpoint" / "trainer_state.pt").is_file()
    assert personas.get(db.connect(), "pausing") is None  # not ready, so not listed

    from ragterm.engine.tune.persona_service import unfinished

    assert unfinished() == ["pausing"]
    with pytest.raises(TuningError, match="'pausing' has an unfinished training run") as err:
        prepare(quick(data, name="pausing"))  # never silently thrown away
    assert "--resume" in err.value.hint and "--restart" in err.value.hint
    again = TrainSpec(name="pausing", data="", resume=True, quantize="Q8_0")  # implies --merge
    events = list(start_training(again).events())
    resumed = [e for e in events if isinstance(e, Stage) and e.name == "resumed"]
    assert resumed and resumed[0].detail == f"from step {stopped_at} of 4"
    steps = [e.step for e in events if isinstance(e, TrainStep)]
    assert steps == list(range(stopped_at + 1, 5))
    assert events[-1].status == "ready"
    p = personas.get(db.connect(), "pausing")
    assert p is not None and p.metrics["steps"] == 4
    assert not runner.run_dir("pausing").exists() and unfinished() == []
    stages = [e.name for e in events if isinstance(e, Stage)]
    assert stages[-3:] == ["merging", "quantizing", "saving"]

    from ragterm.engine.models.registry import read_gguf

    assert p.merged_path and p.merged_path.endswith("merged-Q8_0.gguf")
    assert read_gguf(p.merged_path).quantization == "Q8_0"
    assert not list(runner.persona_dir("pausing").glob("merged-F16*"))  # intermediate removed


def test_the_chat_side_never_imports_torch():
    """Starting, estimating and listing personas stay light: torch lives in the child only."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import ragterm.engine.tune.runner, ragterm.engine.tune.persona_service\n"
        "import ragterm.engine.tune.training_data, ragterm.engine.tune.adapter_export\n"
        "import ragterm.cli.persona_cmd\n"
        "heavy = ('torch', 'transformers', 'peft', 'unsloth', 'textual')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
