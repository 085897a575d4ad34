"""Tune errors carry their parts, so each face words them without reading the message."""

from __future__ import annotations

import pytest

from ragterm.engine.tune.spec import OptionError, TrainSpec
from ragterm.engine.tune.training_data import DatasetError, open_dataset


def test_an_option_error_names_the_flag_for_the_cli_and_the_field_for_the_form():
    with pytest.raises(OptionError) as err:
        TrainSpec(name="x", data="", rank=0).validate()
    assert (err.value.option, err.value.value) == ("rank", 0)
    assert err.value.message == "invalid --rank 0"
    assert err.value.worded("") == "invalid rank 0"
    with pytest.raises(OptionError) as both:
        TrainSpec(name="x", data="", steps=10, epochs=2).validate()
    assert both.value.message == "give --epochs or --steps, not both"
    assert both.value.worded("") == "give epochs or steps, not both"


def test_a_dataset_error_counts_its_bad_lines(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text("{not json\n" * 60)
    with pytest.raises(DatasetError) as err:
        open_dataset(data, work_dir=tmp_path / "work")
    assert err.value.bad_total == 60 and len(err.value.bad) < 60  # the first few are kept
    assert "--" not in err.value.remedy and "--skip-bad" in (err.value.hint or "")
