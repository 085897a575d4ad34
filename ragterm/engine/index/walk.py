"""Which files of a folder get indexed, and why each other one does not.

The walk honours ``.gitignore`` files (at every level, like git) and ``.ragtermignore`` (same
syntax), skips version-control, dependency and cache folders, secrets, binaries (by content), files
over the size limit, symlink loops and symlinks that lead out of the folder. Every file it leaves
out is still yielded, with a reason, so the report and ``ragterm index --status`` can say why.

Symlinks (``index.follow_symlinks``): a cloned repository or an unpacked archive can carry a link
to ``/etc/shadow`` or to another folder; by default (``inside``) a link is followed only when its
resolved target stays inside the indexed folder. ``link_rule`` is the same test for every other
place that opens a file named by the user or by the index (preview, editor, evidence, persona).
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

IGNORE_FILE = ".ragtermignore"
IGNORED_RULE = "ignored by .gitignore/.ragtermignore"
IGNORED_DIR = "version-control, dependency or cache folder"

# Folders that are never content: VCS metadata, dependencies, virtual environments, caches.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "_darcs",
        "node_modules",
        "bower_components",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".ipynb_checkpoints",
        ".eggs",
        "__pypackages__",
        ".gradle",
        ".cache",
        ".parcel-cache",
        ".next",
        ".nuxt",
        ".turbo",
        ".terraform",
        ".idea",
        ".vscode",
        ".Trash",
    }
)
# Files that are never content and not worth a report line.
SKIP_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".gitignore", IGNORE_FILE})
# Machine-written files that would drown real hits.
LOCK_FILES = frozenset(
    {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "uv.lock", "Cargo.lock",
     "Pipfile.lock", "composer.lock", "Gemfile.lock", "go.sum"}
)  # fmt: skip
SKIP_DIR_GLOBS = ("*.egg-info",)

# Secrets: skipped unless index.include_secrets is on. Names are matched case-insensitively.
# Data/config files only: a page *about* secrets (secrets.html, secrets.md) is not one.
SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".password-store"})
SECRET_GLOBS = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.gpg",
    "*.asc",
    "*.ovpn",
    "credentials",
    *(
        f"{stem}.{ext}"
        for stem in ("credentials", "secrets", "secret")
        for ext in ("json", "yaml", "yml", "toml", "ini", "cfg", "conf", "txt", "csv", "env")
    ),
    "*credentials*.json",
    "*.secret",
    "*.secrets",
    ".netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    ".htpasswd",
    "known_hosts",
    "authorized_keys",
    "service-account*.json",
)
# Formats that are binary by nature but have a parser.
BINARY_OK = frozenset({".pdf", ".docx"})
SNIFF_BYTES = 8192
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-16/32 text has NUL bytes


@dataclass
class Entry:
    """One file the walk met: ``reason`` is None when it should be indexed."""

    path: Path  # absolute
    rel: str  # relative to the walk's root, with forward slashes
    size: int = 0
    mtime: float = 0.0
    reason: str | None = None
    ignored: bool = False  # left out by an ignore rule or a VCS/cache folder: counted, not listed


FOLLOW_SYMLINKS = ("inside", "none", "all")


@dataclass
class WalkOptions:
    max_bytes: int = 20 * 1024 * 1024
    include_secrets: bool = False
    follow_symlinks: str = "inside"  # inside | none | all (index.follow_symlinks)


def link_rule(path: Path | str, root: Path | str, follow: str = "inside") -> str | None:
    """Why ``path`` (inside the folder ``root``) must not be opened under the symlink rule, or
    None when it may be.

    ``inside``: its resolved path stays in the resolved ``root``; ``none``: no symlink on the way
    from ``root`` to it; ``all``: anything goes. ``root`` may be the file itself (a one-file
    collection).
    """
    if follow == "all":
        return None
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if follow == "none":
        plain = os.path.normpath(
            os.path.join(real_root, os.path.relpath(os.path.abspath(path), os.path.abspath(root)))
        )
        if real != plain:
            return "symlink, not followed (index.follow_symlinks = none)"
        return None
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    return f"symlink to {real} leads outside the folder (index.follow_symlinks = inside)"


def is_secret_name(name: str) -> bool:
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, g) for g in SECRET_GLOBS)


def sniff(path: Path, head: bytes | None = None) -> str | None:
    """Why the file's first bytes rule it out (binary, private key), or None."""
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    if path.suffix.lower() in BINARY_OK:
        return None
    if b"\0" in head and not head.startswith(BOMS):
        return "binary file"
    return None


def _private_key(head: bytes) -> bool:
    """A PEM/OpenSSH/PGP private key file (not a text that merely mentions one)."""
    start = head.lstrip()[:80]
    return start.startswith(b"-----BEGIN ") and b"PRIVATE KEY" in start


class _Ignores:
    """The ignore rules in force in one folder: its own files plus every ancestor's."""

    def __init__(self, parent: _Ignores | None, base: str, spec: pathspec.PathSpec | None) -> None:
        self.parent = parent
        self.base = base  # folder relative to the root ("" for the root)
        self.spec = spec

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Deepest rule file that has an opinion wins, like git's precedence."""
        node: _Ignores | None = self
        while node is not None:
            if node.spec is not None:
                sub = rel[len(node.base) + 1 :] if node.base else rel
                res = node.spec.check_file(sub + "/" if is_dir else sub)
                if res.include is not None:
                    return bool(res.include)
            node = node.parent
        return False


def _load_spec(folder: Path) -> tuple[pathspec.PathSpec | None, list[str]]:
    lines: list[str] = []
    problems: list[str] = []
    for name in (".gitignore", IGNORE_FILE):
        f = folder / name
        try:
            if f.is_file():
                lines += f.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            problems.append(f"{name}: {exc.strerror or exc}")
    if not lines:
        return None, problems
    return pathspec.GitIgnoreSpec.from_lines(lines), problems


def walk(root: Path, options: WalkOptions | None = None, *, scope: str = "") -> Iterator[Entry]:
    """Every file under ``root`` (or just ``root`` if it is a file), in a stable order.

    ``scope`` limits the walk to one sub-folder (relative to ``root``) while the ignore files of
    its ancestors still apply.
    """
    opts = options or WalkOptions()
    root = root.resolve()
    if root.is_file():
        yield _check_file(root, root.name, opts)
        return
    ignores = _Ignores(None, "", _load_spec(root)[0])
    start = root
    start_rel = ""
    if scope:
        parts = [p for p in scope.split("/") if p]
        for i in range(len(parts)):
            here = "/".join(parts[: i + 1])
            if ignores.ignored(here, True):
                return
            ignores = _Ignores(ignores, here, _load_spec(root / here)[0])
        start = root / scope
        start_rel = "/".join(parts)
        if start.is_file():
            yield _check_file(start, start_rel, opts)
            return
    seen: set[tuple[int, int]] = set()
    try:
        st = start.stat()
        seen.add((st.st_dev, st.st_ino))
    except OSError:
        return
    yield from _walk_dir(start, start_rel, ignores, opts, seen, root)


def _walk_dir(
    folder: Path,
    rel: str,
    ignores: _Ignores,
    opts: WalkOptions,
    seen: set[tuple[int, int]],
    root: Path,
) -> Iterator[Entry]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Entry(folder, rel or ".", reason=f"unreadable folder: {exc.strerror or exc}")
        return
    for de in entries:
        name = de.name
        child_rel = f"{rel}/{name}" if rel else name
        path = Path(de.path)
        if not _utf8(name):  # cannot be stored or cited as text; say so instead of crashing
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            shown_rel = f"{rel}/{shown}" if rel else shown
            yield Entry(path, shown_rel, reason="name is not valid UTF-8 (rename it to index it)")
            continue
        try:
            is_link = de.is_symlink()
            is_dir = de.is_dir(follow_symlinks=True)
        except OSError as exc:
            yield Entry(path, child_rel, reason=f"unreadable: {exc.strerror or exc}")
            continue
        if is_dir:
            if name in SKIP_DIRS or any(fnmatch.fnmatchcase(name, g) for g in SKIP_DIR_GLOBS):
                yield Entry(path, child_rel + "/", reason=IGNORED_DIR, ignored=True)
                continue
            if ignores.ignored(child_rel, True):
                yield Entry(path, child_rel + "/", reason=IGNORED_RULE, ignored=True)
                continue
            if not opts.include_secrets and name.lower() in SECRET_DIRS:
                yield Entry(path, child_rel + "/", reason="secrets folder (index.include_secrets)")
                continue
            if is_link and (why := link_rule(path, root, opts.follow_symlinks)):
                yield Entry(path, child_rel + "/", reason=why)
                continue
            try:
                st = path.stat()
            except OSError as exc:
                yield Entry(path, child_rel + "/", reason=f"unreadable: {exc.strerror or exc}")
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                yield Entry(path, child_rel + "/", reason="symlink loop (folder already walked)")
                continue
            seen.add(key)
            spec, _ = _load_spec(path)
            sub = _Ignores(ignores, child_rel, spec)
            yield from _walk_dir(path, child_rel, sub, opts, seen, root)
            continue
        if name in SKIP_FILES:
            continue
        if ignores.ignored(child_rel, False):
            yield Entry(path, child_rel, reason=IGNORED_RULE, ignored=True)
            continue
        if is_link and not path.exists():
            yield Entry(path, child_rel, reason="broken symlink")
            continue
        if is_link and (why := link_rule(path, root, opts.follow_symlinks)):
            yield Entry(path, child_rel, reason=why)  # never opened: /etc/shadow stays unread
            continue
        try:
            regular = de.is_file(follow_symlinks=True)
        except OSError as exc:
            yield Entry(path, child_rel, reason=f"unreadable: {exc.strerror or exc}")
            continue
        if not regular:  # never opened: reading a fifo blocks, /dev/zero never ends
            yield Entry(path, child_rel, reason=f"not a regular file ({_kind(path)})")
            continue
        yield _check_file(path, child_rel, opts)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError:
        return "unreadable"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _check_file(path: Path, rel: str, opts: WalkOptions) -> Entry:
    try:
        st = path.stat()
    except OSError as exc:
        return Entry(path, rel, reason=f"unreadable: {exc.strerror or exc}")
    entry = Entry(path, rel, size=st.st_size, mtime=st.st_mtime)
    if not stat.S_ISREG(st.st_mode):
        entry.reason = f"not a regular file ({_kind(path)})"
        return entry
    if path.name in LOCK_FILES:
        entry.reason = "lock file (machine-written)"
        return entry
    if not opts.include_secrets and is_secret_name(path.name):
        entry.reason = "looks like a secret (index.include_secrets)"
        return entry
    if st.st_size > opts.max_bytes:
        entry.reason = (
            f"too large ({st.st_size / 1048576:.1f} MB > {opts.max_bytes / 1048576:g} MB, "
            "index.max_file_mb)"
        )
        return entry
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        entry.reason = f"unreadable: {exc.strerror or exc}"
        return entry
    if not opts.include_secrets and _private_key(head):
        entry.reason = "contains a private key (index.include_secrets)"
        return entry
    entry.reason = sniff(path, head)
    return entry
