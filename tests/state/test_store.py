"""The SQLite store with real files: crashes, corruption, migration, export and import."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trafficmon.capture.model import Snapshot, Usage
from trafficmon.state import Accountant, AccountingConfig, ValidationError
from trafficmon.state.datadir import DataDirUnusable
from trafficmon.state.schema import SCHEMA_VERSION
from trafficmon.state.store import DB_FILE, check_data_dir
from tests.state import flush_child
from tests.state.fakes import FakeClock, FakeCounters, at

OpenAccountant = Callable[..., Accountant]
MB = 10**6
ROOT = Path(__file__).resolve().parents[2]

# The first schema version, exactly as it was created (kept here, not imported,
# so the test keeps proving the migration from what real v1 files contain).
V1_DDL = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE periods (start_ts REAL PRIMARY KEY, end_ts REAL NOT NULL,"
    " outbound INTEGER NOT NULL, inbound INTEGER NOT NULL, offset_bytes INTEGER NOT NULL,"
    " cap_bytes INTEGER NOT NULL, closed INTEGER NOT NULL)",
    "CREATE TABLE daily (day TEXT PRIMARY KEY, outbound INTEGER NOT NULL,"
    " inbound INTEGER NOT NULL)",
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, time REAL NOT NULL,"
    " period_start REAL NOT NULL, mode TEXT NOT NULL, amount INTEGER NOT NULL,"
    " old_offset INTEGER NOT NULL, new_offset INTEGER NOT NULL, note TEXT NOT NULL)",
)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("delay", [0.0005, 0.002, 0.004])
def test_kill_9_mid_flush_loses_nothing_of_the_period_totals(tmp_path: Path, delay: float) -> None:
    data_dir = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.state.flush_child", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    committed = 0
    try:
        while True:
            line = child.stdout.readline()
            assert line, f"child died: {child.stderr.read()}"
            kind, loop = line.split()
            if kind == "flushed":
                committed = int(loop)
            elif committed >= 10:
                time.sleep(delay)  # into the transaction of flush `loop`
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    db = data_dir / DB_FILE
    assert query(db, "PRAGMA integrity_check") == [("ok",)]

    # Reopen in the same boot, much later: the totals come back exactly from the counters.
    clock = FakeClock(flush_child.START + 10_000)
    counters = FakeCounters(clock, booted_at=flush_child.START - 100, sent=10**9, recv=10**8)
    config = AccountingConfig(data_dir=data_dir, timezone="UTC", max_hosts=flush_child.HOSTS + 10)
    accountant = Accountant(config, clock=clock, counters=counters)
    accountant.start(background=False)
    try:
        period = accountant.period().to_dict()
        assert (period["outbound"], period["inbound"]) == (10**9 - flush_child.FIRST_SENT, 10**8)
        # The breakdown is one flush's consistent state: the last committed one or the next.
        hosts = accountant.hosts(flush_child.HOSTS)
        flushed = {h.sent for h in hosts}
        assert len(hosts) == flush_child.HOSTS and len(flushed) == 1
        loops = flushed.pop()
        assert loops in (committed, committed + 1)
        assert [p.to_dict() for p in accountant.processes()] == [
            {
                "name": "worker",
                "bytes_sent": loops * flush_child.HOSTS,
                "bytes_received": 0,
                "bytes_total": loops * flush_child.HOSTS,
            }
        ]
    finally:
        accountant.stop()


def test_garbage_file_is_moved_aside_and_a_fresh_database_started(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    garbage = b"\x00not a database\xff" * 1000
    (data_dir / DB_FILE).write_bytes(garbage)
    with caplog.at_level(logging.WARNING):
        acc = open_accountant()
    moved = [p for p in data_dir.iterdir() if ".corrupt-" in p.name]
    assert [p.name for p in moved] == ["traffic.db.corrupt-20240110T120000Z"]
    assert moved[0].read_bytes() == garbage
    assert "STATE DATABASE CORRUPT" in caplog.text and "(file is not a database); moved it to" in caplog.text
    assert "could not export the old state database" in caplog.text
    assert acc.status().to_dict()["persistent"] is True
    assert acc.status().to_dict()["moved_aside"] == {
        "moved_to": str(moved[0]), "reason": "file is not a database", "time": "2024-01-10T12:00:00+00:00"
    }
    clock.now += 60
    counters.add(5 * MB)
    acc.stop()
    again = open_accountant()
    assert again.period().to_dict()["outbound"] == 5 * MB
    assert query(data_dir / DB_FILE, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_partly_damaged_database_is_exported_before_it_is_replaced(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    acc = open_accountant()
    acc.on_snapshot(
        Snapshot(
            seq=1,
            timestamp=0,
            started=0,
            interval=1,
            usage=tuple(
                Usage("app", "app", 1, f"10.1.{i // 256}.{i % 256}", "tcp", 100, 0)
                for i in range(3000)
            ),
        )
    )
    clock.now += 60
    counters.add(7 * MB)
    acc.stop()
    db = tmp_path / "data" / DB_FILE
    page = query(db, "PRAGMA page_size")[0][0]
    pages = db.stat().st_size // page
    with db.open("r+b") as handle:  # the last pages hold the breakdown rows
        handle.seek((pages - 3) * page)
        handle.write(b"\xde\xad" * page)
    clock.now += 60
    with caplog.at_level(logging.WARNING):
        fresh = open_accountant()
    # Which check trips first depends on the page layout: either way it is moved aside.
    assert "STATE DATABASE CORRUPT: " in caplog.text
    assert "integrity check failed" in caplog.text or "disk image is malformed" in caplog.text
    exported = json.loads(next((tmp_path / "data").glob("*.export.json")).read_text())
    periods = exported["tables"]["periods"]
    assert [(p["outbound"], p["closed"]) for p in periods] == [(7 * MB, 0)]
    assert fresh.period().to_dict()["outbound"] == 0
    assert fresh.status().to_dict()["counter_events"][0]["kind"] == "first"


def test_database_from_a_newer_version_is_moved_aside_not_opened(
    open_accountant: OpenAccountant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / DB_FILE)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with caplog.at_level(logging.WARNING):
        open_accountant()
    assert "schema version 99 is newer than this trafficmon's 2" in caplog.text
    export = json.loads(next(data_dir.glob("*.export.json")).read_text())
    assert export["tables"] == {"future": []}


def test_unusable_data_dir_stops_the_start_with_no_state_in_memory(
    make_config: Callable[..., AccountingConfig], clock: FakeClock, counters: FakeCounters, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    acc = Accountant(make_config(data_dir=blocker), clock=clock, counters=counters)
    with pytest.raises(DataDirUnusable, match=rf"^DATA_DIR {blocker} is not usable: Not a directory$"):
        acc.start(background=False)
    assert acc.status().to_dict()["running"] is False
    assert acc.flush() is False


def test_the_check_passes_a_damaged_database_for_the_store_to_move_aside(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / DB_FILE).write_bytes(b"\x00not a database\xff" * 100)
    check_data_dir(data_dir)
    assert sorted(p.name for p in data_dir.iterdir()) == [DB_FILE], "the probe file is gone"


def test_the_check_refuses_a_database_another_connection_holds_locked(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    holder = sqlite3.connect(data_dir / DB_FILE, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        # SQLite waits out its busy timeout (5 s) before it gives up.
        with pytest.raises(DataDirUnusable, match=r"is not usable: cannot write traffic.db: database is locked$"):
            check_data_dir(data_dir)
    finally:
        holder.close()
    check_data_dir(data_dir)


def test_first_schema_version_is_migrated(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = data_dir / DB_FILE
    counters.sent, counters.recv = 1_000, 2_000
    baseline = {
        "boot_id": counters.boot_id,
        "uptime": clock.now - 3600 - counters.booted_at,
        "time": clock.now - 3600,
        "interfaces": {"eth0": [1_000, 2_000]},
        "selection": [],
    }
    conn = sqlite3.connect(db)
    for statement in V1_DDL:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('counters', ?)", (json.dumps(baseline),))
    conn.executemany(
        "INSERT INTO periods VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (at("2023-12-01"), at("2024-01-01"), 300 * MB, 30 * MB, 0, 500 * 10**9, 1),
            (at("2024-01-01"), at("2024-02-01"), 100 * MB, 10 * MB, 5 * MB, 500 * 10**9, 0),
        ],
    )
    conn.execute("INSERT INTO daily VALUES ('2024-01-09', 100000000, 10000000)")
    conn.execute(
        "INSERT INTO audit VALUES (1, ?, ?, 'add', 5000000, 0, 5000000, 'from the old tool')",
        (at("2024-01-05"), at("2024-01-01")),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    counters.add(50 * MB, 4 * MB)  # moved during the hour since the v1 baseline
    acc = open_accountant()
    assert query(db, "PRAGMA user_version") == [(2,)]
    period = acc.period().to_dict()
    assert (period["outbound"], period["inbound"], period["offset"], period["counted"]) == (
        150 * MB,
        14 * MB,
        5 * MB,
        155 * MB,
    )
    december = acc.months()[1].to_dict()
    assert (december["start"], december["outbound"], december["peak_day"]) == (
        "2023-12-01T00:00:00+00:00",
        300 * MB,
        None,
    )
    assert [(d.date, d.outbound) for d in acc.daily(2)] == [
        ("2024-01-09", 100 * MB),
        ("2024-01-10", 50 * MB),
    ]
    assert [entry.to_dict() for entry in acc.audit()] == [
        {
            "id": 1,
            "time": "2024-01-05T00:00:00+00:00",
            "period_start": "2024-01-01T00:00:00+00:00",
            "mode": "add",
            "bytes": 5 * MB,
            "old_offset": 0,
            "new_offset": 5 * MB,
            "old_counted": None,
            "new_counted": None,
            "note": "from the old tool",
        }
    ]
    acc.adjust("add", 1 * MB, "after the migration")
    acc.stop()
    assert query(db, "SELECT id, old_counted, new_counted FROM audit ORDER BY id") == [
        (1, None, None),
        (2, 155 * MB, 156 * MB),
    ]


def _rich_state(acc: Accountant, clock: FakeClock, counters: FakeCounters) -> None:
    """Traffic over a period boundary, adjustments, events, a breakdown, history."""
    clock.now = at("2024-01-31 23:00", "Europe/Berlin")
    acc.poll()
    acc.on_snapshot(
        Snapshot(
            seq=1,
            timestamp=0,
            started=0,
            interval=1,
            usage=(Usage("sshd", "sshd: admin", 7, "192.0.2.10", "tcp", 1_000, 2_000),),
        )
    )
    for _ in range(4):
        clock.now += 1800
        counters.add(450 * MB, 20 * MB)
        acc.poll()
    clock.now += 0.123456
    acc.adjust("add", 12_345, "billing says a bit more")
    acc.on_snapshot(
        Snapshot(
            seq=2,
            timestamp=0,
            started=0,
            interval=1,
            usage=(
                Usage("nginx", "nginx: worker", 8, "198.51.100.3", "tcp", 5_000, 600),
                Usage("unknown", "", None, "198.51.100.3", "udp", 70, 7),
                Usage("unknown", "", None, "203.0.113.1", "tcp", -10, 0),
            ),
        )
    )


def test_export_then_import_round_trip(
    make_config: Callable[..., AccountingConfig],
    clock: FakeClock,
    counters: FakeCounters,
    tmp_path: Path,
) -> None:
    config = make_config(cap_gb=1, timezone="Europe/Berlin")
    source = Accountant(config, clock=clock, counters=counters)
    source.start(background=False)
    _rich_state(source, clock, counters)
    exported = source.export_state()
    assert exported["period"]["start"] == "2024-02-01T00:00:00+01:00"
    assert [m["outbound"] for m in exported["months"]] == [900 * MB]
    assert [(e["level"], e["period_start"]) for e in exported["thresholds"]] == [
        ("warning", "2024-01-01T00:00:00+01:00"),
        ("warning", "2024-02-01T00:00:00+01:00"),
    ]
    assert exported["audit"][0]["time"] == "2024-02-01T01:00:00.123456+01:00"
    assert exported["months"][0]["top"]["process"] == [
        {"name": "sshd", "bytes_sent": 1_000, "bytes_received": 2_000, "bytes_total": 3_000}
    ]
    assert json.loads(json.dumps(exported)) == exported
    source.stop()

    target_config = make_config(cap_gb=1, timezone="Europe/Berlin", data_dir=tmp_path / "other")
    target = Accountant(target_config, clock=clock, counters=counters)
    target.start(background=False)
    assert target.export_state() != exported
    summary = target.import_state(exported)
    assert (summary.outbound, summary.offset) == (900 * MB, 12_345)
    assert target.export_state() == exported
    assert [p.to_dict() for p in target.processes()] == [
        {"name": "nginx", "bytes_sent": 5_000, "bytes_received": 600, "bytes_total": 5_600}
    ]
    target.stop()

    reopened = Accountant(target_config, clock=clock, counters=counters)
    reopened.start(background=False)
    assert reopened.export_state() == exported
    assert [a.note for a in reopened.audit()] == ["billing says a bit more"]
    reopened.stop()


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], Any], str]]:
    def set_(path: list[Any], value: Any) -> Callable[[dict[str, Any]], Any]:
        def apply(doc: dict[str, Any]) -> None:
            target = doc
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return apply

    def duplicate_audit(doc: dict[str, Any]) -> None:
        doc["audit"].append(dict(doc["audit"][0]))

    def future(doc: dict[str, Any]) -> None:
        doc["period"]["start"] = "2031-01-01T00:00:00+01:00"
        doc["period"]["end"] = "2031-02-01T00:00:00+01:00"

    def overlap(doc: dict[str, Any]) -> None:
        doc["months"][0]["end"] = "2024-02-15T00:00:00+01:00"

    return [
        ("negative total", set_(["period", "outbound"], -1), "period.outbound"),
        ("bad date", set_(["daily", 0, "date"], "2024-13-01"), "daily[0].date"),
        ("wrong version", set_(["version"], 2), "version"),
        ("unknown field", set_(["surprise"], True), "surprise"),
        ("future period", future, "period.start"),
        ("overlapping months", overlap, "months[0].end"),
        (
            "text for bytes",
            set_(["breakdown", "process", 0, "bytes_sent"], "many"),
            "breakdown.process[0].bytes_sent",
        ),
        ("duplicate audit id", duplicate_audit, "audit[1].id"),
        ("unknown level", set_(["thresholds", 0, "level"], "panic"), "thresholds[0].level"),
        ("offset below zero", set_(["period", "offset"], -(10**12)), "period.offset"),
        ("naive time", set_(["audit", 0, "time"], "2024-02-01T00:00:00"), "audit[0].time"),
    ]


@pytest.mark.parametrize(
    ("case", "mutate", "field"), _mutations(), ids=[m[0] for m in _mutations()]
)
def test_invalid_import_is_rejected_with_nothing_changed(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    case: str,
    mutate: Callable[[dict[str, Any]], Any],
    field: str,
) -> None:
    acc = open_accountant(cap_gb=1, timezone="Europe/Berlin")
    _rich_state(acc, clock, counters)
    before = acc.export_state()
    doc = copy.deepcopy(before)
    doc["period"]["outbound"] = 1  # a valid change that must not slip through either
    mutate(doc)
    with pytest.raises(ValidationError) as refused:
        acc.import_state(doc)
    assert refused.value.field == field
    assert acc.export_state() == before
    acc.stop()
    assert open_accountant(cap_gb=1, timezone="Europe/Berlin").export_state() == before


def test_import_of_something_that_is_not_a_document(open_accountant: OpenAccountant) -> None:
    acc = open_accountant()
    for value, field in [([], "document"), ({"format": "x"}, "version")]:
        with pytest.raises(ValidationError) as refused:
            acc.import_state(value)
        assert refused.value.field == field
