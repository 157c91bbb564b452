"""Download one file from a Hugging Face compatible hub, resumably and verified.

huggingface_hub 2.x downloads into a process-unique temporary file and deletes it when the
download fails, so a 2.5 GB model interrupted at 90% starts again from zero. We keep the hub's
own metadata call (``get_hf_file_metadata``: commit, ETag, size, redirect target, hub error
types) and do the transfer ourselves into ``<file>.part`` with HTTP Range requests:

* a stopped download (Ctrl-C, network loss, crash) continues where it stopped on the next run,
  as long as the file's ETag on the hub has not changed (recorded in ``<file>.part.json``);
* transient failures (connection drops, 5xx, 429) are retried in place, resuming by Range;
* the finished file is checked against the hub's size and, for LFS files whose ETag is the
  content's SHA-256, against that hash, before it takes its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from ..errors import UserFacingError
from .cache import PART_SUFFIX

CHUNK_SIZE = 1 << 20
CONNECT_TIMEOUT_SECONDS = 15.0
READ_TIMEOUT_SECONDS = 60.0
DOWNLOAD_ATTEMPTS = 5
RETRY_BASE_DELAY_SECONDS = 2.0
RETRY_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(UserFacingError):
    """A download failed; what was already fetched is kept for the next attempt."""


class TransientDownloadError(DownloadError):
    """The connection or the server failed in a way that retrying may fix."""


class TransferProgress(Protocol):
    """Receives progress of one file at a time."""

    def start(self, label: str, *, total: int | None, completed: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """A ``TransferProgress`` that shows nothing."""

    def start(self, label: str, *, total: int | None, completed: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True)
class RemoteFile:
    """What the hub says about one file at one revision."""

    url: str  # where to GET the bytes (after the hub's redirect)
    commit: str
    etag: str
    size: int | None


@dataclass(frozen=True)
class TransferResult:
    path: Path
    bytes_downloaded: int  # this run only; a resumed download counts the rest
    resumed_from: int


def part_paths(dest: Path) -> tuple[Path, Path]:
    """The partial file and its state record for ``dest``."""
    part = dest.with_name(dest.name + PART_SUFFIX)
    return part, part.with_name(part.name + ".json")


def _read_state(state_path: Path) -> dict:
    try:
        return json.loads(state_path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _hash_existing(path: Path, upto: int) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        remaining = upto
        while remaining > 0:
            block = handle.read(min(CHUNK_SIZE, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest


def _auth_headers(url: str, endpoint: str, headers: dict[str, str]) -> dict[str, str]:
    """Keep credentials only for the hub itself, never for a CDN it redirects to."""
    if urlsplit(url).netloc == urlsplit(endpoint).netloc:
        return dict(headers)
    return {k: v for k, v in headers.items() if k.lower() != "authorization"}


@dataclass
class _Running:
    """The state of one file's transfer across attempts (a restart replaces the hash)."""

    digest: Any
    written: int = 0


def _range_start(response: httpx.Response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _fetch_once(client: httpx.Client, remote: RemoteFile, part: Path, headers: dict[str, str],
                running: _Running, progress: TransferProgress) -> None:
    """One GET from the current end of ``part``, appending to it and to the running hash."""
    offset = part.stat().st_size
    # Compressed transfer would make byte offsets meaningless for Range resumption.
    request_headers = {**headers, "Accept-Encoding": "identity"}
    if offset:
        request_headers["Range"] = f"bytes={offset}-"
    try:
        with client.stream("GET", remote.url, headers=request_headers) as response:
            if response.status_code == 416 and remote.size is not None and offset == remote.size:
                return  # already complete; the server has nothing more
            if response.status_code in RETRY_STATUS_CODES:
                raise TransientDownloadError(f"the server answered {response.status_code}")
            if response.status_code not in (200, 206):
                raise DownloadError(f"the server answered {response.status_code} for {remote.url}")
            if response.status_code == 206 and _range_start(response) not in (None, offset):
                raise DownloadError(f"the server sent the wrong part of {remote.url}")
            mode = "ab"
            if offset and response.status_code == 200:
                # The server ignored our Range header and sends the whole file again.
                offset, mode, running.digest = 0, "wb", hashlib.sha256()
            progress.start(part.name[: -len(PART_SUFFIX)], total=remote.size, completed=offset)
            with part.open(mode) as handle:
                # Write pieces as they arrive, so a dropped connection loses nothing received.
                for chunk in response.iter_bytes():
                    handle.write(chunk)
                    running.digest.update(chunk)
                    running.written += len(chunk)
                    progress.advance(len(chunk))
    except httpx.TransportError as exc:
        raise TransientDownloadError(f"the connection failed ({exc.__class__.__name__}: {exc})") \
            from None
    finally:
        progress.finish()


def download_file(remote: RemoteFile, dest: Path, *, endpoint: str, headers: dict[str, str],
                  progress: TransferProgress | None = None,
                  attempts: int = DOWNLOAD_ATTEMPTS) -> TransferResult:
    """Fetch ``remote`` into ``dest``, resuming a ``.part`` left by an earlier run.

    Raises ``DownloadError`` (keeping the partial file) when the transfer cannot be completed,
    or when the result fails verification (then the partial file is removed: it is wrong).
    """
    progress = progress or NoProgress()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, state_path = part_paths(dest)
    state = _read_state(state_path)
    existing = part.stat().st_size if part.exists() else 0
    if existing and (state.get("etag") != remote.etag
                     or (remote.size is not None and existing > remote.size)):
        part.unlink()  # a different version of the file: its bytes cannot be continued
        existing = 0
    state_path.write_text(json.dumps({"etag": remote.etag, "commit": remote.commit,
                                      "size": remote.size}), "utf-8")
    part.touch()
    running = _Running(digest=_hash_existing(part, existing))
    timeout = httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    already_complete = remote.size is not None and existing == remote.size
    with httpx.Client(follow_redirects=True, timeout=timeout) as client:
        for attempt in range(1, 0 if already_complete else attempts + 1):
            try:
                _fetch_once(client, remote, part, _auth_headers(remote.url, endpoint, headers),
                            running, progress)
                break
            except TransientDownloadError as exc:
                if attempt == attempts:
                    raise DownloadError(
                        f"downloading {dest.name} failed after {attempts} attempts: {exc.message}",
                        hint=f"{part.stat().st_size} bytes are kept; running the same command "
                             "again resumes from there.") from None
                time.sleep(RETRY_BASE_DELAY_SECONDS * 2 ** (attempt - 1))
    _verify(part, state_path, remote, running.digest, dest.name)
    os.replace(part, dest)
    state_path.unlink(missing_ok=True)
    return TransferResult(path=dest, bytes_downloaded=running.written, resumed_from=existing)


def _verify(part: Path, state_path: Path, remote: RemoteFile, digest: Any, name: str) -> None:
    size = part.stat().st_size if part.exists() else 0
    problem = None
    if remote.size is not None and size != remote.size:
        problem = f"it has {size} bytes, the hub says {remote.size}"
    elif _SHA256.fullmatch(remote.etag.lower()) and digest.hexdigest() != remote.etag.lower():
        problem = "its SHA-256 does not match the hub's"
    if problem is not None:
        part.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)
        raise DownloadError(f"the downloaded {name} is damaged ({problem}); it was deleted",
                            hint="Run the same command again to download it afresh.")
