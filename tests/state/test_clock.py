"""The wall clock stepped forward and back under the accountant (NTP, an operator, a resumed VM).

The boot clock (the counters' uptime) keeps the real time between readings;
only the wall clock jumps. Whatever it does: every byte is counted once (the
periods add up to what the counters moved), bytes land where the boot clock
says they moved (not spread over a jump of days), a jump past the reset closes
the period once, a jump back never reopens a closed period, and no per-minute
point is negative.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from trafficmon.state import Accountant
from tests.state.fakes import FakeClock, FakeCounters, at

MB = 1_000_000
DAY = 86_400


def jump(clock: FakeClock, counters: FakeCounters, seconds: float) -> None:
    """Step the wall clock by `seconds`; the boot clock does not move (uptime is wall time - booted_at)."""
    clock.now += seconds
    counters.booted_at += seconds


def minute_of_traffic(acc: Accountant, clock: FakeClock, counters: FakeCounters, sent: int) -> None:
    clock.now += 60
    counters.add(sent)
    acc.poll()


def months(acc: Accountant) -> list[tuple[str, int]]:
    return [(m.start.date().isoformat(), m.outbound) for m in acc.months()]


def test_steps_forward_and_back_count_every_byte_once_where_it_moved(
    open_accountant: Callable[..., Accountant], clock: FakeClock, counters: FakeCounters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.now = at("2024-01-31 23:00")
    counters.booted_at = clock.now - 3600
    acc = open_accountant()
    caplog.set_level(logging.INFO, logger="trafficmon.state.accountant")
    moved = 0
    for step, expected in (
        (0, [("2024-01-01", 10 * MB)]),
        (-3 * 3600, [("2024-01-01", 20 * MB)]),                        # back 3 h: same period
        (3 * DAY, [("2024-02-01", 10 * MB), ("2024-01-01", 20 * MB)]),  # past the reset: January closes
        (-3 * DAY, [("2024-02-01", 20 * MB), ("2024-01-01", 20 * MB)]), # back before it: not reopened
        (3 * DAY, [("2024-02-01", 30 * MB), ("2024-01-01", 20 * MB)]),
        (40 * DAY, [("2024-03-01", 10 * MB), ("2024-02-01", 30 * MB), ("2024-01-01", 20 * MB)]),
        (-45 * DAY, [("2024-03-01", 20 * MB), ("2024-02-01", 30 * MB), ("2024-01-01", 20 * MB)]),
    ):
        jump(clock, counters, step)
        minute_of_traffic(acc, clock, counters, 10 * MB)
        moved += 10 * MB
        assert months(acc) == expected, f"after a step of {step} s"
        assert sum(total for _, total in months(acc)) == moved
    assert [e["kind"] for e in acc.status().to_dict()["counter_events"]].count("clock") == 6
    assert "the wall clock was stepped forward by 259200 s since the last reading" in caplog.text
    assert "the wall clock was stepped back by 10800 s" in caplog.text
    history = acc.history(48 * 3600)
    assert all(point["upload"] >= 0 and point["bytes_sent"] >= 0 for point in history)


def test_a_step_while_stopped_is_booked_to_the_boot_clock_too(
    open_accountant: Callable[..., Accountant], clock: FakeClock, counters: FakeCounters,
) -> None:
    """Stopped on 31 January; the clock is stepped 2 days forward; started 10 minutes (boot clock) later."""
    clock.now = at("2024-01-31 23:50")
    counters.booted_at = clock.now - 3600
    acc = open_accountant()
    minute_of_traffic(acc, clock, counters, 1 * MB)
    acc.stop()
    clock.now += 600
    counters.add(7 * MB)
    jump(clock, counters, 2 * DAY)
    again = open_accountant()
    # Without the boot clock, the 7 MB would be spread over the 2 days and 10 minutes the wall clock shows.
    assert months(again) == [("2024-02-01", 7 * MB), ("2024-01-01", 1 * MB)]
