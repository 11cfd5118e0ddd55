"""One trafficmon per DATA_DIR.

Two services sharing a DATA_DIR would each count the kernel counters from
their own baseline and overwrite each other's flushes: the period total would
end up as whichever wrote last, and offsets set through one would vanish
under the other. So the composition root holds an exclusive `flock` on
`DATA_DIR/lock` for as long as it runs. The kernel drops the lock when the
process ends however it ends (kill -9 included), so a crash never leaves a
stale lock behind; the pid written into the file only serves the message.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from state.store import PRIVATE_DIR, PRIVATE_FILE

log = logging.getLogger(__name__)

LOCK_FILE = "lock"


class DataDirBusy(Exception):
    """Another process holds DATA_DIR."""


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold DATA_DIR exclusively for the body; raises DataDirBusy when another process has it.

    A DATA_DIR where the lock file cannot even be created is not refused here:
    the store then runs in memory and says so (see `state.store`), and that is
    the clearer report of what is wrong.
    """
    path = data_dir / LOCK_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except OSError as exc:
        log.warning("cannot create %s (%s); running without the DATA_DIR lock", path, exc.strerror or exc)
        yield
        return
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
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
