"""The accountant end to end with an injected clock and counters and a real SQLite file."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trafficmon.capture.model import Snapshot, Usage
from trafficmon.state import Accountant, AccountingConfig, ThresholdEvent, ValidationError
from tests.state.fakes import FakeClock, FakeCounters, at
from tests.support.waiting import wait_until
from tests.support.accounting import advance, query

OpenAccountant = Callable[..., Accountant]
MB = 10**6
GB = 10**9


def snapshot(*usage: Usage) -> Snapshot:
    return Snapshot(seq=1, timestamp=0.0, started=0.0, interval=1.0, usage=usage)


def test_traffic_counts_from_the_first_reading(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    counters.add(7 * GB, 9 * GB)  # bytes before trafficmon ever ran are not this period's
    acc = open_accountant(cap_gb=1)
    advance(acc, clock, counters, 60, 100 * MB, 30 * MB)
    period = acc.period().to_dict()
    assert (period["outbound"], period["inbound"], period["counted"]) == (
        100 * MB,
        30 * MB,
        100 * MB,
    )
    assert (period["start"], period["end"]) == (
        "2024-01-01T00:00:00+00:00",
        "2024-02-01T00:00:00+00:00",
    )
    assert (period["cap_bytes"], period["cap_gb"], period["remaining"]) == (GB, 1.0, 900 * MB)
    assert (period["used_percent"], period["level"]) == (10.0, "ok")
    assert period["days_left"] == 21.5
    assert period["updated"] == "2024-01-10T12:01:00+00:00"


@pytest.mark.parametrize(("counts", "expected"), [("outbound", 100), ("both", 160), ("max", 100)])
def test_cap_counts_rule(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    counts: str,
    expected: int,
) -> None:
    acc = open_accountant(cap_counts=counts, cap_gb=1)
    advance(acc, clock, counters, 60, 100 * MB, 60 * MB)
    assert acc.period().to_dict()["counted"] == expected * MB
    advance(acc, clock, counters, 60, 0, 100 * MB)
    assert acc.period().to_dict()["counted"] == {"outbound": 100, "both": 260, "max": 160}[counts] * MB


@pytest.mark.parametrize(
    ("reset_day", "before", "boundary"),
    [
        (1, "2023-01-31 23:30", "2023-02-01 00:00"),
        (29, "2023-02-27 23:30", "2023-02-28 00:00"),
        (29, "2024-02-28 23:30", "2024-02-29 00:00"),
        (30, "2023-04-29 23:30", "2023-04-30 00:00"),
        (31, "2023-02-27 23:30", "2023-02-28 00:00"),
        (31, "2024-02-28 23:30", "2024-02-29 00:00"),
        (31, "2023-06-29 23:30", "2023-06-30 00:00"),
        (31, "2023-07-30 23:30", "2023-07-31 00:00"),
    ],
)
def test_month_rollover_archives_the_period_and_restarts_at_zero(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    reset_day: int,
    before: str,
    boundary: str,
) -> None:
    clock.now = at(before)
    acc = open_accountant(reset_day=reset_day)
    advance(acc, clock, counters, 900, 15 * MB, 1 * MB)
    acc.adjust("add", 5 * MB, "carried?")
    # One reading 15 min before and one 15 min after the boundary: half each side.
    advance(acc, clock, counters, 1800, 30 * MB, 2 * MB)
    period = acc.period().to_dict()
    assert period["start"] == boundary.replace(" ", "T") + ":00+00:00"
    assert (period["outbound"], period["inbound"], period["offset"], period["counted"]) == (
        15 * MB,
        1 * MB,
        0,
        15 * MB,
    )
    months = acc.months()
    assert [m.current for m in months] == [True, False]
    closed = months[1].to_dict()
    assert closed["end"] == period["start"]
    assert (closed["outbound"], closed["inbound"], closed["offset"], closed["counted"]) == (
        30 * MB,
        2 * MB,
        5 * MB,
        35 * MB,
    )
    assert closed["peak_day"] == {
        "date": before[:10],
        "outbound": 30 * MB,
        "inbound": 2 * MB,
        "counted": 30 * MB,
    }


def test_offset_set_and_add_with_audit_trail_not_carried_over(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    clock.now = at("2024-01-31 20:00")
    acc = open_accountant(cap_gb=1)
    advance(acc, clock, counters, 60, 100 * MB)
    entry = acc.adjust("set", 500 * MB, "provider panel shows 500 MB")
    assert entry.to_dict() == {
        "id": 1,
        "time": "2024-01-31T20:01:00+00:00",
        "period_start": "2024-01-01T00:00:00+00:00",
        "mode": "set",
        "bytes": 500 * MB,
        "old_offset": 0,
        "new_offset": 400 * MB,
        "old_counted": 100 * MB,
        "new_counted": 500 * MB,
        "note": "provider panel shows 500 MB",
    }
    clock.now += 60
    acc.adjust("add", 50 * MB, "")
    advance(acc, clock, counters, 60, 10 * MB)
    period = acc.period().to_dict()
    assert (period["outbound"], period["offset"], period["counted"]) == (
        110 * MB,
        450 * MB,
        560 * MB,
    )

    with pytest.raises(ValidationError) as negative:
        acc.adjust("add", -600 * MB, "too much")
    assert negative.value.field == "bytes"
    with pytest.raises(ValidationError) as bad_set:
        acc.adjust("set", -1, "")
    assert bad_set.value.field == "bytes"
    with pytest.raises(ValidationError) as bad_mode:
        acc.adjust("multiply", 2, "")
    assert bad_mode.value.field == "mode"
    with pytest.raises(ValidationError) as bad_note:
        acc.adjust("add", 1, "x" * 501)
    assert bad_note.value.field == "note"
    assert [a.id for a in acc.audit()] == [1, 2]
    assert acc.period().to_dict()["counted"] == 560 * MB

    clock.now = at("2024-01-31 22:00")
    acc.stop()
    # Restarted two hours into February, 20 MB later: 10 MB each side of the boundary.
    clock.now = at("2024-02-01 02:00")
    counters.add(20 * MB)
    again = open_accountant(cap_gb=1)
    period = again.period().to_dict()
    assert period["start"] == "2024-02-01T00:00:00+00:00"
    assert (period["outbound"], period["offset"], period["counted"]) == (10 * MB, 0, 10 * MB)
    january = again.months()[1]
    assert (january.outbound, january.offset, january.counted) == (
        120 * MB,
        450 * MB,
        570 * MB,
    )
    assert [(a.id, a.mode, a.new_offset) for a in again.audit()] == [
        (1, "set", 400 * MB),
        (2, "add", 450 * MB),
    ]


def test_threshold_events_fire_once_per_period_across_restarts(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    seen: list[ThresholdEvent] = []
    acc = open_accountant(cap_gb=1)
    acc.subscribe(seen.append)
    assert advance(acc, clock, counters, 60, 810 * MB) == seen
    assert [(e.level, e.used, e.cap) for e in seen] == [("warning", 810 * MB, GB)]
    assert seen[0].to_dict() == {
        "level": "warning",
        "period_start": "2024-01-01T00:00:00+00:00",
        "used": 810 * MB,
        "cap": GB,
        "percent": 81.0,
        "time": "2024-01-10T12:01:00+00:00",
    }
    assert advance(acc, clock, counters, 60, 20 * MB) == []
    acc.stop()

    restarted = open_accountant(cap_gb=1)
    later: list[ThresholdEvent] = []
    restarted.subscribe(later.append)
    assert advance(restarted, clock, counters, 60, 10 * MB) == []
    advance(restarted, clock, counters, 60, 200 * MB)
    assert [(e.level, e.used) for e in later] == [("critical", 1040 * MB), ("exceeded", 1040 * MB)]
    assert restarted.period().to_dict()["level"] == "exceeded"
    restarted.stop()

    third = open_accountant(cap_gb=1)
    assert advance(third, clock, counters, 60, 10 * MB) == []
    assert [e.level for e in third.events()] == ["warning", "critical", "exceeded"]
    clock.now = at("2024-02-01 00:00") - 60
    third.poll()
    assert advance(third, clock, counters, 120, 900 * MB) == []
    assert (third.period().to_dict()["start"], third.period().to_dict()["outbound"]) == (
        "2024-02-01T00:00:00+00:00",
        450 * MB,
    )
    assert [(e.level, e.used) for e in advance(third, clock, counters, 60, 360 * MB)] == [
        ("warning", 810 * MB)
    ]
    assert [(e.to_dict()["level"], e.to_dict()["period_start"]) for e in third.events()] == [
        ("warning", "2024-01-01T00:00:00+00:00"),
        ("critical", "2024-01-01T00:00:00+00:00"),
        ("exceeded", "2024-01-01T00:00:00+00:00"),
        ("warning", "2024-02-01T00:00:00+00:00"),
    ]


def test_a_failing_subscriber_does_not_stop_the_others(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    acc = open_accountant(cap_gb=1)
    received: list[str] = []

    def broken(event: ThresholdEvent) -> None:
        raise RuntimeError("subscriber bug")

    acc.subscribe(broken)
    unsubscribe = acc.subscribe(lambda event: received.append(event.level))
    advance(acc, clock, counters, 60, 960 * MB)
    assert received == ["warning", "critical"]
    assert "a threshold event subscriber failed" in caplog.text
    unsubscribe()
    advance(acc, clock, counters, 60, 50 * MB)
    assert received == ["warning", "critical"]


def test_service_down_for_days_across_the_period_boundary(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    clock.now = at("2024-01-29 00:00")
    acc = open_accountant()
    advance(acc, clock, counters, 86400, 24 * MB)
    acc.stop()
    # Down from 30 Jan 00:00 to 3 Feb 00:00; the machine stayed up and moved 400 MB.
    clock.now = at("2024-02-03 00:00")
    counters.add(400 * MB, 40 * MB)
    acc = open_accountant()
    period = acc.period().to_dict()
    assert period["start"] == "2024-02-01T00:00:00+00:00"
    assert (period["outbound"], period["inbound"]) == (200 * MB, 20 * MB)
    january = acc.months()[1]
    assert (january.outbound, january.inbound) == (224 * MB, 20 * MB)
    assert january.peak_day is not None and january.peak_day.outbound == 100 * MB
    days = {d.date: d.outbound for d in acc.daily(6)}
    assert days == {
        "2024-01-29": 24 * MB,
        "2024-01-30": 100 * MB,
        "2024-01-31": 100 * MB,
        "2024-02-01": 100 * MB,
        "2024-02-02": 100 * MB,
        "2024-02-03": 0,
    }


def test_reboot_while_down_counts_only_the_bytes_since_boot(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    clock.now = at("2024-01-30 00:00")
    acc = open_accountant()
    advance(acc, clock, counters, 60, 10 * MB)
    acc.stop()
    counters.add(999 * MB)  # moved before the reboot, after the last reading: unknowable
    counters.reboot("boot-2", at("2024-02-02 12:00"))
    clock.now = at("2024-02-03 00:00")
    counters.add(60 * MB, 6 * MB)
    acc = open_accountant()
    assert (acc.period().to_dict()["outbound"], acc.period().to_dict()["inbound"]) == (60 * MB, 6 * MB)
    assert acc.months()[1].outbound == 10 * MB
    assert {d.date: d.outbound for d in acc.daily(2)} == {
        "2024-02-02": 60 * MB,
        "2024-02-03": 0,
    }
    assert [e["kind"] for e in acc.status().to_dict()["counter_events"]][-1] == "reboot"
    # A reboot while running: counters back to zero, new boot id.
    counters.reboot("boot-3", clock.now + 30)
    advance(acc, clock, counters, 60, 5 * MB)
    assert acc.period().to_dict()["outbound"] == 65 * MB


def test_counter_wrap_and_implausible_jump(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    counters.sent = 2**32 - 1000
    counters.speed_bps = 1e9
    acc = open_accountant(counter_bits=32)
    clock.now += 1
    counters.sent = 500
    acc.poll()
    assert acc.period().to_dict()["outbound"] == 1500
    advance(acc, clock, counters, 1, 10 * GB)  # 1 Gbit/s cannot carry 10 GB in a second
    assert acc.period().to_dict()["outbound"] == 1500
    advance(acc, clock, counters, 1, 100 * MB)
    assert acc.period().to_dict()["outbound"] == 100 * MB + 1500
    kinds = [e["kind"] for e in acc.status().to_dict()["counter_events"]]
    assert kinds == ["first", "wrap", "implausible"]


def test_daily_totals_in_the_configured_zone_across_dst(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    # 2024-03-31 has 23 hours in Berlin: a steady 1 MB/h splits 24/23.
    clock.now = at("2024-03-30 00:00", "Europe/Berlin")
    acc = open_accountant(timezone="Europe/Berlin")
    advance(acc, clock, counters, 47 * 3600, 47 * MB)
    days = acc.daily(2)
    assert [(d.date, d.outbound) for d in days] == [
        ("2024-03-31", 23 * MB),
        ("2024-04-01", 0),
    ]
    assert acc.months()[1].to_dict()["peak_day"]["date"] == "2024-03-30"
    assert acc.months()[1].outbound == 47 * MB
    assert acc.period().to_dict()["start"] == "2024-04-01T00:00:00+02:00"
    assert acc.daily()[0].to_dict() == {
        "date": "2024-04-01",
        "outbound": 0,
        "inbound": 0,
        "total": 0,
        "counted": 0,
    }


def test_daily_totals_new_york_fall_back_day_has_25_hours(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    clock.now = at("2024-11-03 00:00", "America/New_York")
    acc = open_accountant(timezone="America/New_York", reset_day=3, reset_hour=1)
    advance(acc, clock, counters, 25 * 3600, 50 * MB)
    assert [(d.date, d.outbound) for d in acc.daily(2)] == [
        ("2024-11-03", 50 * MB),
        ("2024-11-04", 0),
    ]
    # Reset at the first 01:00 (EDT), one hour into the day: 2 MB before it.
    assert acc.months()[1].outbound == 2 * MB
    assert acc.period().to_dict()["outbound"] == 48 * MB
    assert acc.period().to_dict()["start"] == "2024-11-03T01:00:00-04:00"


def test_breakdown_per_process_host_and_unknown_with_negative_moves(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    acc = open_accountant(max_hosts=3)
    acc.on_snapshot(
        snapshot(
            Usage("nginx", "nginx: worker process", 10, "198.51.100.1", "tcp", 1_000, 200),
            Usage("nginx", "nginx: master process", 11, "198.51.100.2", "tcp", 400, 0),
            Usage("unknown", "", None, "203.0.113.9", "udp", 300, 50),
        )
    )
    acc.on_snapshot(
        snapshot(
            Usage("unknown", "", None, "203.0.113.9", "udp", -300, -50),
            Usage("curl", "curl https://example.org", 20, "203.0.113.9", "udp", 300, 50),
        )
    )
    advance(acc, clock, counters, 5, 3_400)
    assert [p.to_dict() for p in acc.processes()] == [
        {"name": "nginx", "bytes_sent": 1_400, "bytes_received": 200, "bytes_total": 1_600},
        {"name": "curl", "bytes_sent": 300, "bytes_received": 50, "bytes_total": 350},
    ]
    assert [(p.detail, p.sent) for p in acc.processes(by="cmdline")] == [
        ("nginx: worker process", 1_000),
        ("nginx: master process", 400),
        ("curl https://example.org", 300),
    ]
    assert [u.to_dict() for u in acc.unknown()] == [
        {"transport": "udp", "bytes_sent": 0, "bytes_received": 0, "bytes_total": 0}
    ]
    assert [(h.key, h.sent) for h in acc.hosts(2)] == [
        ("198.51.100.1", 1_000),
        ("198.51.100.2", 400),
    ]
    period = acc.period().to_dict()
    assert period["breakdown"] == {
        "kernel_outbound": 3_400,
        "captured_outbound": 1_700,
        "attributed_outbound": 1_700,
        "unknown_outbound": 0,
        "explained": 0.5,
        "captured_share": 0.5,
    }
    assert period["breakdown_coverage"] == 0.5

    # A fourth host overflows max_hosts=3: the smallest fold into "(other)", sums stay.
    acc.on_snapshot(snapshot(Usage("unknown", "", None, "192.0.2.7", "tcp", 5, 5)))
    hosts = {h.key: h.sent for h in acc.hosts(10)}
    assert hosts == {"198.51.100.1": 1_000, "(other)": 705}
    assert acc.period().to_dict()["breakdown"]["unknown_outbound"] == 0, "coverage waits for the next counter reading"
    advance(acc, clock, counters, 1, 5)
    assert acc.period().to_dict()["breakdown"]["unknown_outbound"] == 5

    acc.stop()
    reopened = open_accountant(max_hosts=3)
    assert reopened.processes()[0].sent == 1_400
    assert {h.key: h.sent for h in reopened.hosts(10)} == hosts


def test_coverage_compares_capture_and_kernel_counts_of_the_same_moment(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    """Ticks arrive between counter readings: the capture is then ahead of the kernel count.

    Compared live, the breakdown explained over 100 % of the outbound count
    until the next reading; coverage uses the totals noted at the reading.
    """
    acc = open_accountant()
    advance(acc, clock, counters, 1, 1_000)
    acc.on_snapshot(snapshot(Usage("curl", "curl", 7, "198.51.100.1", "tcp", 1_000, 0)))
    advance(acc, clock, counters, 1, 1_000)
    acc.on_snapshot(snapshot(Usage("curl", "curl", 7, "198.51.100.1", "tcp", 1_000, 0)))
    before = acc.period().to_dict()["breakdown"]
    assert (before["kernel_outbound"], before["attributed_outbound"], before["explained"]) == (2_000, 1_000, 0.5)
    assert acc.processes()[0].sent == 2_000, "the per-process listing stays live"
    advance(acc, clock, counters, 1)
    after = acc.period().to_dict()["breakdown"]
    assert (after["kernel_outbound"], after["attributed_outbound"], after["explained"]) == (2_000, 2_000, 1.0)

    acc.stop()
    reopened = open_accountant()
    assert reopened.period().to_dict()["breakdown"]["attributed_outbound"] == 2_000, "a restored breakdown counts as read"


def test_period_boundary_moves_the_breakdown_to_the_archive(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    clock.now = at("2024-01-31 23:59:30")
    acc = open_accountant(archive_top=1)
    acc.on_snapshot(
        snapshot(
            Usage("backup", "restic backup", 5, "192.0.2.1", "tcp", 900, 9),
            Usage("ntpd", "ntpd", 6, "192.0.2.2", "udp", 90, 90),
        )
    )
    clock.now = at("2024-02-01 00:00:10")
    acc.on_snapshot(snapshot(Usage("ntpd", "ntpd", 6, "192.0.2.2", "udp", 7, 7)))
    assert acc.period().to_dict()["start"] == "2024-02-01T00:00:00+00:00"
    assert [p.to_dict() for p in acc.processes()] == [
        {"name": "ntpd", "bytes_sent": 7, "bytes_received": 7, "bytes_total": 14}
    ]
    january = acc.months()[1].to_dict()
    assert january["processes"] == [
        {"name": "backup", "bytes_sent": 900, "bytes_received": 9, "bytes_total": 909}
    ]
    assert january["hosts"] == [
        {"host": "192.0.2.1", "bytes_sent": 900, "bytes_received": 9, "bytes_total": 909}
    ]


def test_history_per_minute(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    acc = open_accountant(minute_history_hours=1)
    for minute in range(3):
        advance(acc, clock, counters, 60, (minute + 1) * 6_000, 600)
    points = acc.history(300)
    assert [(p["timestamp"], p["upload"], p["download"], p["bytes_sent"]) for p in points] == [
        (at("2024-01-10 12:00"), 100.0, 10.0, 6_000),
        (at("2024-01-10 12:01"), 200.0, 10.0, 12_000),
        (at("2024-01-10 12:02"), 300.0, 10.0, 18_000),
    ]
    # Down two hours, 7.2 MB moved: the hour still inside the retention gets its half.
    clock.now += 2 * 3600
    counters.add(7_200_000)
    acc.poll()
    acc.flush()
    kept = acc.history()
    assert len(kept) == 60
    assert {p["bytes_sent"] for p in kept} == {60_000}
    assert kept[0]["timestamp"] == at("2024-01-10 13:03")
    with pytest.raises(ValidationError):
        acc.history(10 * 3600)


def test_settings_update_live_persist_and_yield_to_a_changed_configuration(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    acc = open_accountant(cap_gb=500)
    settings = acc.update_settings({"cap_gb": 2, "reset_day": 15, "warning_percent": 50})
    assert (settings.cap_gb, settings.reset_day, settings.warning_percent) == (
        2.0,
        15,
        50.0,
    )
    period = acc.period().to_dict()
    # The current period keeps its start and now ends at the new cycle's next boundary.
    assert (period["start"], period["end"]) == (
        "2024-01-01T00:00:00+00:00",
        "2024-01-15T00:00:00+00:00",
    )
    assert period["cap_bytes"] == 2 * GB

    with pytest.raises(ValidationError) as not_live:
        acc.update_settings({"data_dir": "/tmp/elsewhere"})
    assert not_live.value.field == "data_dir"
    with pytest.raises(ValidationError) as unknown:
        acc.update_settings({"colour": "red"})
    assert unknown.value.field == "colour"
    with pytest.raises(ValidationError) as crossed:
        acc.update_settings({"cap_gb": 3, "critical_percent": 40})
    assert crossed.value.field == "critical_percent"
    assert acc.settings().cap_gb == 2.0
    acc.stop()

    again = open_accountant(cap_gb=500)
    assert (again.settings().cap_gb, again.settings().reset_day) == (2.0, 15)
    again.update_settings({"reset_day": 1})
    again.stop()

    changed = open_accountant(cap_gb=800)
    assert changed.settings().cap_gb == 800.0
    assert changed.settings().warning_percent == 50.0
    assert changed.settings().reset_day == 1


def test_background_thread_polls_flushes_and_persists_adjustments(
    make_config: Callable[..., AccountingConfig], clock: FakeClock, counters: FakeCounters
) -> None:
    config = make_config(flush_interval=0.05, poll_interval=0.01)
    acc = Accountant(config, clock=clock, counters=counters)
    acc.start()
    try:
        counters.add(12 * MB)
        clock.now += 10
        _wait_for(lambda: acc.period().to_dict()["outbound"] == 12 * MB)
        acc.adjust("add", 3 * MB, "from the event loop")
        db = config.data_dir / "traffic.db"
        _wait_for(lambda: query(db, "SELECT count(*) FROM audit") == [(1,)])
        assert query(db, "SELECT outbound, offset_bytes FROM periods") == [(12 * MB, 3 * MB)]
    finally:
        acc.stop()
    assert acc.status().to_dict()["running"] is False


def test_counter_reader_failure_is_logged_once_and_survived(
    make_config: Callable[..., AccountingConfig],
    clock: FakeClock,
    counters: FakeCounters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = {"on": False}

    def reader() -> Any:
        if failing["on"]:
            raise OSError("no /proc/net/dev")
        return counters()

    acc = Accountant(make_config(), clock=clock, counters=reader)
    acc.start(background=False)
    failing["on"] = True
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            advance(acc, clock, counters, 1, 1_000)
    assert caplog.text.count("no /proc/net/dev") == 1
    assert acc.status().to_dict()["counter_error"] == "no /proc/net/dev"
    failing["on"] = False
    advance(acc, clock, counters, 1, 1_000)
    assert acc.period().to_dict()["outbound"] == 4_000
    acc.stop()


def test_the_config_coerces_what_the_environment_gives_and_validates_itself() -> None:
    """Strings (as the environment, flags or a file give them) and typed values alike, every problem named."""
    config = AccountingConfig(
        data_dir="/var/lib/trafficmon",
        cap_gb="1000",
        cap_counts="Max",
        reset_day="31",
        reset_hour=" 6",
        timezone="Europe/Berlin",
        interfaces="eth0, wlan0,",
        flush_interval="2.5",
        counter_bits="auto",
    )
    assert (config.cap_bytes, config.cap_counts.value, config.reset_day) == (10**12, "max", 31)
    assert (config.interfaces, config.flush_interval, config.data_dir) == (
        ("eth0", "wlan0"),
        2.5,
        Path("/var/lib/trafficmon"),
    )
    assert AccountingConfig().cap_bytes == 500 * GB
    for values, field in [
        ({"cap_gb": "lots"}, "cap_gb"),
        ({"cap_gb": -5}, "cap_gb"),
        ({"cap_gb": 10**12}, "cap_gb"),
        ({"reset_day": "0"}, "reset_day"),
        ({"reset_day": "1_0"}, "reset_day"),
        ({"reset_hour": 24}, "reset_hour"),
        ({"reset_hour": True}, "reset_hour"),
        ({"timezone": "Atlantis/Capital"}, "timezone"),
        ({"cap_counts": "inbound"}, "cap_counts"),
        ({"warning_percent": "96"}, "critical_percent"),
        ({"flush_interval": "0"}, "flush_interval"),
        ({"interfaces": "../../etc"}, "interfaces"),
        ({"counter_bits": 48}, "counter_bits"),
        ({"daily_retention_days": "30"}, "daily_retention_days"),
        ({"projection_days": "0"}, "projection_days"),
        ({"projection_days": "400"}, "projection_days"),
        ({"projection_days": "1.5"}, "projection_days"),
    ]:
        with pytest.raises(ValidationError) as refused:
            AccountingConfig(**values)
        assert refused.value.field == field
    with pytest.raises(ValidationError) as refused:
        AccountingConfig(reset_day=0, reset_hour=-1, timezone="Nowhere", cap_gb=0)
    assert [name for name, _ in refused.value.problems] == ["cap_gb", "reset_day", "reset_hour", "timezone"]
    names = {row["env"] for row in AccountingConfig.describe()}
    assert {
        "DATA_DIR",
        "TRAFFIC_CAP_GB",
        "CAP_COUNTS",
        "RESET_DAY",
        "RESET_HOUR",
        "TIMEZONE",
        "WARNING_PERCENT",
        "CRITICAL_PERCENT",
        "FLUSH_INTERVAL",
        "INTERFACES",
    } <= names


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    wait_until(condition, bool, timeout, "the accountant got there", interval=0.01)


def test_daily_totals_are_kept_400_days_then_dropped(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters, tmp_path: Path
) -> None:
    clock.now = at("2024-01-01 12:00")
    acc = open_accountant(minute_history_hours=1)
    advance(acc, clock, counters, 60, 4 * MB)
    for _ in range(399):  # a reading every day at noon, 1 kB a day
        advance(acc, clock, counters, 86400, 1_000)
    acc.flush()
    days = acc.daily(400)
    assert (days[0].date, days[0].outbound, days[-1].date) == (
        "2024-01-01",
        4 * MB + 499,  # 12:01 to midnight of the first day's 1 kB: 719/1440
        "2025-02-03",
    )
    db = tmp_path / "data" / "traffic.db"
    assert query(db, "SELECT min(day), count(*) FROM daily") == [("2024-01-01", 400)]
    advance(acc, clock, counters, 86400, 1_000)
    acc.flush()
    assert acc.daily(400)[0].to_dict() == {
        "date": "2024-01-02",
        "outbound": 1_000,
        "inbound": 0,
        "total": 1_000,
        "counted": 1_000,
    }
    assert query(db, "SELECT min(day), count(*) FROM daily") == [("2024-01-02", 400)]
    assert len(acc.months()) == 14


def test_status_is_a_typed_read_in_the_zone_and_publishes_as_before(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    """`status()` answers datetimes in the configured zone and a Path; its JSON is /health's `accounting`."""
    acc = open_accountant(timezone="Europe/Berlin")
    advance(acc, clock, counters, 60, 5 * MB, 1 * MB)
    assert acc.flush()
    status = acc.status()
    assert (status.running, status.persistent, status.flush_error, status.moved_aside) == (True, True, None, None)
    assert status.database is not None and status.database.name.endswith(".db")
    assert status.last_flush is not None and status.last_flush.utcoffset().total_seconds() == 3600
    assert status.last_flush.timestamp() == clock.now
    assert [e.kind for e in status.counter_events] == ["first"]
    body = status.to_dict()
    assert body["last_flush"] == status.last_flush.isoformat() == "2024-01-10T13:01:00+01:00"
    assert body["database"] == str(status.database)
    assert body["counter_events"][0] == {"time": status.counter_events[0].time.isoformat(),
                                          "interface": status.counter_events[0].interface,
                                          "kind": "first", "detail": status.counter_events[0].detail}
    assert list(body) == ["running", "persistent", "database", "last_flush", "flush_error", "unsaved_since",
                          "moved_aside", "counter_error", "interfaces", "counting_since", "counter_events"]


def test_the_export_holds_only_the_minutes_still_kept(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    """Minutes past MINUTE_HISTORY_HOURS are not exported, even when no flush has dropped them yet."""
    acc = open_accountant(minute_history_hours=1)
    advance(acc, clock, counters, 60, 1 * MB)
    assert acc.export_state()["history"], "the minute just counted is exported"
    clock.now += 2 * 3600  # no poll, no flush meanwhile
    assert acc.export_state()["history"] == []
