"""One file -> its chunks, or a one-line reason why not, whatever its bytes hold.

The bytes are read only if the path is (still) a regular file within the size limit; then
parsed, scanned for secrets (a file holding one is refused whole, before any chunk exists) and
chunked. A parser or scanner that breaks fails that file only (``FileProblem``).
"""

from __future__ import annotations

import os
from pathlib import Path
from stat import S_ISREG

from ragterm.engine.index.chunk import Chunk, TokenCounter, chunk_parsed
from ragterm.engine.index.parse import ParseFailed, SkipFile, kind_of, parse_bytes

MAX_REASON = 300  # characters of a skip or failure reason: one line in the report


class NotRegular(Exception):
    """The path turned into something that must not be read (a fifo, a device, a huge file)."""


class FileProblem(Exception):
    """A file left out of the index: ``status`` skipped or failed, ``reason`` one line."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = one_line(reason)


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """A reason as one report line: whitespace runs (newlines too) become one space, cut."""
    flat = " ".join(str(text).split()) or "unknown problem"
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_and_chunk(
    data: bytes,
    path: Path,
    tokenizer: TokenCounter,
    chunk_tokens: int = 200,
    overlap: int = 30,
    *,
    kind: str | None = None,
    scan_secrets: bool = True,
) -> list[Chunk]:
    """A file's bytes -> its chunks, or ``FileProblem`` with a one-line reason, whatever the bytes.

    A file in which a secret is found is refused whole, before any chunk exists. A parser that
    breaks in an unforeseen way fails that file only; an error of the secret scan itself fails
    the file too (never indexed unscanned).
    """
    kind = kind or kind_of(path)
    try:
        parsed = parse_bytes(data, path, kind)
    except SkipFile as exc:
        raise FileProblem("skipped", exc.reason) from None
    except ParseFailed as exc:
        raise FileProblem("failed", exc.reason) from None
    except RecursionError:
        raise FileProblem("failed", "too deeply nested to parse") from None
    except MemoryError:
        raise FileProblem("failed", "too large to parse in memory") from None
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the run
        raise FileProblem("failed", f"cannot parse: {type(exc).__name__}: {exc}") from None
    if scan_secrets:
        from ragterm.engine.index.secret_scan import secret_reason  # lazy: detect-secrets

        try:
            why = secret_reason(parsed, path.name)
        except Exception as exc:  # noqa: BLE001 - fail closed
            why = f"secret scan failed: {type(exc).__name__}: {exc}"
            raise FileProblem("failed", why) from None
        if why:
            raise FileProblem("skipped", why)
    try:
        chunks = chunk_parsed(parsed, tokenizer, chunk_tokens, overlap)
    except RecursionError:
        raise FileProblem("failed", "too deeply nested to chunk") from None
    except Exception as exc:  # noqa: BLE001
        raise FileProblem("failed", f"cannot chunk: {type(exc).__name__}: {exc}") from None
    if not chunks:
        raise FileProblem("skipped", "no text")
    return chunks


def read_regular(
    path: Path, max_bytes: int, *, nofollow: bool = False
) -> tuple[os.stat_result, bytes]:
    """The file's bytes, read only if it is (still) a regular file within the size limit.

    The walk checked both, but the file can change before it is read: a fifo would block the
    read forever and /dev/zero would fill the memory. O_NONBLOCK keeps the open from blocking;
    ``nofollow`` refuses a path that became a symlink since it was checked.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if nofollow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not S_ISREG(st.st_mode):
            raise NotRegular("not a regular file")
        if st.st_size > max_bytes:
            raise NotRegular(f"too large ({st.st_size / 1048576:.1f} MB, index.max_file_mb)")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotRegular("grew past index.max_file_mb while being read")
    return st, data
