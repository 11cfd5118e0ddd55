"""The period-end projection: when there is one, which pace it rests on, when the cap is reached.

Every case runs the accountant on the fake clock and counters with a real
SQLite file, so the days, the period and the time counting began are the ones
the service itself would have.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trafficmon.state import Accountant, CapCounts
from trafficmon.state.cap import project
from trafficmon.state.projection import NOT_YET
from tests.state.fakes import FakeClock, FakeCounters, at
from tests.support.accounting import query, advance

OpenAccountant = Callable[..., Accountant]
MB = 10**6
GB = 10**9
DAY = 86_400
STEP = 6 * 3600
"""Readings every 6 h: steady traffic then lands on its days exactly, without rounding."""


def begin(clock: FakeClock, counters: FakeCounters, when: float) -> None:
    """Counting begins at `when` (the machine booted an hour before)."""
    clock.now = when
    counters.booted_at = when - 3600


def steady(
    accountants: list[Accountant],
    clock: FakeClock,
    counters: FakeCounters,
    until: float,
    sent_per_day: int,
    received_per_day: int = 0,
) -> None:
    """Traffic at a constant rate until `until`, read by every accountant in `accountants`."""
    while clock.now < until:
        seconds = min(STEP, until - clock.now)
        advance(
            accountants[0],
            clock,
            counters,
            seconds,
            round(sent_per_day * seconds / DAY),
            round(received_per_day * seconds / DAY),
        )
        for other in accountants[1:]:
            other.poll()


def test_none_right_after_the_start(open_accountant: OpenAccountant) -> None:
    assert open_accountant().period().to_dict()["projection"] == {
        "bytes": None,
        "rate": None,
        "window_seconds": 0.0,
        "cap_date": None,
        "basis": None,
        "basis_text": NOT_YET,
        "observed_seconds": 0.0,
        "needs_seconds": 86_400.0,
    }


@pytest.mark.parametrize("counted_for", [180, DAY - 60])
def test_none_before_a_day_of_counting_however_fast_the_traffic(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters, counted_for: int
) -> None:
    """The case of the issue: a burst in the first minutes said "reaching the cap in 4 minutes"."""
    acc = open_accountant(cap_gb=1)
    advance(acc, clock, counters, counted_for, 850 * MB)
    period = acc.period().to_dict()
    assert period["level"] == "warning"
    assert period["projection"] == {
        "bytes": None,
        "rate": None,
        "window_seconds": float(counted_for),
        "cap_date": None,
        "basis": None,
        "basis_text": NOT_YET,
        "observed_seconds": float(counted_for),
        "needs_seconds": float(DAY - counted_for),
    }


def test_after_a_day_the_pace_since_counting_began(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    acc = open_accountant(cap_gb=10)  # counting begins 2024-01-10 12:00
    steady([acc], clock, counters, at("2024-01-11 12:00"), 864 * MB)
    # 10 kB/s for the 20.5 days left: 17.712 GB more; the cap after 9.136 GB more.
    assert acc.period().to_dict()["projection"] == {
        "bytes": 864 * MB + 17_712 * MB,
        "rate": 10_000.0,
        "window_seconds": 86_400.0,
        "cap_date": "2024-01-22T01:46:40+00:00",
        "basis": "since_counting_began",
        "basis_text": "at the pace since counting began 1 day ago",
        "observed_seconds": 86_400.0,
        "needs_seconds": 0.0,
    }


@pytest.mark.parametrize(
    ("began", "basis", "window_days", "text"),
    [
        ("2024-01-04 12:00", "since_counting_began", 7,
         "at the pace since counting began 7 days ago"),
        ("2024-01-03 12:00", "last_days", 7.5, "at the last 7 days' pace"),
    ],
)
def test_the_last_7_whole_days_and_today_once_counted(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    began: str,
    basis: str,
    window_days: float,
    text: str,
) -> None:
    """The window starts at the local midnight 7 days back, once counting covers it."""
    begin(clock, counters, at(began))
    acc = open_accountant()
    steady([acc], clock, counters, at("2024-01-11 12:00"), 2 * GB)
    projection = acc.period().to_dict()["projection"]
    assert (projection["basis"], projection["basis_text"]) == (basis, text)
    assert projection["window_seconds"] == window_days * DAY
    assert projection["rate"] == pytest.approx(2 * GB / DAY, abs=0.001)


def test_last_7_days_leave_an_older_burst_out_and_give_a_cap_date_only_before_the_reset(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    begin(clock, counters, at("2024-01-01 00:00"))
    acc = open_accountant(cap_gb=79.9)
    steady([acc], clock, counters, at("2024-01-02 00:00"), 50 * GB)  # a burst on the 1st
    steady([acc], clock, counters, at("2024-01-11 00:00"), 1 * GB)
    at_midnight = acc.period().to_dict()["projection"]
    # At midnight today is empty and the window is exactly the 7 days before it (4th-10th).
    assert (at_midnight["window_seconds"], at_midnight["rate"]) == (7 * DAY, 11_574.074)
    assert at_midnight["basis_text"] == "at the last 7 days' pace"

    steady([acc], clock, counters, at("2024-01-11 12:00"), 1 * GB)
    period = acc.period().to_dict()
    assert period["counted"] == 59_500 * MB
    # 1 GB a day from the 4th to now, the 1st's 50 GB left out; 20.5 days left at that pace.
    assert period["projection"] == {
        "bytes": 80 * GB,
        "rate": 11_574.074,
        "window_seconds": 7.5 * DAY,
        "cap_date": "2024-01-31T21:36:00+00:00",
        "basis": "last_days",
        "basis_text": "at the last 7 days' pace",
        "observed_seconds": 10.5 * DAY,
        "needs_seconds": 0.0,
    }
    acc.update_settings({"cap_gb": 81})  # reached only after the reset
    assert acc.period().to_dict()["projection"]["cap_date"] is None
    acc.update_settings({"cap_gb": 50})  # reached already
    period = acc.period().to_dict()
    assert (period["level"], period["projection"]["bytes"]) == ("exceeded", 80 * GB)
    assert period["projection"]["cap_date"] is None

    acc.update_settings({"projection_days": 1})
    projection = acc.period().to_dict()["projection"]
    assert (projection["window_seconds"], projection["basis_text"]) == (
        1.5 * DAY,
        "at the last day's pace",
    )


def test_no_traffic_projects_the_counted_total_and_no_cap_date(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    acc = open_accountant(cap_gb=5.5)
    acc.adjust("add", 5 * GB, "counted before trafficmon was installed")
    steady([acc], clock, counters, clock.now + 2 * DAY, 0)
    projection = acc.period().to_dict()["projection"]
    assert (projection["bytes"], projection["rate"], projection["cap_date"]) == (5 * GB, 0.0, None)


def test_a_new_period_keeps_the_pace_of_the_days_before_it(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    """The service ran for weeks; the period began at midnight, then again 30 h later."""
    begin(clock, counters, at("2023-12-10 00:00"))
    acc = open_accountant(cap_gb=30)
    steady([acc], clock, counters, at("2024-01-01 00:00"), 1 * GB)
    period = acc.period().to_dict()
    assert (period["start"], period["counted"]) == ("2024-01-01T00:00:00+00:00", 0)
    # 1 GB a day for January's 31 days; the cap on the 31st.
    assert period["projection"]["bytes"] == 31 * GB
    assert period["projection"]["window_seconds"] == 7 * DAY
    assert period["projection"]["cap_date"] == "2024-01-31T00:00:00+00:00"

    steady([acc], clock, counters, at("2024-01-02 06:00"), 1 * GB)
    projection = acc.period().to_dict()["projection"]
    assert (projection["bytes"], projection["basis"], projection["window_seconds"]) == (
        31 * GB,
        "last_days",
        7.25 * DAY,
    )


def test_a_restart_gives_the_projection_the_running_service_would_have(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters, tmp_path: Path
) -> None:
    begin(clock, counters, at("2024-01-01 00:00"))
    running = open_accountant(data_dir=tmp_path / "running", cap_gb=40)
    restarted = open_accountant(data_dir=tmp_path / "restarted", cap_gb=40)
    steady([running, restarted], clock, counters, at("2024-01-06 00:00"), 3 * GB, 1 * GB)
    restarted.stop()
    steady([running], clock, counters, at("2024-01-09 00:00"), 3 * GB, 1 * GB)  # it is down
    restarted = open_accountant(data_dir=tmp_path / "restarted", cap_gb=40)
    expected = running.period().to_dict()["projection"]
    assert expected["cap_date"] == "2024-01-14T08:00:00+00:00"
    assert restarted.period().to_dict()["projection"] == expected
    restarted.stop()
    assert open_accountant(data_dir=tmp_path / "restarted", cap_gb=40).period().to_dict()["projection"] == (
        expected
    )


@pytest.mark.parametrize(
    ("counts", "projected", "rate", "cap_date"),
    [
        ("outbound", 21_500 * MB, 11_574.074, None),
        ("both", 64_500 * MB, 34_722.222, "2024-01-20T12:00:00+00:00"),
        # The inbound direction is the larger one and reaches the cap.
        ("max", 43 * GB, 23_148.148, "2024-01-25T12:00:00+00:00"),
    ],
)
def test_cap_counts_rule_applies_to_the_pace(
    open_accountant: OpenAccountant,
    clock: FakeClock,
    counters: FakeCounters,
    counts: str,
    projected: int,
    rate: float,
    cap_date: str | None,
) -> None:
    acc = open_accountant(cap_gb=30, cap_counts=counts)
    steady([acc], clock, counters, at("2024-01-12 12:00"), 1 * GB, 2 * GB)
    projection = acc.period().to_dict()["projection"]
    assert (projection["bytes"], projection["rate"], projection["cap_date"]) == (
        projected,
        rate,
        cap_date,
    )


def test_the_window_follows_local_midnights_across_a_dst_change(
    open_accountant: OpenAccountant, clock: FakeClock, counters: FakeCounters
) -> None:
    begin(clock, counters, at("2024-03-20 00:00", "Europe/Berlin"))
    acc = open_accountant(timezone="Europe/Berlin")
    steady([acc], clock, counters, at("2024-04-03 00:00", "Europe/Berlin"), 1 * GB)
    projection = acc.period().to_dict()["projection"]
    # From 27 March 00:00 on; the clocks went forward on the 31st.
    assert (projection["window_seconds"], projection["basis"]) == (7 * DAY - 3600, "last_days")
    assert projection["rate"] == pytest.approx(GB / DAY, abs=0.001)


def test_a_stored_override_of_the_removed_projection_hours_is_dropped(
    open_accountant: OpenAccountant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PROJECTION_HOURS became PROJECTION_DAYS; a database that changed it at run time opens."""
    open_accountant().stop()
    db = tmp_path / "data" / "traffic.db"
    stale = {"projection_hours": {"value": 2.0, "base": 24.0}}
    _execute(db, "UPDATE meta SET value = ? WHERE name = 'settings'", json.dumps(stale))
    with caplog.at_level(logging.INFO):
        acc = open_accountant()
    assert "were dropped: projection_hours" in caplog.text
    settings = acc.settings().to_dict()
    assert "projection_hours" not in settings
    assert settings["projection_days"] == 7
    acc.flush()
    assert query(db, "SELECT value FROM meta WHERE name = 'settings'") == [("{}",)]


def _execute(db: Path, sql: str, *args: Any) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(sql, args)
    finally:
        conn.close()


@pytest.mark.parametrize(("end", "cap_time"), [(101.0, 100.0), (100.0, None)])
def test_a_cap_reached_at_the_reset_itself_has_no_cap_date(
    end: float, cap_time: float | None
) -> None:
    projection = project(
        counts=CapCounts.OUTBOUND,
        outbound=0,
        inbound=0,
        offset=0,
        cap=100,
        rate_out=1.0,
        rate_in=0.0,
        window=DAY,
        now=0.0,
        end=end,
    )
    assert projection.cap_time == cap_time
