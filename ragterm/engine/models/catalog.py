"""The curated catalog of chat models, and which of them suit this machine.

The catalog is a TOML file shipped in the package (``catalog.toml``); ``models.catalog`` points at
another one (a company mirror, or the tests' local hub). ``recommend`` weighs each entry against
the machine's memory and cores, so the CLI, the TUI's model picker and the welcome panel all give
the same advice.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import MISSING, asdict, dataclass
from pathlib import Path
from typing import Any

from ragterm.engine.models.llm import physical_cores
from ragterm.errors import ModelError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BUNDLED_CATALOG = Path(__file__).with_name("catalog.toml")
MB = 1_000_000
HEADROOM_MB = 512  # left for the OS, the app and the embedding model
# A CPU core streams roughly 0.65 GB of weights per token at a readable pace (~5 tokens/s):
# bigger files than cores x this are marked slow, not refused.
GB_PER_CORE = 0.65
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA = re.compile(r"^([0-9a-f]{64})?$")


@dataclass(frozen=True)
class CatalogEntry:
    alias: str
    name: str
    repo: str
    file: str
    size: int  # bytes
    license: str
    params: str
    context: int  # tokens the model was trained for
    ram_mb: int  # to run it with a 4096-token context
    score: int  # ragterm's ranking for answering from retrieved text
    note: str
    sha256: str = ""  # empty: checked against the hub's own hash instead

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load(path: Path | str | None = None) -> list[CatalogEntry]:
    """The catalog at ``path`` (default: the one shipped with ragterm), validated."""
    path = Path(path).expanduser() if path else BUNDLED_CATALOG
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(
            f"cannot read model catalog {path}: {exc.strerror or exc}",
            hint="fix models.catalog (`ragterm config set models.catalog ''` for the built-in one)",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model catalog {path} is not valid TOML: {exc}", hint="fix it") from None
    out: list[CatalogEntry] = []
    fields = CatalogEntry.__dataclass_fields__
    for i, raw in enumerate(data.get("model", []), 1):
        where = f"model catalog {path}, entry {i}"
        if not isinstance(raw, dict):
            raise ModelError(f"{where} is not a table", hint="use [[model]] tables")
        unknown = set(raw) - set(fields)
        missing = {k for k, f in fields.items() if f.default is MISSING} - set(raw)
        if unknown or missing:
            what = f"unknown keys {sorted(unknown)}" if unknown else f"missing {sorted(missing)}"
            raise ModelError(f"{where}: {what}", hint=f"keys: {', '.join(fields)}")
        try:
            entry = CatalogEntry(**raw)
        except TypeError as exc:
            raise ModelError(f"{where}: {exc}", hint="check the keys") from None
        bad = _problem(entry)
        if bad:
            raise ModelError(f"{where} ({raw.get('alias')!r}): {bad}", hint="fix that value")
        if any(e.alias == entry.alias for e in out):
            raise ModelError(f"{where}: alias {entry.alias!r} twice", hint="aliases are unique")
        out.append(entry)
    return out


def _problem(e: CatalogEntry) -> str:
    if not _ALIAS.match(str(e.alias)):
        return "alias must be lower-case letters, digits and . _ -"
    if str(e.repo).count("/") != 1 or not str(e.file).lower().endswith(".gguf"):
        return "repo must be OWNER/NAME and file a .gguf"
    for key in ("size", "context", "ram_mb", "score"):
        v = getattr(e, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            return f"{key} must be a non-negative integer"
    if not isinstance(e.sha256, str) or not _SHA.match(e.sha256):
        return "sha256 must be 64 lower-case hex digits (or empty)"
    return ""


def find(entries: list[CatalogEntry], alias: str) -> CatalogEntry | None:
    for e in entries:
        if e.alias == alias:
            return e
    return None


# --- this machine ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    total_mb: int
    available_mb: int
    cores: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def machine() -> Machine:
    """Memory from /proc/meminfo (or sysconf) and the physical cores llama.cpp would use."""

    total = avail = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {k: v for k, _, v in (line.partition(":") for line in fh)}
        total = int(info["MemTotal"].split()[0]) * 1024
        avail = int(info.get("MemAvailable", info["MemFree"]).split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            page = os.sysconf("SC_PAGE_SIZE")
            total = os.sysconf("SC_PHYS_PAGES") * page
            try:
                avail = os.sysconf("SC_AVPHYS_PAGES") * page
            except (ValueError, OSError):  # macOS has no count of free pages here
                avail = total // 2
        except (ValueError, OSError, AttributeError):
            total = avail = 0
    return Machine(total // MB, avail // MB, physical_cores())


# --- advice ----------------------------------------------------------------------------------


@dataclass
class Verdict:
    entry: CatalogEntry
    status: str  # recommended | fits | slow | tight | too big
    reason: str
    installed: bool = False

    @property
    def fits(self) -> bool:
        return self.status in ("recommended", "fits", "slow")

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.entry.to_dict(),
            "status": self.status,
            "reason": self.reason,
            "installed": self.installed,
            "fits": self.fits,
        }


def judge(entry: CatalogEntry, m: Machine) -> Verdict:
    need = entry.ram_mb
    free = m.available_mb - HEADROOM_MB
    if m.total_mb and need > m.total_mb * 0.75:
        return Verdict(entry, "too big", f"needs {_gb(need)} RAM of {_gb(m.total_mb)}")
    if m.total_mb and need > free:
        return Verdict(entry, "tight", f"needs {_gb(need)} free, {_gb(m.available_mb)} is")
    if entry.size / 1e9 > m.cores * GB_PER_CORE:
        return Verdict(entry, "slow", f"slow on {_cores(m.cores)}")
    return Verdict(entry, "fits", f"{_gb(need)} of {_gb(m.available_mb)} free")


def recommend(
    entries: list[CatalogEntry], m: Machine, installed: set[str] | None = None
) -> list[Verdict]:
    """Every entry judged for this machine; the best that fits and runs at a usable speed is
    ``recommended`` (highest score, then the smaller file)."""
    installed = installed or set()
    verdicts = [judge(e, m) for e in entries]
    for v in verdicts:
        v.installed = v.entry.alias in installed or v.entry.file in installed
    ok = [v for v in verdicts if v.status == "fits"]
    if ok:
        best = max(ok, key=lambda v: (v.entry.score, -v.entry.size))
        best.status = "recommended"
        best.reason = f"best fit for {_gb(m.available_mb)} free and {_cores(m.cores)}"
    return verdicts


def top_pick(verdicts: list[Verdict]) -> Verdict | None:
    return next((v for v in verdicts if v.status == "recommended"), None)


def installed_names(registry_entries: list[Any]) -> set[str]:
    """Names and file names of the models already on disk (to mark catalog entries installed)."""
    out: set[str] = set()
    for e in registry_entries:
        out.add(e.name)
        out.add(Path(e.path).name)
    return out


def _gb(mb: int) -> str:
    return f"{mb / 1000:.1f} GB"


def _cores(n: int) -> str:
    return f"{n} core{'s' if n != 1 else ''}"
