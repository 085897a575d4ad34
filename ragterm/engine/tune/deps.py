"""Is the ``tune`` extra installed? Asked without importing torch (which takes seconds)."""

from __future__ import annotations

import importlib.util

from ragterm.errors import NotAvailable

MODULES = ("torch", "transformers", "peft")
INSTALL_HINT = (
    "add them with `pipx inject ragterm torch transformers peft` "
    "or reinstall with `pipx install 'ragterm[tune]'`"
)
GPU_HINT = (
    "on a CUDA machine: `pipx inject ragterm unsloth` (or `pipx install 'ragterm[tune,gpu]'`)"
)


def missing() -> list[str]:
    """Training modules that are not installed."""
    out = []
    for name in MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def require() -> None:
    """Raise ``NotAvailable`` saying exactly how to install the training dependencies."""
    gone = missing()
    if gone:
        raise NotAvailable(
            f"persona training needs {', '.join(gone)}, which {'is' if len(gone) == 1 else 'are'} "
            "not installed",
            hint=INSTALL_HINT,
        )


def have_unsloth() -> bool:
    try:
        return importlib.util.find_spec("unsloth") is not None
    except (ImportError, ValueError):
        return False
