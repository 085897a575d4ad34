"""Fuzzing the parsers and the chunker (short run; scripts/bench_faults.py runs thousands): every
input parses, or fails as one report line naming the file, within the time limit, and never
through the indexer's catch-all. Plus the cases the fuzzing found, kept as regressions."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ragterm.engine.index.pipeline import FileProblem, parse_and_chunk
from tests.faults.fuzz import KINDS, check, run

EXAMPLES = int(os.environ.get("RAGTERM_FUZZ_EXAMPLES", "10"))  # per kind, here
SEED = int(os.environ.get("RAGTERM_FUZZ_SEED", "0"))


@pytest.fixture(scope="module")
def tokenizer():
    from ragterm.engine.embed import load_tokenizer

    return load_tokenizer()


@pytest.mark.timeout(300)
def test_fuzzed_inputs_parse_or_fail_as_one_line(tokenizer):
    tally = run(KINDS, EXAMPLES, tokenizer, seed=SEED)
    assert tally.total() == EXAMPLES * len(KINDS)
    bad = [(o.status, o.line, data[:80]) for o, data in tally.bad]
    assert tally.failures() == 0, bad
    for kind in KINDS:  # each kind was really exercised: some inputs made chunks
        assert tally.counts[(kind, "chunks")] > 0, (kind, dict(tally.counts))


@pytest.mark.parametrize(
    "opener", ["<a ", "<b c='", '<i d="', "<!--", "<x", "<?"], ids=lambda s: repr(s)
)
def test_html_openers_that_never_close_parse_in_linear_time(opener, tokenizer):
    """html.parser rescanned the rest of the file for each unclosed '<': 30 KB of "<a " took 18 s,
    a 1 MB file would have hung the indexer."""
    data = (opener * 30_000 + "the keeper trims the wick").encode()
    t0 = time.perf_counter()
    out = check(data, "html", tokenizer)
    assert time.perf_counter() - t0 < 5, out
    assert out.status in ("chunks", "skipped", "failed"), out


def test_a_heading_over_many_chunks_is_tokenized_once(tokenizer):
    """One 90 000-character heading over 300 chunks was tokenized for every chunk: quadratic."""
    t0 = time.perf_counter()
    out = check(("<h1>ÄÖü" * 30_000).encode(), "html", tokenizer)
    assert out.status == "chunks" and time.perf_counter() - t0 < 5, out


def test_markup_the_html_parser_rejects_is_one_line_naming_the_file(tokenizer):
    with pytest.raises(FileProblem) as info:
        parse_and_chunk(b"<![" * 1000 + b"<p>x</p>", Path("page.html"), tokenizer)
    assert info.value.status == "failed"
    assert info.value.reason.startswith("the HTML parser rejected it")
    line = f"failed page.html: {info.value.reason}"
    assert "\n" not in line and len(line) < 400
