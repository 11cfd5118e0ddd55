"""Writes to one file as another process makes them, seen through inotify (no package: libc's three calls).

The crash test aims a SIGTERM at a flush in progress: the service's flush is
a run of write() calls to the database's WAL file, and inotify reports each
one (IN_MODIFY) as it happens, so the test can signal the service the moment
a flush starts writing and tell whether writes of it were still to come.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import time
from pathlib import Path
from types import TracebackType

IN_MODIFY = 0x00000002
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")
"""struct inotify_event without its name: wd, mask, cookie, len (of the name that follows)."""

_libc = ctypes.CDLL(None, use_errno=True)


class Writes:
    """IN_MODIFY events of `path` (which must exist), read as they come; a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if _libc.inotify_add_watch(self._fd, os.fsencode(path), IN_MODIFY) < 0:
            errno = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(errno, f"cannot watch {path}")

    def __enter__(self) -> Writes:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        os.close(self._fd)

    def _take(self) -> int:
        """How many events are waiting (read and dropped); 0 when none."""
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return 0
        count = offset = 0
        while offset < len(data):
            _, _, _, name_len = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + name_len
            count += 1
        return count

    def drain(self) -> None:
        """Forget the writes seen so far."""
        while self._take():
            pass

    def next_write(self, timeout: float) -> float | None:
        """Wait for the next write; the monotonic time it was seen, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self._take():
                return time.monotonic()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([self._fd], [], [], left)

    def writes_within(self, seconds: float) -> int:
        """How many writes come in the next `seconds` (consecutive identical events count once: inotify merges them)."""
        deadline = time.monotonic() + seconds
        seen = 0
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._fd], [], [], left)
            if readable:
                seen += self._take()
        return seen
