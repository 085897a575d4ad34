"""The training child: ``python -m ragterm.engine.tune.worker RUN_DIR``.

Reads ``RUN_DIR/plan.json``, trains, and writes one JSON object a line to its stdout (the only
thing on it: library chatter is moved to stderr, which the parent keeps in ``train.log``). It stops
cleanly, keeping a checkpoint, when ``RUN_DIR/cancel`` appears, on SIGTERM, or when its parent dies.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from ragterm.engine.tune.spec import Plan
from ragterm.errors import Cancelled, RagtermError


def main(argv: list[str]) -> int:
    run_dir = Path(argv[1])
    # Keep the real stdout for events; everything else printing to fd 1 goes to the log.
    events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    parent = os.getppid()
    stop = {"signal": False}

    def on_term(signum: int, frame: Any) -> None:
        stop["signal"] = True

    signal.signal(signal.SIGTERM, on_term)

    def emit(event: dict[str, Any]) -> None:
        events.write(json.dumps(event, default=str) + "\n")
        events.flush()

    def should_stop() -> bool:
        return stop["signal"] or (run_dir / "cancel").exists() or os.getppid() != parent

    try:
        plan = Plan.from_dict(json.loads((run_dir / "plan.json").read_text(encoding="utf-8")))
        metrics = train_and_report(plan, emit, should_stop)
        emit({"type": "done", "metrics": metrics})
        return 0
    except Cancelled as exc:
        emit({"type": "cancelled", "message": exc.message})
        return 0
    except RagtermError as exc:
        emit({"type": "error", "message": exc.message, "hint": exc.hint})
        return 1
    except MemoryError:
        emit(
            {
                "type": "error",
                "message": "training ran out of memory",
                "hint": "try --batch-size 1 or a smaller --max-len; resume with --resume",
            }
        )
        return 1
    except Exception as exc:  # a bug: the traceback goes to the log, one line to the parent
        traceback.print_exc()
        emit(
            {
                "type": "error",
                "message": f"training failed: {type(exc).__name__}: {exc}",
                "hint": f"details in {run_dir / 'train.log'}",
            }
        )
        return 2


def train_and_report(plan: Any, emit: Any, should_stop: Any) -> dict[str, Any]:
    from ragterm.engine.tune import train  # lazy: torch loads with the training loop

    return train.run(plan, emit, should_stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
