"""A child process that accounts and flushes as fast as it can, to be killed with SIGKILL.

Run as ``python -m tests.state.flush_child DATA_DIR``. Each loop moves the fake
clock one second, the fake counters by 1500/100 bytes and adds one byte sent to
each of HOSTS remote hosts, then polls and flushes. It prints "flushing N"
before flush N and "flushed N" once it committed, so the parent can aim its
kill into a flush (a few milliseconds of SQLite writes).
"""

from __future__ import annotations

import sys
from pathlib import Path

from trafficmon.capture.model import Snapshot, Usage
from trafficmon.state import Accountant, AccountingConfig
from tests.state.fakes import FakeClock, FakeCounters, at

START = at("2024-01-10 12:00")
FIRST_SENT = 1_000
HOSTS = 2_000
SENT_PER_LOOP = 1_500
RECV_PER_LOOP = 100


def main(data_dir: Path) -> None:
    clock = FakeClock(START)
    counters = FakeCounters(clock, booted_at=START - 100, sent=FIRST_SENT)
    config = AccountingConfig(data_dir=data_dir, timezone="UTC", max_hosts=HOSTS + 10)
    accountant = Accountant(config, clock=clock, counters=counters)
    accountant.start(background=False)
    usage = tuple(
        Usage("worker", "worker --all", 42, f"10.9.{i // 256}.{i % 256}", "tcp", 1, 0)
        for i in range(HOSTS)
    )
    loop = 0
    while True:
        loop += 1
        clock.now += 1
        counters.add(SENT_PER_LOOP, RECV_PER_LOOP)
        accountant.on_snapshot(
            Snapshot(seq=loop, timestamp=clock.now, started=START, interval=1.0, usage=usage)
        )
        accountant.poll()
        print("flushing", loop, flush=True)
        if not accountant.flush():
            raise SystemExit("flush failed")
        print("flushed", loop, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
