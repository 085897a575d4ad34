"""Persona names become folder names: checked where they are used, not only at the CLI."""

from __future__ import annotations

import pytest

from ragterm import paths
from ragterm.engine.tune import persona_service
from ragterm.engine.tune.runner import persona_dir
from ragterm.errors import TuningError
from ragterm.store.db import connect

BAD = ["..", "../..", "a/../../b", "/etc", "x/y", "a\nb", "ok\n", "", ".hidden", "a..b", "-x"]


@pytest.mark.parametrize("name", BAD)
def test_bad_names_never_become_paths(name):
    with pytest.raises(TuningError, match="invalid persona name"):
        persona_dir(name)


@pytest.mark.parametrize("name", BAD)
def test_remove_and_export_refuse_bad_names_and_delete_nothing(name, tmp_path):
    conn = connect()
    keep = paths.data_dir() / "keep.txt"
    keep.write_text("still here")
    with pytest.raises(TuningError):
        persona_service.remove(conn, name)
    with pytest.raises(TuningError):
        persona_service.export(conn, name, tmp_path)
    assert keep.read_text() == "still here" and paths.db_path().exists()


def test_a_symlinked_persona_folder_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("x")
    paths.adapters_dir().mkdir(parents=True)
    (paths.adapters_dir() / "evil").symlink_to(victim)
    with pytest.raises(TuningError, match="leads outside"):
        persona_service.remove(connect(), "evil")
    assert (victim / "precious.txt").exists()


def test_good_names_are_folders_under_the_adapters_dir():
    assert persona_dir("pirate-2.v1") == paths.adapters_dir() / "pirate-2.v1"
