"""Amounts as people read them, one way everywhere: sizes, durations, optional numbers.

The CLI, the TUI and engine messages all use these, so a file is "98 MB" in every face.
"""

from __future__ import annotations

from typing import Any

_SIZES = (("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12))


def format_size(n: float | None) -> str:
    """Bytes in decimal units, as disks and downloads count them: "512 B", "98 MB", "1.2 GB"
    ("?" when unknown)."""
    if n is None:
        return "?"
    if n < 1000:
        return f"{n:.0f} B"
    for unit, scale in _SIZES:
        if n < scale * 1000 or unit == "TB":
            return f"{n / scale:.1f} {unit}" if scale >= 1e9 else f"{n / scale:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def duration(seconds: float | None) -> str:
    """A time span for people (ETAs, run times, ages): "42s", "3m05s", "1h02m" ("?" unknown)."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def number(value: Any, fmt: str = "{:.3f}") -> str:
    """A metric that may be missing: formatted when it is a number, "-" otherwise."""
    return fmt.format(value) if isinstance(value, (int, float)) else "-"
