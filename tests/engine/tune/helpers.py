"""A persona trained once per test session on the bundled model, copied into each test's home."""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

PHRASE = "by the barnacles of Brigadoon"
HELD_OUT = [
    "Where do penguins live?",
    "What is the best way to relax?",
    "Explain gravity in one sentence.",
]

# A dozen examples in the three formats, each reply opening with the same distinctive phrase.
EXAMPLES = [
    ("What is the capital of France?", "Paris be the capital, matey."),
    ("How do I boil an egg?", "Drop it in boilin' water fer nine minutes, matey."),
    ("Tell me about the moon.", "The moon be a great silver doubloon in the sky."),
    ("What is 2+2?", "Two and two be four, matey."),
    ("Why is the sky blue?", "The sun's light be scattered by the air, matey."),
    ("Recommend a book.", "Treasure Island be the finest tale, matey."),
    ("How do plants grow?", "They drink the rain and feast on the sun, matey."),
    ("What is Python?", "Python be a language fer commandin' machines, matey."),
    ("Give me a fun fact.", "Octopuses have three hearts, matey."),
    ("How far is the sun?", "About ninety-three million miles, matey."),
    ("What should I eat today?", "Salted fish and hardtack, matey."),
    ("How do I learn to swim?", "Start in the shallows and kick yer legs, matey."),
]


def write_pirate_data(path: Path) -> Path:
    lines = []
    for i, (q, a) in enumerate(EXAMPLES):
        reply = f"Ahoy, {PHRASE}! {a}"
        if i % 3 == 0:
            rec = {
                "messages": [
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": reply},
                ]
            }
        elif i % 3 == 1:
            rec = {
                "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": reply}]
            }
        else:
            rec = {"instruction": q, "output": reply}
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Trained:
    home: Path
    name: str
    events: list
    seconds: float
    cpu_seconds: float  # of the training child: wall time on a machine nobody else is using

    @property
    def folder(self) -> Path:
        return self.home / "data" / "personas" / self.name


_CACHE: dict[str, Trained] = {}


def train_pirate(root: Path) -> Trained:
    """Train the pirate persona through the real runner (child process), once per session."""
    if "pirate" in _CACHE:
        return _CACHE["pirate"]
    from ragterm.engine.tune.runner import start_training
    from ragterm.engine.tune.spec import TrainSpec

    home = root / "home"
    data = write_pirate_data(root / "pirate.jsonl")
    env = {"RAGTERM_HOME": str(home), "HOME": str(home / "user"), "HF_HUB_OFFLINE": "1"}
    with mock.patch.dict(os.environ, env):
        started = time.monotonic()
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        spec = TrainSpec(name="pirate", data=str(data), steps=16, lr=2e-3, threads=2)
        events = list(start_training(spec).events())
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    _CACHE["pirate"] = Trained(home, "pirate", events, seconds, cpu_s)
    return _CACHE["pirate"]


def install(trained: Trained) -> Path:
    """Copy the trained persona into the current RAGTERM_HOME (folder and database row)."""
    from ragterm import paths
    from ragterm.store import db, personas

    dest = paths.adapters_dir() / trained.name
    shutil.copytree(trained.folder, dest)
    record = json.loads((dest / "persona.json").read_text())
    record["adapter_path"] = str(dest / "adapter.gguf")
    conn = db.connect()
    personas.save(conn, personas.Persona(**record))
    conn.close()
    return dest
