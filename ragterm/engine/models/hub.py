"""Download GGUF files from the Hugging Face hub with ``huggingface_hub``: verified, resumable.

``huggingface_hub`` does the protocol: the HEAD on ``/resolve`` (commit, ``X-Linked-Etag`` — the
SHA-256 of an LFS file — and ``X-Linked-Size``), the redirect to the CDN, retries, and the GET
itself (``http_get``). ``hf_hub_download`` would also do the bookkeeping, but it starts over after
an interrupted run; we keep a ``.part`` file named after the remote file's hash instead, so a later
run resumes it with a Range request and a changed remote file never gets appended to an old part.

What ragterm adds: progress events (the CLI and the TUI draw them), a cancel flag checked between
chunks, the Authorization header kept off other hosts, ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` read
at call time, and a SHA-256 check against the catalog's pin or the hub's own hash. A file that fails
it is deleted, never registered.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from ragterm import paths
from ragterm.engine.events import DownloadProgress
from ragterm.engine.models.registry import Registry, read_gguf
from ragterm.engine.thread_bridge import bridge
from ragterm.errors import Cancelled, ModelError
from ragterm.store.db import transaction

DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HINTS = {
    401: "the repository is gated or private: set HF_TOKEN",
    403: "access denied: accept the model's license on the hub and set HF_TOKEN",
    404: "check the repository and file name on the hub",
    416: "delete the .part file next to the model and pull again",
}


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _check_repo(repo: str, filename: str, gguf: bool = True) -> None:
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ModelError(
            f"invalid hub repository {repo!r}",
            hint="use OWNER/NAME, e.g. bartowski/Llama-3.2-1B-Instruct-GGUF",
        )
    if gguf and not filename.lower().endswith(".gguf"):
        raise ModelError(
            f"{filename!r} is not a .gguf file",
            hint="ragterm runs GGUF files; pick one from the repository's file list",
        )


def _sync_offline_flag() -> None:
    """``huggingface_hub`` reads HF_HUB_OFFLINE once, at import; we honour it at call time."""
    # lazy: huggingface_hub loads only when this runs
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = offline()


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures of whichever HTTP client this huggingface_hub uses (httpx or httpx2)."""
    out: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        out.append(mod.TransportError)
    return tuple(out)


def _hub_error(exc: BaseException, repo: str, filename: str) -> ModelError:
    # lazy: huggingface_hub loads only when this runs
    from huggingface_hub.errors import FileMetadataError, HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return ModelError(
            "downloads are disabled (HF_HUB_OFFLINE is set)",
            hint="unset HF_HUB_OFFLINE, or add a local file with `ragterm models add`",
        )
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        code = exc.response.status_code
        return ModelError(
            f"download of {repo}/{filename} failed: HTTP {code}",
            hint=_HINTS.get(code, "try again later"),
        )
    if isinstance(exc, FileMetadataError):
        return ModelError(
            f"{endpoint()} did not answer like a Hugging Face hub for {repo}/{filename}",
            hint="check HF_ENDPOINT, a proxy or a firewall in between",
        )
    reason = str(exc) or type(exc).__name__
    return ModelError(
        f"cannot reach {endpoint()}: {reason}",
        hint="check the network connection (or HF_ENDPOINT)",
    )


class _Bar:
    """What ``http_get`` takes for a tqdm class: reports (bytes, total), stops on cancel."""

    def __init__(
        self,
        emit: Callable[[tuple[int, int | None]], None],
        stop: threading.Event,
        *,
        total: int | None = None,
        initial: int = 0,
        **_: Any,
    ) -> None:
        self.emit = emit
        self.stop = stop
        self.n = initial
        self.total = total

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.n += n
        self.emit((self.n, self.total))
        if self.stop.is_set():
            raise Cancelled(f"download stopped at {self.n} bytes; run the same pull to resume")


def sha256_file(path: Path, stop: threading.Event | None = None) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            if stop is not None and stop.is_set():
                raise Cancelled("checksum verification stopped; run the same pull again")
            h.update(block)
    return h.hexdigest()


def download(
    repo: str,
    filename: str,
    dest_dir: Path,
    *,
    revision: str = "main",
    sha256: str | None = None,
    size: int | None = None,
    cancel: threading.Event | None = None,
    gguf: bool = True,
) -> Iterator[DownloadProgress | Path]:
    """Yield progress while downloading, then the final path (``gguf=False``: any file, e.g. a
    reranker's ONNX model and tokenizer).

    ``sha256`` / ``size`` pin the file (the catalog's values); without them the hub's own hash is
    checked. A previous ``.part`` of the same remote file is resumed; Ctrl-C or ``cancel`` keeps it.
    """
    _check_repo(repo, filename, gguf)
    if offline():
        raise ModelError(
            "downloads are disabled (HF_HUB_OFFLINE is set)",
            hint="unset HF_HUB_OFFLINE, or add a local file with `ragterm models add`",
        )
    sha256 = (sha256 or "").lower() or None
    final = dest_dir / Path(filename).name
    if final.exists():
        yield final
        return

    # lazy: huggingface_hub loads only when this runs
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import FileMetadataError, HfHubHTTPError
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    _sync_offline_flag()
    ep = endpoint()
    url = hf_hub_url(repo, filename, revision=revision, endpoint=ep)
    network = _transport_errors()
    failures: tuple[type[BaseException], ...] = (HfHubHTTPError, FileMetadataError, *network)
    try:
        meta = get_hf_file_metadata(url, endpoint=ep)
    except failures as exc:
        raise _hub_error(exc, repo, filename) from exc

    etag = (meta.etag or "").lower()
    remote_sha = etag if _SHA256.match(etag) else None
    if sha256 and remote_sha and sha256 != remote_sha:
        raise ModelError(
            f"the hub now serves a different {filename} than ragterm's catalog pins "
            f"(sha256 {remote_sha[:12]}…, expected {sha256[:12]}…); nothing was downloaded",
            hint=f"update ragterm, or pull it by name: ragterm models pull {repo} {filename}",
        )
    if size and meta.size and size != meta.size:
        raise ModelError(
            f"the hub now serves a different {filename} than ragterm's catalog pins "
            f"({meta.size} bytes, expected {size}); nothing was downloaded",
            hint=f"update ragterm, or pull it by name: ragterm models pull {repo} {filename}",
        )
    expected = sha256 or remote_sha
    total = meta.size or size

    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot create {dest_dir}: {exc.strerror or exc}",
            hint="check the folder's permissions or set RAGTERM_HOME",
        ) from exc
    # One part file per remote version: a changed file on the hub never resumes an old part.
    tag = re.sub(r"[^0-9A-Za-z]", "", expected or meta.etag or meta.commit_hash or "")[:16]
    part = final.with_name(f"{final.name}.{tag or 'x'}.part")
    for old in dest_dir.glob(f"{final.name}.*part"):
        if old != part:
            old.unlink(missing_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if total is not None and have > total:
        part.unlink()
        have = 0

    headers = build_hf_headers()
    target = urllib.parse.urljoin(url, meta.location or url)
    if urllib.parse.urlsplit(target).netloc != urllib.parse.urlsplit(url).netloc:
        headers.pop("authorization", None)  # a signed CDN link: the token stays on the hub
        headers.pop("Authorization", None)

    stop = threading.Event()

    def run(emit: Callable[[tuple[int, int | None]], None]) -> None:
        with part.open("ab") as fh:
            http_get(
                target,
                fh,
                resume_size=have,
                headers=headers,
                expected_size=total,
                displayed_filename=final.name,
                tqdm_class=partial(_Bar, emit, stop),  # type: ignore[arg-type]
            )

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            stop.set()

    yield DownloadProgress(have, total, resumed_from=have)
    progress = bridge(run, name="ragterm-download", on_poll=check_cancel, join_s=5)
    try:
        for done, size in progress:
            yield DownloadProgress(done, size, resumed_from=have)
    except Exception as exc:  # whatever stopped the download thread, as one line
        raise _download_failed(exc, part, total, repo, filename, network) from None
    finally:
        stop.set()  # Ctrl-C or an abandoned iterator: the thread stops at its next chunk
        progress.close()

    if expected:
        got = part.stat().st_size
        yield DownloadProgress(got, total, resumed_from=have, verifying=True)
        digest = sha256_file(part, cancel)
        if digest != expected:
            part.unlink(missing_ok=True)
            raise ModelError(
                f"checksum mismatch for {filename}: got sha256 {digest[:12]}…, expected "
                f"{expected[:12]}…; the download was deleted",
                hint="pull it again; if it fails again, the file on the hub is not the one pinned",
            )
    part.replace(final)
    yield final


def _download_failed(
    exc: BaseException,
    part: Path,
    total: int | None,
    repo: str,
    filename: str,
    network: tuple[type[BaseException], ...],
) -> BaseException:
    """The one-line error for whatever stopped the download thread."""
    # lazy: huggingface_hub loads only when this runs
    from huggingface_hub.errors import HfHubHTTPError

    have = part.stat().st_size if part.exists() else 0
    if isinstance(exc, Cancelled):
        return Cancelled(f"download stopped at {have} bytes; run the same pull to resume")
    if isinstance(exc, (HfHubHTTPError, *network)):
        err = _hub_error(exc, repo, filename)
        if have:
            err = ModelError(
                f"{err.message} after {have} of {total or '?'} bytes",
                hint="run the same pull again to resume",
            )
        return err
    if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        if total is not None and have > total:
            part.unlink(missing_ok=True)
            return ModelError(
                f"download of {filename} was longer than the hub said; it was deleted",
                hint="pull it again",
            )
        return ModelError(
            f"download of {filename} ended early ({have} of {total} bytes)",
            hint="run the same pull again to resume",
        )
    if isinstance(exc, OSError):
        return ModelError(
            f"cannot write {part}: {exc.strerror or exc}",
            hint="free some disk space, then run the same pull to resume",
        )
    return exc


def pull(
    conn: Any,
    repo: str,
    filename: str,
    *,
    name: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    revision: str = "main",
    cancel: threading.Event | None = None,
) -> Iterator[DownloadProgress | Any]:
    """Download into the models folder and register it: progress, then ``(ModelEntry, GGUFInfo)``.

    A file that is not a usable GGUF model is deleted rather than kept half-registered.
    """

    dest = paths.ensure_dir(paths.models_dir() / repo.replace("/", "--"))
    final: Path | None = None
    for ev in download(
        repo, filename, dest, revision=revision, sha256=sha256, size=size, cancel=cancel
    ):
        if isinstance(ev, Path):
            final = ev
        else:
            yield ev
    assert final is not None
    try:
        info = read_gguf(final)
        if info.gguf_type == "adapter":
            raise ModelError(f"{filename} is a LoRA adapter, not a model", hint="pick a model file")
    except ModelError:
        final.unlink(missing_ok=True)
        raise
    with transaction(conn):
        added = Registry(conn).add(final, name, source="pulled", repo=repo, info=info)
    yield added
