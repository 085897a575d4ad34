"""Download GGUF files from the Hugging Face hub, resumably.

A plain HTTP client rather than ``huggingface_hub.hf_hub_download``: we want our own progress events
(the CLI and the TUI draw them), a ``.part`` file that a later run resumes with an HTTP Range
request, and ``HF_ENDPOINT`` read at call time (tests point it at a local server).
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ragterm.engine.events import DownloadProgress
from ragterm.errors import Cancelled, ModelError

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK = 1 << 20


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def file_url(repo: str, filename: str, revision: str = "main") -> str:
    return (
        f"{endpoint()}/{urllib.parse.quote(repo)}/resolve/{urllib.parse.quote(revision)}/"
        f"{urllib.parse.quote(filename)}"
    )


def _check_repo(repo: str, filename: str) -> None:
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ModelError(
            f"invalid hub repository {repo!r}",
            hint="use OWNER/NAME, e.g. bartowski/Llama-3.2-1B-Instruct-GGUF",
        )
    if not filename.lower().endswith(".gguf"):
        raise ModelError(
            f"{filename!r} is not a .gguf file",
            hint="ragterm runs GGUF files; pick one from the repository's file list",
        )


def download(
    repo: str,
    filename: str,
    dest_dir: Path,
    *,
    revision: str = "main",
    cancel: threading.Event | None = None,
) -> Iterator[DownloadProgress | Path]:
    """Yield progress while downloading, then the final path. Resumes a previous ``.part``."""
    _check_repo(repo, filename)
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ModelError(
            "downloads are disabled (HF_HUB_OFFLINE is set)",
            hint="unset HF_HUB_OFFLINE, or add a local file with `ragterm models add`",
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / Path(filename).name
    if final.exists():
        yield final
        return
    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    url = file_url(repo, filename, revision)
    req = urllib.request.Request(url, headers={"User-Agent": "ragterm"})
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part is already complete
            part.replace(final)
            yield final
            return
        hint = {
            401: "the repository is gated or private: set HF_TOKEN",
            403: "access denied: accept the model's license on the hub and set HF_TOKEN",
            404: "check the repository and file name on the hub",
        }.get(exc.code, "try again later")
        raise ModelError(
            f"download of {repo}/{filename} failed: HTTP {exc.code}", hint=hint
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(
            f"cannot reach {endpoint()}: {reason}",
            hint="check the network connection (or HF_ENDPOINT)",
        ) from exc
    with resp:
        if resp.status == 206:
            start = have
        else:  # the server ignored Range: start over
            start = 0
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        done = start
        yield DownloadProgress(done, total, resumed_from=start)
        try:
            with part.open("ab" if start else "wb") as fh:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"download stopped at {done} bytes; run again to resume")
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    yield DownloadProgress(done, total, resumed_from=start)
        except OSError as exc:
            raise ModelError(
                f"cannot write {part}: {exc.strerror or exc}",
                hint="free some disk space, then run the same command to resume",
            ) from exc
    if total is not None and done < total:
        raise ModelError(
            f"download of {filename} ended early ({done} of {total} bytes)",
            hint="run the same command again to resume",
        )
    part.replace(final)
    yield final
