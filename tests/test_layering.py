"""The layers: engine/ and store/ never import textual or click; cli/, tui/ and mcp/ never import
store/ (they call engine services); SQL is written only in store/."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ragterm.engine
import ragterm.store


def test_engine_never_imports_ui_packages():
    # the prefix matters: without it walk_packages looks subpackages up as top-level names
    # (engine/llm/ would import the unrelated `llm` distribution, engine/chunk/ the stdlib chunk)
    walk = pkgutil.walk_packages(ragterm.engine.__path__, prefix="ragterm.engine.")
    mods = [m.name for m in walk]
    mods += ["ragterm.store." + m.name for m in pkgutil.iter_modules(ragterm.store.__path__)]
    mods = [m for m in mods if ".tune." not in m]  # tuning modules import torch lazily anyway
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'click'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_is_fast_and_light():
    code = (
        "import sys\nfrom ragterm.cli import cli\n"
        "heavy = [m for m in ('llama_cpp', 'fastembed', 'torch', 'onnxruntime', 'textual') "
        "if m in sys.modules]\nprint(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


ROOT = Path(__file__).resolve().parents[1] / "ragterm"
_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|WITH)\b")


def _sources(*parts: str) -> list[Path]:
    return sorted((ROOT.joinpath(*parts)).rglob("*.py"))


def _imported(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize("face", ["cli", "tui", "mcp"])
def test_front_ends_reach_storage_only_through_the_engine(face):
    """Front ends (cli/, tui/, mcp/) call engine services; ``ragterm.store`` and SQL are the
    engine's business."""
    bad = []
    for path in _sources(face):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += [
            f"{path.relative_to(ROOT)}: imports {name}"
            for name in _imported(tree)
            if name == "ragterm.store" or name.startswith("ragterm.store.")
        ]
        bad += _sql_in(path, tree)
    assert bad == []


def _sql_in(path: Path, tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("execute", "executemany", "executescript")
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.func.attr}(")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _SQL.match(node.value)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: SQL {node.value[:40]!r}")
        elif isinstance(node, ast.JoinedStr):  # f-strings: their literal parts
            text = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            if _SQL.match(text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: SQL {text[:40]!r}")
    return sorted(set(found))  # an f-string's literal part is also a Constant


def test_engine_sql_lives_in_store_modules():
    """The engine ranks, chunks and talks to models; every query it needs is a store function."""
    bad = []
    for path in _sources("engine"):
        bad += _sql_in(path, ast.parse(path.read_text(encoding="utf-8")))
    assert bad == []


def test_the_sql_check_finds_sql():
    tree = ast.parse('conn.execute("SELECT 1")\nq = f"DELETE FROM t WHERE id = {x}"\n')
    assert len(_sql_in(ROOT / "x.py", tree)) == 3
