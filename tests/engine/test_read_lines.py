"""read_lines (engine.collections): exact lines of indexed files, nothing outside the folders."""

from __future__ import annotations

import pytest

from ragterm import config
from ragterm.engine.index import collection_service
from ragterm.errors import RagtermError
from ragterm.store import index_rows as store
from ragterm.store.db import connect


@pytest.fixture
def kb(tmp_path):
    root = tmp_path / "kb"
    (root / "sub").mkdir(parents=True)
    (root / "long.txt").write_text("".join(f"row {n}\n" for n in range(1, 1201)))
    (root / "sub" / "a.md").write_text("alpha\nbeta\n")
    (root / "link-in.md").symlink_to(root / "sub" / "a.md")  # stays inside: allowed
    (tmp_path / "away.txt").write_text("not yours\n")
    (root / "link-out.txt").symlink_to(tmp_path / "away.txt")
    (root / "sub-out").symlink_to(tmp_path, target_is_directory=True)
    conn = connect()
    store.add_collection(conn, root.resolve())
    return conn, root


def test_lines_by_relative_or_absolute_path_and_capped(kb):
    conn, root = kb
    cfg = config.load()
    got = collection_service.read_lines(conn, cfg, "sub/a.md", 2, 2)
    assert (got.text, got.citation(), got.total) == ("beta", "sub/a.md:2", 2)
    assert collection_service.read_lines(conn, cfg, str(root / "link-in.md")).text == "alpha\nbeta"
    many = collection_service.read_lines(conn, cfg, "long.txt", 100)
    assert (many.start, many.end) == (100, 100 + collection_service.MAX_LINES - 1)
    assert many.text.splitlines()[0] == "row 100"


@pytest.mark.parametrize("path", ["link-out.txt", "sub-out/away.txt", "../away.txt", "/etc/passwd"])
def test_links_and_paths_out_of_the_indexed_folders_are_refused(kb, path):
    conn, _ = kb
    with pytest.raises(RagtermError, match="is not a file inside an indexed folder"):
        collection_service.read_lines(conn, config.load(), path)


def test_a_single_indexed_file_is_its_own_root(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("one\ntwo\n")
    conn = connect()
    store.add_collection(conn, note.resolve())
    got = collection_service.read_lines(conn, config.load(), str(note), 2)
    assert (got.text, got.citation()) == ("two", "note.txt:2")
    with pytest.raises(RagtermError, match="nothing is indexed yet"):
        collection_service.read_lines(connect(tmp_path / "empty.db"), config.load(), str(note))
