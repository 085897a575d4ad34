"""The walk decides what gets indexed; every file it leaves out has a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragterm.engine.index.walk import WalkOptions, walk


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


def result(root: Path, **opts: object) -> tuple[set[str], dict[str, str]]:
    included, skipped = set(), {}
    for e in walk(root, WalkOptions(**opts)):  # type: ignore[arg-type]
        if e.ignored:
            continue
        if e.reason is None:
            included.add(e.rel)
        else:
            skipped[e.rel] = e.reason
    return included, skipped


def test_gitignore_and_ragtermignore_at_every_level(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            ".gitignore": "*.log\nbuild/\n!keep.log\n",
            ".ragtermignore": "drafts/\n",
            "a.md": "a",
            "debug.log": "x",
            "keep.log": "kept by negation",
            "build/out.txt": "x",
            "drafts/wip.md": "x",
            "sub/.gitignore": "local.txt\n",
            "sub/local.txt": "x",
            "sub/other.txt": "y",
            "other/local.txt": "not ignored here",
        },
    )
    included, skipped = result(tmp_path)
    assert included == {"a.md", "keep.log", "sub/other.txt", "other/local.txt"}
    assert skipped == {}
    ignored = {e.rel: e.reason for e in walk(tmp_path) if e.ignored}
    assert ignored == dict.fromkeys(
        ["debug.log", "build/", "drafts/", "sub/local.txt"], "ignored by .gitignore/.ragtermignore"
    )


def test_vcs_dependency_and_cache_folders_are_never_walked(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            ".git/config": "x",
            "node_modules/pkg/index.js": "x",
            "__pycache__/m.pyc": b"\0\0",
            ".venv/lib/site.py": "x",
            ".mypy_cache/x.json": "{}",
            "pkg.egg-info/PKG-INFO": "x",
            "src/app.py": "print('hi')",
        },
    )
    included, skipped = result(tmp_path)
    assert included == {"src/app.py"}
    assert skipped == {}
    assert {e.rel for e in walk(tmp_path) if e.ignored} == {
        ".git/", "node_modules/", "__pycache__/", ".venv/", ".mypy_cache/", "pkg.egg-info/"
    }  # fmt: skip


def test_secrets_are_skipped_with_a_reason_unless_asked(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            ".env": "API_KEY=1",
            ".env.production": "API_KEY=2",
            ".ssh/id_ed25519": "key",
            "certs/server.pem": "x",
            "deploy.key": "x",
            "credentials.json": "{}",
            "notes/key.txt": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
            "docs/about-keys.md": "Never commit -----BEGIN RSA PRIVATE KEY----- blocks.",
            "docs/secrets.html": "<p>The secrets module generates tokens.</p>",
            "config/secrets.yaml": "db_password: x",
        },
    )
    included, skipped = result(tmp_path)
    assert included == {"docs/about-keys.md", "docs/secrets.html"}  # a page *about* secrets
    assert set(skipped) == {
        ".env",
        ".env.production",
        ".ssh/",
        "certs/server.pem",
        "deploy.key",
        "credentials.json",
        "config/secrets.yaml",
        "notes/key.txt",
    }
    assert all("include_secrets" in why for why in skipped.values())
    included, skipped = result(tmp_path, include_secrets=True)
    assert ".env" in included and ".ssh/id_ed25519" in included and not skipped


def test_binaries_by_content_but_pdf_and_docx_pass(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "image.dat": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            "notes.weird-extension": "plain text with an unknown extension",
            "paper.pdf": b"%PDF-1.4\n\0binary",
            "report.docx": b"PK\x03\x04\0\0",
            "utf16.txt": "hello".encode("utf-16"),
        },
    )
    included, skipped = result(tmp_path)
    assert included == {"notes.weird-extension", "paper.pdf", "report.docx", "utf16.txt"}
    assert skipped == {"image.dat": "binary file"}


def test_files_over_the_size_limit_are_skipped(tmp_path: Path) -> None:
    tree(tmp_path, {"big.txt": "x" * 5000, "small.txt": "x"})
    included, skipped = result(tmp_path, max_bytes=1000)
    assert included == {"small.txt"}
    assert "too large" in skipped["big.txt"] and "index.max_file_mb" in skipped["big.txt"]


def test_symlink_loops_and_broken_links(tmp_path: Path) -> None:
    tree(tmp_path, {"a/file.txt": "x"})
    os.symlink(tmp_path / "a", tmp_path / "a" / "loop")
    os.symlink(tmp_path / "missing", tmp_path / "dangling.txt")
    included, skipped = result(tmp_path)
    assert included == {"a/file.txt"}
    assert "symlink loop" in skipped["a/loop/"]
    assert skipped["dangling.txt"] == "broken symlink"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_files_get_a_reason(tmp_path: Path) -> None:
    tree(tmp_path, {"locked.txt": "x"})
    (tmp_path / "locked.txt").chmod(0)
    try:
        _, skipped = result(tmp_path)
    finally:
        (tmp_path / "locked.txt").chmod(0o644)
    assert skipped["locked.txt"].startswith("unreadable")


def test_scope_walks_one_subfolder_with_the_ancestors_rules(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {".gitignore": "*.tmp\n", "a/x.md": "x", "a/y.tmp": "y", "b/z.md": "z"},
    )
    got = {e.rel for e in walk(tmp_path, scope="a") if e.reason is None}
    assert got == {"a/x.md"}


def test_a_single_file_root(tmp_path: Path) -> None:
    f = tmp_path / "one.md"
    f.write_text("# one")
    [entry] = list(walk(f))
    assert entry.rel == "one.md" and entry.reason is None
