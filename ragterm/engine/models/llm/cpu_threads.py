"""How many threads llama.cpp should use here."""

from __future__ import annotations

import os
from pathlib import Path


def physical_cores() -> int:
    """Physical cores available to this process: llama.cpp is slower on hyper-threads.

    Counts the distinct sibling groups (one per core) among the CPUs this process may run on;
    falls back to the number of usable CPUs where sysfs has no topology (macOS, containers).
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return max(1, (os.cpu_count() or 2) // 2)
    cores: set[str] = set()
    for cpu in cpus:
        f = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(f.read_text().strip())
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))
