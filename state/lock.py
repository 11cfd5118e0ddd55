"""One trafficmon per DATA_DIR.

Two services sharing a DATA_DIR would each count the kernel counters from
their own baseline and overwrite each other's flushes: the period total would
end up as whichever wrote last, and offsets set through one would vanish
under the other. So the composition root holds an exclusive `flock` on
`DATA_DIR/lock` for as long as it runs. The kernel drops the lock when the
process ends however it ends (kill -9 included), so a crash never leaves a
stale lock behind; the pid written into the file only serves the message.

The lock is the first thing written to DATA_DIR at start, so it is also where
a DATA_DIR that cannot be written is first refused (`DataDirUnusable`).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trafficmon.state.datadir import PRIVATE_FILE, DataDirUnusable, error_text, make_data_dir

LOCK_FILE = "lock"


class DataDirBusy(Exception):
    """Another process holds DATA_DIR."""


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold DATA_DIR exclusively for the body.

    Raises DataDirBusy when another process has it, DataDirUnusable when the
    lock file cannot be created or written.
    """
    make_data_dir(data_dir)
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    except OSError as exc:
        raise DataDirUnusable(data_dir, f"cannot open {LOCK_FILE} for writing: {error_text(exc)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise DataDirBusy(
                f"DATA_DIR {data_dir} is in use by another trafficmon{who}; "
                "give each instance its own DATA_DIR"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            raise DataDirUnusable(data_dir, f"cannot write {LOCK_FILE}: {error_text(exc)}") from None
        yield
    finally:
        os.close(fd)
