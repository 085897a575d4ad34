"""Training pairs from a folder of the user's own writing: the first passage of each file answers
"write a piece titled ...", later ones "continue in my voice: ...", so the model learns the voice,
not the facts. Files are read as the index reads them, and symlinks and secrets kept out alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ragterm.engine.index.parse import ParseFailed
from ragterm.engine.index.parse.text import decode, parse_text
from ragterm.engine.index.secret_scan import secret_reason
from ragterm.engine.index.walk import SNIFF_BYTES, link_rule, sniff
from ragterm.engine.tune.spec import DatasetError

WRITING_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".org", ".text"}
WRITE_PROMPT = 'Write a piece titled "{title}" in my voice.'
CONTINUE_PROMPT = "Continue in my voice:\n\n{tail}"


def _read_text(path: Path) -> str | None:
    """The file's text, read as the index reads it (the walk's binary test, so a UTF-16 file
    with its BOM is text, then the parsers' decoding); None for a binary file."""
    data = path.read_bytes()
    if sniff(path, data[:SNIFF_BYTES]):
        return None
    try:
        return decode(data)
    except ParseFailed:
        return None


def _title(path: Path, text: str) -> str:
    for line in text.splitlines()[:20]:
        m = re.match(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$", line)
        if m:
            return m.group(1)
    return re.sub(r"[_-]+", " ", path.stem).strip() or path.stem


def _chunks(text: str, target: int) -> list[str]:
    """Paragraphs grouped into passages of about ``target`` characters (never split mid-paragraph,
    unless one paragraph alone is much longer)."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for p in paras:
        while len(p) > 2 * target:  # a wall of text: cut at a sentence end near the target
            cut = p.rfind(". ", 0, target)
            cut = cut + 1 if cut > target // 2 else target
            pieces, p = p[:cut].strip(), p[cut:].strip()
            if cur:
                out.append("\n\n".join(cur))
                cur, size = [], 0
            out.append(pieces)
        if cur and size + len(p) > target:
            out.append("\n\n".join(cur))
            cur, size = [], 0
        cur.append(p)
        size += len(p)
    if cur:
        out.append("\n\n".join(cur))
    return out


def build_from_writing(
    folder: Path,
    out: Path,
    *,
    target_chars: int = 1200,
    follow_symlinks: str = "inside",
    scan_secrets: bool = True,
) -> list[str]:
    """Turn the user's texts into (prompt, passage) pairs in ``out`` (messages JSONL).

    The first passage of each file answers "write a piece titled ...", later ones answer "continue
    in my voice: <the end of the previous passage>", so the model learns the voice, not the facts.
    Returns notes about files that were skipped, with the reason. As when indexing, a symlink
    out of the folder is not read (``follow_symlinks``) and a file holding a secret is left out:
    an adapter can learn a password by heart.
    """
    notes: list[str] = []
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in WRITING_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        raise DatasetError(
            f"{folder}: no writing found (looked for {', '.join(sorted(WRITING_SUFFIXES))} files)",
            hint="point --data at a folder of your texts, or at a JSONL file of chats",
            remedy="",  # the form's data field says what it takes
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for path in files:
            rel = path.relative_to(folder).as_posix()
            why = link_rule(path, folder, follow_symlinks)
            if why:
                notes.append(f"{rel}: skipped, {why}")
                continue
            try:
                text = _read_text(path)
            except OSError as exc:
                notes.append(f"{rel}: skipped, cannot read ({exc.strerror or exc})")
                continue
            if text is None:
                notes.append(f"{rel}: skipped, not text")
                continue
            if scan_secrets:
                secret = secret_reason(parse_text(text), path.name)
                if secret:
                    notes.append(f"{rel}: skipped, {secret}")
                    continue
            passages = [c for c in _chunks(text, target_chars) if len(c) >= 40]
            if not passages:
                notes.append(f"{rel}: skipped, too short (under 40 characters of prose)")
                continue
            title = _title(path, text)
            for i, passage in enumerate(passages):
                if i == 0:
                    prompt = WRITE_PROMPT.format(title=title)
                else:
                    tail = passages[i - 1][-300:]
                    tail = tail[tail.find(" ") + 1 :] if " " in tail[:40] else tail
                    prompt = CONTINUE_PROMPT.format(tail=tail)
                record = {
                    "messages": [
                        {"role": "user", "content": prompt},
                        {"role": "assistant", "content": passage},
                    ],
                    "source": f"{rel}#{i + 1}",
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return notes
