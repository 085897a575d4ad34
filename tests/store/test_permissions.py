"""Chats and indexed text are private: data folder 0700, database and config 0600, also for an
install made by an older ragterm (tightened at the next start)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ragterm import config, paths
from ragterm.store.db import connect

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_new_install_is_owner_only():
    conn = connect()
    conn.execute("CREATE TABLE t(x)")  # the WAL and shared-memory files exist now
    db = paths.db_path()
    assert mode(paths.data_dir()) == 0o700
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert mode(f) == 0o600, f
    config.set_value("remote.api_key", "sk-test")
    assert mode(paths.config_file()) == 0o600
    assert mode(paths.config_dir()) == 0o700
    conn.close()


def test_an_old_install_is_tightened_at_start():
    data = paths.ensure_dir(paths.data_dir())
    os.chmod(data, 0o755)
    connect().close()
    db = paths.db_path()
    os.chmod(db, 0o644)
    cfg = paths.config_file()
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[remote]\napi_key = "sk-old"\n')
    os.chmod(cfg, 0o644)
    adapter = paths.adapters_dir() / "pirate" / "adapter.gguf"
    adapter.parent.mkdir(parents=True)
    adapter.write_bytes(b"GGUF")
    os.chmod(adapter, 0o644)
    os.chmod(adapter.parent, 0o755)
    connect().close()  # any ragterm command starts like this
    assert mode(data) == 0o700 and mode(db) == 0o600 and mode(cfg) == 0o600
    assert mode(adapter) == 0o600 and mode(adapter.parent) == 0o700
