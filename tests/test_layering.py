"""The engine must be usable without the UI: engine/ and store/ never import textual or click."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ragterm.engine
import ragterm.store


def test_engine_never_imports_ui_packages():
    mods = ["ragterm.engine." + m.name for m in pkgutil.walk_packages(ragterm.engine.__path__)]
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
