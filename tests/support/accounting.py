"""What the state tests share: a fake-clocked accountant moved on, the SQLite file read behind its back, DATA_DIR held by another process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.state.fakes import FakeClock, FakeCounters
from tests.support.peers import ROOT
from trafficmon.state import Accountant, ThresholdEvent


def advance(
    accountant: Accountant,
    clock: FakeClock,
    counters: FakeCounters,
    seconds: float,
    sent: int = 0,
    recv: int = 0,
) -> list[ThresholdEvent]:
    clock.now += seconds
    counters.add(sent, recv)
    return accountant.poll()


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


HOLDER = """
import sys, time
from pathlib import Path
from trafficmon.state.lock import data_dir_lock
with data_dir_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@contextmanager
def held(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the lock on `data_dir`; killed at the end."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "held\n"
            yield proc
        finally:
            proc.kill()
