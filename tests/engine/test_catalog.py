"""The shipped model catalog and the advice `recommend` gives for a machine."""

from __future__ import annotations

import pytest

from ragterm.engine.models import catalog
from ragterm.engine.models.catalog import Machine
from ragterm.errors import ModelError


def test_shipped_catalog_is_complete_and_pinned():
    entries = catalog.load()
    assert len(entries) >= 5
    assert len({e.alias for e in entries}) == len(entries)
    sizes = sorted(e.size for e in entries)
    assert 0.3e9 < sizes[0] < 0.6e9 and 2e9 < sizes[-1] < 2.7e9  # ~0.5B to ~4B at Q4_K_M
    for e in entries:
        assert e.repo.count("/") == 1 and e.file.endswith(".gguf")
        assert "Q4_K_M" in e.file.upper()
        assert len(e.sha256) == 64, e.alias  # every shipped entry has a verified checksum
        assert e.license and e.note and e.context >= 8192
        assert e.ram_mb * 1_000_000 > e.size  # running it takes more than the file


def recommended(m: Machine) -> str | None:
    top = catalog.top_pick(catalog.recommend(catalog.load(), m))
    return top.entry.alias if top else None


def test_advice_follows_memory_and_cores():
    # a two-core laptop with plenty of memory: the best model that stays quick on two cores
    assert recommended(Machine(24_000, 20_000, 2)) == "qwen2.5-1.5b"
    # eight cores and 16 GB: the best of the catalog
    assert recommended(Machine(16_000, 12_000, 8)) == "gemma-3-4b"
    # 4 GB, 2.5 GB free: only what fits in the free memory
    verdicts = {v.entry.alias: v for v in catalog.recommend(catalog.load(), Machine(4000, 2500, 4))}
    assert verdicts["qwen2.5-1.5b"].status == "recommended"
    assert verdicts["llama-3.2-3b"].status == "tight"
    assert verdicts["llama-3.2-3b"].reason == "needs 2.7 GB free, 2.5 GB is"
    assert verdicts["gemma-3-4b"].status == "too big"
    # a tiny machine: nothing is recommended, the bundled model stays
    assert recommended(Machine(1000, 600, 1)) is None


def test_installed_models_are_marked(bundled_gguf):
    entries = catalog.load()
    verdicts = catalog.recommend(entries, Machine(8000, 6000, 4), {"qwen2.5-0.5b"})
    marks = {v.entry.alias: v.installed for v in verdicts}
    assert marks["qwen2.5-0.5b"] and not marks["llama-3.2-1b"]


def test_this_machine_is_measured():
    m = catalog.machine()
    assert m.total_mb > 0 and 0 < m.available_mb <= m.total_mb and m.cores >= 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[model]]\nalias = "x"\n', "missing"),
        ('[[model]]\nalias = "x"\nfoo = 1\n', "unknown keys"),
        ("[[model\n", "not valid TOML"),
    ],
)
def test_bad_catalog_files_are_named(tmp_path, body, message):
    path = tmp_path / "catalog.toml"
    path.write_text(body)
    with pytest.raises(ModelError, match=message) as info:
        catalog.load(path)
    assert str(path) in info.value.message


def test_bad_checksum_in_a_catalog_is_refused(tmp_path):
    text = catalog.BUNDLED_CATALOG.read_text().replace(catalog.load()[0].sha256, "abc", 1)
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(ModelError, match="sha256 must be 64"):
        catalog.load(path)
    with pytest.raises(ModelError, match="cannot read model catalog"):
        catalog.load(tmp_path / "missing.toml")
