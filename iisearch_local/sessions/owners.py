"""Who is recording a session, and whether that process is still alive.

A process that records sessions holds an exclusive lock on a small file of its own in the
``<database>.owners`` folder; the operating system drops the lock when the process dies, however
it dies (``kill -9`` included), and never hands it to a process that merely reuses the pid. A
running session whose owner's lock can be taken was left behind by a dead process.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import IO

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def _try_lock(handle: IO[str]) -> bool:
    """Take the exclusive lock without waiting; False when someone else holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(handle: IO[str]) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        else:  # pragma: no cover
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    except OSError:
        pass


class OwnerLock:
    """This store's claim on the sessions it records; taken on first use, released by ``close``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.token = uuid.uuid4().hex
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> str:
        """Hold the lock (idempotent); returns the token stored with the sessions."""
        if self._handle is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / f"{self.token}.lock", "a+", encoding="utf-8")
            if not _try_lock(handle):  # a fresh random name: nobody else can hold it
                handle.close()
                raise OSError(f"could not lock {handle.name}")
            handle.write(str(os.getpid()))
            handle.flush()
            self._handle = handle
        return self.token

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        _unlock(handle)
        handle.close()
        try:
            (self.folder / f"{self.token}.lock").unlink()
        except OSError:
            pass


def owner_alive(folder: Path, token: str | None) -> bool:
    """Whether the process that took ``token``'s lock still holds it."""
    if not token:
        return False
    path = folder / f"{token}.lock"
    try:
        handle = open(path, "r+", encoding="utf-8")
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: never declare a live session dead
    with handle:
        if not _try_lock(handle):
            return True
        _unlock(handle)
    try:
        path.unlink()  # the owner is gone; its file is litter now
    except OSError:
        pass
    return False
