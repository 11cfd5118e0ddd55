"""Whether DATA_DIR can keep the traffic state, found out by using it.

A cap keeper that cannot write its state loses the month at the next restart,
so an unusable DATA_DIR stops the start (exit 2, one line naming the path and
the reason) instead of running on memory. `os.access` is not asked: it looks
at mode bits for the real uid only, says yes to root for nearly everything,
and knows nothing of a read-only mount or a full file system. Instead the
directory is made, and a file in it created, written, fsynced and removed, as
the store's database, its WAL and the lock will be.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
"""The state holds command lines (which can carry secrets) and traffic habits."""

PROBE_FILE = ".write-probe"
_PROBE_BYTES = b"\0" * 4096  # one page: a full file system refuses it even where an empty file fits


class DataDirUnusable(Exception):
    """DATA_DIR cannot keep the state; the message names the path and the reason, on one line."""

    def __init__(self, data_dir: Path, reason: str) -> None:
        super().__init__(f"DATA_DIR {data_dir} is not usable: {reason}")
        self.data_dir = data_dir
        self.reason = reason


def error_text(exc: OSError) -> str:
    """The system's words for an OSError, without the errno number and path Python adds."""
    return exc.strerror or str(exc)


def make_data_dir(data_dir: Path) -> None:
    """Create DATA_DIR (and its parents) private to the service unless it exists."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    except FileExistsError:  # exists, and is not a directory
        raise DataDirUnusable(data_dir, os.strerror(errno.ENOTDIR)) from None
    except OSError as exc:
        raise DataDirUnusable(data_dir, error_text(exc)) from None


def probe_writable(data_dir: Path) -> None:
    """Create, write, fsync and remove a file in DATA_DIR; DataDirUnusable naming what failed."""
    make_data_dir(data_dir)
    path = data_dir / PROBE_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    except OSError as exc:
        raise DataDirUnusable(data_dir, f"cannot create a file in it: {error_text(exc)}") from None
    try:
        try:
            os.write(fd, _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise DataDirUnusable(data_dir, f"cannot write a file in it: {error_text(exc)}") from None
    try:
        path.unlink()
    except OSError as exc:
        raise DataDirUnusable(data_dir, f"cannot remove a file from it: {error_text(exc)}") from None
