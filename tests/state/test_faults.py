"""A failing disk loses nothing accepted: real SQLite on real small file systems that fail for real.

- ext4's shutdown ioctl (every I/O fails with EIO, as a dying disk): writes
  fail, SQLite soon calls the file "malformed", yet nothing is moved aside;
  changes are refused (NotSaved) and not applied; the status says since when
  nothing is saved; after a remount ("repaired disk") a restart has the
  adjustment and setting made before the fault, and the period total equals
  what the kernel counters moved.
- a full tmpfs (ENOSPC): a routine flush that does not fit fails and keeps its
  batch, a large import is refused; once space is freed the next flush writes
  the whole state and the import goes through.
- precious changes are committed with synchronous=FULL; routine flushes not.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from trafficmon.capture.model import Snapshot, Usage
from trafficmon.state import Accountant, NotSaved
from trafficmon.state.store import DB_FILE
from tests.support.filesystems import Ext4Image, Tmpfs, ext4, small_tmpfs  # noqa: F401 - fixtures
from tests.state.fakes import FakeClock, FakeCounters

MB = 1_000_000

Open = Callable[..., Accountant]


def traffic(acc: Accountant, clock: FakeClock, counters: FakeCounters, sent: int) -> bool:
    """`sent` bytes go out over a minute; the accountant polls and flushes (True: the flush landed)."""
    clock.now += 60
    counters.add(sent)
    acc.poll()
    return acc.flush()


def usage_tick(acc: Accountant, rows: int, seq: int) -> None:
    """One engine tick with `rows` distinct remote hosts (breakdown rows the flush must write)."""
    acc.on_snapshot(Snapshot(
        seq=seq, timestamp=0, started=0, interval=1,
        usage=tuple(Usage("app", "app --serve", 1, f"10.{seq}.{i // 256}.{i % 256}", "tcp", 1000, 0)
                    for i in range(rows)),
    ))


def test_an_io_error_is_not_corruption_and_loses_nothing_accepted(
    ext4: Ext4Image, open_accountant: Open, clock: FakeClock, counters: FakeCounters, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = ext4.mount / "data"
    acc = open_accountant(data_dir=data_dir)
    acc.adjust("add", 5 * MB, "before the fault")
    acc.update_settings({"warning_percent": 70})
    assert traffic(acc, clock, counters, 10 * MB)

    ext4.shut_down()
    with caplog.at_level(logging.ERROR):
        flushed = [traffic(acc, clock, counters, 3 * MB) for _ in range(3)]
    assert flushed == [False, False, False]
    status = acc.status().to_dict()
    assert (status["persistent"], status["moved_aside"]) == (False, None)
    assert status["unsaved_since"] is not None and status["flush_error"]
    assert "malformed" not in status["flush_error"] or "cannot be read" in status["flush_error"]
    assert "CORRUPT" not in caplog.text and "moved it to" not in caplog.text

    before = (acc.period().to_dict(), acc.audit(), acc.settings())
    with pytest.raises(NotSaved, match="the adjustment was not saved"):
        acc.adjust("add", 7 * MB, "during the fault")
    with pytest.raises(NotSaved, match="the settings change was not saved"):
        acc.update_settings({"warning_percent": 60})
    with pytest.raises(NotSaved):
        acc.import_state(acc.export_state())
    assert (acc.period().to_dict(), acc.audit(), acc.settings()) == before
    acc.stop()

    ext4.remount()
    assert sorted(p.name for p in data_dir.iterdir() if ".corrupt-" in p.name) == []
    again = open_accountant(data_dir=data_dir)
    assert [entry.note for entry in again.audit()] == ["before the fault"]
    assert again.settings().warning_percent == 70
    assert again.period().to_dict()["outbound"] == 19 * MB  # the counters carried what was not saved
    assert again.period().to_dict()["counted"] == 24 * MB
    assert again.status().to_dict()["persistent"] is True


def test_a_full_disk_keeps_every_batch_and_refuses_what_does_not_fit(
    small_tmpfs: Tmpfs, open_accountant: Open, clock: FakeClock, counters: FakeCounters
) -> None:
    data_dir = small_tmpfs.mount / "data"
    acc = open_accountant(data_dir=data_dir)
    assert traffic(acc, clock, counters, 1 * MB)
    document = acc.export_state()
    small_tmpfs.fill()

    usage_tick(acc, 3000, seq=1)  # more rows than the WAL has room for
    assert traffic(acc, clock, counters, 2 * MB) is False
    assert "full" in acc.status().to_dict()["flush_error"]
    with pytest.raises(NotSaved, match="database or disk is full"):
        acc.import_state(document)
    assert acc.period().to_dict()["outbound"] == 3 * MB

    small_tmpfs.free()
    assert traffic(acc, clock, counters, 1 * MB) is True
    assert acc.status().to_dict()["persistent"] is True and acc.status().to_dict()["unsaved_since"] is None
    acc.stop()
    again = open_accountant(data_dir=data_dir)
    assert again.period().to_dict()["outbound"] == 4 * MB
    assert len(again.hosts(limit=5000)) > 3000 - 100  # the breakdown rows written once there was room
    assert again.import_state(document).outbound == 1 * MB


def test_precious_changes_commit_with_synchronous_full(
    open_accountant: Open, tmp_path: Path, clock: FakeClock, counters: FakeCounters
) -> None:
    statements: list[str] = []
    acc = open_accountant(data_dir=tmp_path / "data", sql_trace=statements.append)
    statements.clear()  # what opening the store ran

    def synchronous_of_commits() -> list[str]:
        modes, mode = [], "NORMAL"
        for statement in statements:
            if statement.startswith("PRAGMA synchronous="):
                mode = statement.split("=")[1]
            elif statement == "COMMIT":
                modes.append(mode)
        statements.clear()
        return modes

    assert traffic(acc, clock, counters, 1 * MB)
    assert synchronous_of_commits() == ["NORMAL"]
    acc.adjust("add", 1, "kept through a power cut")
    assert synchronous_of_commits() == ["FULL"]
    acc.update_settings({"warning_percent": 75})
    assert synchronous_of_commits() == ["FULL"]
    acc.import_state(acc.export_state())
    assert synchronous_of_commits() == ["FULL"]
    assert traffic(acc, clock, counters, 1 * MB)
    assert synchronous_of_commits() == ["NORMAL"]
    with sqlite3.connect(tmp_path / "data" / DB_FILE) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
