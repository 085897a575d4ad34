"""One way to show amounts: the same size reads the same in the CLI, the TUI and messages."""

from __future__ import annotations

from ragterm.units import duration, format_size, number


def test_sizes_in_decimal_units():
    assert format_size(None) == "?"
    assert format_size(512) == "512 B"
    assert format_size(98_400_000) == "98 MB"  # the bundled model, as the welcome panel shows it
    assert format_size(1_234_000_000) == "1.2 GB"
    assert format_size(5 * 10**12) == "5.0 TB"


def test_durations_and_missing_numbers():
    assert [duration(s) for s in (None, 42, 185, 3720)] == ["?", "42s", "3m05s", "1h02m"]
    assert number(0.12345) == "0.123"
    assert number(3.14159, "{:.2f}") == "3.14"
    assert number(None) == "-" and number("n/a") == "-"
