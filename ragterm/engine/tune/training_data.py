"""Training data: chat examples from JSONL (OpenAI ``messages``, ShareGPT, Alpaca) or a folder of
the user's own writing, validated line by line before any training starts.

Files are streamed: a scan keeps only the byte offset of each good line, and examples are read back
by offset while training, so a dataset larger than memory works. Every bad line is reported with its
line number; nothing is dropped silently (``skip_bad`` trains without them, still listing them).
"""

from __future__ import annotations

import json
import random
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragterm.engine.tune.spec import BadLine, DatasetError
from ragterm.engine.tune.writing_pairs import CONTINUE_PROMPT as CONTINUE_PROMPT
from ragterm.engine.tune.writing_pairs import build_from_writing

Message = dict[str, str]

ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
}
MAX_REPORTED = 50  # bad lines kept for the report; the total is always counted


@dataclass
class Example:
    """One conversation, normalised to OpenAI-style messages."""

    messages: list[Message]
    source: str  # "data.jsonl:12" or "notes/a.md#2"


class BadRecord(ValueError):
    pass


# --- formats ---------------------------------------------------------------------------------


def _text(value: Any, what: str) -> str:
    """Message content: a string, or OpenAI's list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        parts = [p.get("text") for p in value if p.get("type", "text") == "text"]
        if parts and all(isinstance(p, str) for p in parts):
            return "".join(p for p in parts if isinstance(p, str))
    raise BadRecord(f"{what} is not text")


def detect_format(record: Any) -> str | None:
    """``messages`` | ``sharegpt`` | ``alpaca`` for a parsed JSON record, or None."""
    if not isinstance(record, dict):
        return None
    if "messages" in record:
        return "messages"
    if "conversations" in record:
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    return None


def normalise(record: Any) -> tuple[str, list[Message]]:
    """The record's format and its messages; raises ``BadRecord`` saying what is wrong."""
    fmt = detect_format(record)
    if fmt is None:
        if not isinstance(record, dict):
            raise BadRecord(f"expected a JSON object, got {type(record).__name__}")
        keys = ", ".join(sorted(record)[:6]) or "none"
        raise BadRecord(
            f"unknown format (keys: {keys}); expected 'messages', 'conversations' "
            "or 'instruction' + 'output'"
        )
    messages: list[Message] = []
    if fmt == "messages":
        items = record["messages"]
        if not isinstance(items, list) or not items:
            raise BadRecord("'messages' must be a non-empty list")
        for n, m in enumerate(items, 1):
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise BadRecord(f"message {n} needs 'role' and 'content'")
            if m["role"] not in ROLES:
                raise BadRecord(f"message {n} has role {m['role']!r} (expected {', '.join(ROLES)})")
            messages.append({"role": m["role"], "content": _text(m["content"], f"message {n}")})
    elif fmt == "sharegpt":
        items = record["conversations"]
        if not isinstance(items, list) or not items:
            raise BadRecord("'conversations' must be a non-empty list")
        for n, m in enumerate(items, 1):
            if not isinstance(m, dict):
                raise BadRecord(f"turn {n} is not an object")
            who = m.get("from", m.get("role"))
            role = SHAREGPT_ROLES.get(str(who).lower()) if who is not None else None
            if role is None:
                raise BadRecord(f"turn {n} is from {who!r} (expected human, gpt or system)")
            value = m.get("value", m.get("content"))
            if value is None:
                raise BadRecord(f"turn {n} has no 'value'")
            messages.append({"role": role, "content": _text(value, f"turn {n}")})
    else:
        instruction = _text(record["instruction"], "'instruction'")
        extra = record.get("input") or ""
        extra = _text(extra, "'input'")
        output = _text(record["output"], "'output'")
        if record.get("system"):
            messages.append({"role": "system", "content": _text(record["system"], "'system'")})
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        if not user.strip():
            raise BadRecord("empty 'instruction'")
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise BadRecord("no assistant reply to learn from")
    if any(m["role"] == "system" for m in messages[1:]):
        raise BadRecord("a system message may only come first")
    return fmt, messages


# --- the dataset -----------------------------------------------------------------------------


@dataclass
class Dataset:
    """A validated JSONL file, indexed by the byte offsets of its good lines."""

    path: Path
    offsets: array = field(default_factory=lambda: array("q"))
    lines: array = field(default_factory=lambda: array("q"))  # 1-based line numbers
    chars: array = field(default_factory=lambda: array("q"))  # characters of message text
    formats: Counter = field(default_factory=Counter)
    systems: Counter = field(default_factory=Counter)
    bad: list[BadLine] = field(default_factory=list)
    bad_total: int = 0
    val: set[int] = field(default_factory=set)
    origin: str = ""  # the user's path (a folder, when pairs were built from writing)
    notes: list[str] = field(default_factory=list)  # e.g. files skipped when building pairs

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def train_ids(self) -> list[int]:
        return [i for i in range(len(self)) if i not in self.val]

    @property
    def val_ids(self) -> list[int]:
        return sorted(self.val)

    def example(self, i: int, fh: Any = None) -> Example:
        """Example ``i`` read back from disk (the file is not kept in memory)."""
        own = fh is None
        fh = fh or self.path.open("rb")
        try:
            fh.seek(self.offsets[i])
            record = json.loads(fh.readline().decode("utf-8"))
        finally:
            if own:
                fh.close()
        _, messages = normalise(record)
        source = record.get("source") if isinstance(record.get("source"), str) else None
        return Example(messages, source or f"{self.origin or self.path}:{self.lines[i]}")

    def examples(self, ids: list[int]) -> Iterator[Example]:
        with self.path.open("rb") as fh:
            for i in ids:
                yield self.example(i, fh)

    def summary(self) -> dict[str, Any]:
        total_chars = sum(self.chars)
        return {
            "path": str(self.origin or self.path),
            "examples": len(self),
            "train": len(self) - len(self.val),
            "validation": len(self.val),
            "formats": dict(self.formats),
            "chars": total_chars,
            "bad_lines": self.bad_total,
            "bad": [str(b) for b in self.bad[:10]],
            "notes": self.notes[:10],
        }

    def common_system_prompt(self) -> str | None:
        return self.systems.most_common(1)[0][0] if self.systems else None


def scan_jsonl(path: Path, *, origin: str = "") -> Dataset:
    """Read ``path`` once, line by line, keeping offsets of good lines and reasons for bad ones."""
    ds = Dataset(path=path, origin=origin)
    offset = 0
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fh:
        for n, raw in enumerate(fh, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise BadRecord(f"not UTF-8 text (byte {exc.start})") from None
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BadRecord(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
                fmt, messages = normalise(record)
            except BadRecord as exc:
                ds.bad_total += 1
                if len(ds.bad) < MAX_REPORTED:
                    ds.bad.append(BadLine(n, str(exc)))
                continue
            ds.offsets.append(start)
            ds.lines.append(n)
            ds.chars.append(sum(len(m["content"]) for m in messages))
            ds.formats[fmt] += 1
            if messages[0]["role"] == "system":
                ds.systems[messages[0]["content"]] += 1
    return ds


def split_validation(ds: Dataset, fraction: float, seed: int = 0, cap: int = 200) -> None:
    """Hold out a deterministic sample for validation loss (at least one when there are 2+)."""
    n = len(ds)
    k = 0 if fraction <= 0 or n < 2 else max(1, min(cap, round(n * fraction), n - 1))
    ds.val = set(random.Random(seed).sample(range(n), k)) if k else set()


def _json_array_to_jsonl(path: Path, out: Path) -> int:
    """A ``.json`` file holding a list of records, rewritten one record a line (items numbered)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(
            f"{path} is not a readable JSON file ({exc})",
            hint="use JSONL (one JSON object a line) for large or hand-edited datasets",
        ) from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise DatasetError(f"{path} holds a JSON {type(data).__name__}, not a list of examples")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for item in data:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return len(data)


def _refuse_binary(path: Path) -> None:
    """A NUL byte near the start: an image, an archive or a model, not JSONL (say so, once)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if b"\x00" in head:
        raise DatasetError(
            f"{path} is a binary file, not JSONL text",
            hint="expected one JSON object a line, or a folder of .txt/.md writing",
        )


def open_dataset(
    path: Path | str,
    *,
    work_dir: Path | None = None,
    val_fraction: float = 0.1,
    skip_bad: bool = False,
    seed: int = 0,
    follow_symlinks: str = "inside",
) -> Dataset:
    """Validate the user's data and return it indexed, or raise ``DatasetError`` before training.

    ``path`` is a ``.jsonl`` file, a ``.json`` list, or a folder of writing (pairs are built into
    ``work_dir``; ``follow_symlinks`` is index.follow_symlinks for the files in it).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(
            f"no such file or folder: {path}", hint="check the --data path", remedy=""
        )
    origin = str(path)
    if path.is_dir():
        if work_dir is None:
            raise DatasetError("building pairs from a folder needs a work folder")
        built = work_dir / "writing.jsonl"
        notes = build_from_writing(path, built, follow_symlinks=follow_symlinks)
        ds = scan_jsonl(built, origin=origin)
        ds.notes = notes
        ds.formats = Counter({"writing": len(ds)})
    elif path.suffix.lower() == ".json":
        if work_dir is None:
            raise DatasetError("reading a .json list needs a work folder")
        converted = work_dir / "data.jsonl"
        _json_array_to_jsonl(path, converted)
        ds = scan_jsonl(converted, origin=origin)
        for b in ds.bad:  # in a JSON list, "line" N is item N
            b.reason = b.reason + " (item number in the JSON list)"
    else:
        _refuse_binary(path)
        ds = scan_jsonl(path)
    if ds.bad_total and not skip_bad:
        shown = "; ".join(str(b) for b in ds.bad[:3])
        more = f" and {ds.bad_total - 3} more" if ds.bad_total > 3 else ""
        raise DatasetError(
            f"{origin}: {ds.bad_total} bad line{'s' if ds.bad_total > 1 else ''} ({shown}{more})",
            hint="fix them, or pass --skip-bad to train without them (they stay listed)",
            bad=ds.bad,
            bad_total=ds.bad_total,
            remedy="fix them, or train without them (they stay listed)",
        )
    if len(ds) == 0:
        what = "no usable examples" if ds.bad_total else "no examples"
        raise DatasetError(
            f"{origin}: {what}",
            hint="expected JSONL with 'messages', 'conversations' or 'instruction'/'output' "
            "records, or a folder of .txt/.md writing",
            bad=ds.bad,
        )
    if len(ds) < 2:
        raise DatasetError(
            f"{origin}: only one example; at least 2 are needed (one is held out for validation)",
            hint="add more examples (a dozen or more works best)",
        )
    split_validation(ds, val_fraction, seed)
    return ds
