"""Billing-period math: reset days past a month's end, leap years, DST gaps and folds."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from trafficmon.state.periods import BillingCycle, apportion, day_edges, local_instant, minute_edges
from tests.state.fakes import at

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600


def utc(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("reset_day", range(1, 32))
@pytest.mark.parametrize("zone", [UTC, BERLIN])
def test_every_reset_day_over_two_years(reset_day: int, zone: ZoneInfo) -> None:
    cycle = BillingCycle(reset_day, 6, zone)
    months = [(year, month) for year in (2023, 2024) for month in range(1, 13)]
    starts = []
    for year, month in months:
        day = min(reset_day, calendar.monthrange(year, month)[1])
        starts.append(datetime(year, month, day, 6, tzinfo=zone).timestamp())
    for start, following in pairwise(starts):
        assert cycle.period_at(start).start == start
        assert cycle.period_at(start).end == following
        assert cycle.period_at(following - 1).start == start
        assert cycle.period_at(start - 1).end == start
    assert len(cycle.boundaries(starts[0], starts[-1] + 1)) == 23


@pytest.mark.parametrize(
    ("reset_day", "year", "expected"),
    [
        (31, 2023, "2023-02-28"),
        (31, 2024, "2024-02-29"),
        (30, 2023, "2023-02-28"),
        (30, 2024, "2024-02-29"),
        (29, 2023, "2023-02-28"),
        (29, 2024, "2024-02-29"),
        (28, 2024, "2024-02-28"),
    ],
)
def test_february_clamps_the_reset_day(reset_day: int, year: int, expected: str) -> None:
    cycle = BillingCycle(reset_day, 0, UTC)
    february = cycle.period_at(at(f"{expected} 12:00"))
    assert utc(february.start) == f"{expected} 00:00:00"
    january = cycle.period_at(february.start - 1)
    assert utc(january.start) == f"{year}-01-{reset_day:02d} 00:00:00"
    assert utc(january.end) == f"{expected} 00:00:00"


def test_reset_day_31_gives_months_of_different_lengths() -> None:
    cycle = BillingCycle(31, 0, UTC)
    spans = []
    instant = at("2023-01-31")
    for _ in range(6):
        period = cycle.period_at(instant)
        spans.append((utc(period.start)[:10], round((period.end - period.start) / 86400)))
        instant = period.end
    assert spans == [
        ("2023-01-31", 28),
        ("2023-02-28", 31),
        ("2023-03-31", 30),
        ("2023-04-30", 31),
        ("2023-05-31", 30),
        ("2023-06-30", 31),
    ]


def test_berlin_periods_across_dst_have_743_and_745_hours() -> None:
    cycle = BillingCycle(1, 0, BERLIN)
    march = cycle.period_at(at("2024-03-15 12:00", "Europe/Berlin"))
    october = cycle.period_at(at("2024-10-15 12:00", "Europe/Berlin"))
    assert utc(march.start) == "2024-02-29 23:00:00"
    assert utc(march.end) == "2024-03-31 22:00:00"
    assert (march.end - march.start) / HOUR == 743
    assert utc(october.start) == "2024-09-30 22:00:00"
    assert (october.end - october.start) / HOUR == 745


def test_berlin_reset_hour_inside_the_skipped_hour_starts_when_the_clock_jumps() -> None:
    # 2024-03-31: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:00 never shows.
    cycle = BillingCycle(31, 2, BERLIN)
    period = cycle.period_at(at("2024-03-31 12:00", "Europe/Berlin"))
    assert utc(period.start) == "2024-03-31 01:00:00"
    assert utc(cycle.period_at(period.start - 1).start) == "2024-02-29 01:00:00"
    assert utc(period.end) == "2024-04-30 00:00:00"


def test_berlin_reset_hour_inside_the_repeated_hour_uses_its_first_occurrence() -> None:
    # 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:00-03:00 happens twice.
    cycle = BillingCycle(27, 2, BERLIN)
    first_two_oclock = at("2024-10-27 00:00")  # 02:00 CEST
    second_two_thirty = at("2024-10-27 01:30")  # 02:30 CET, the repeat
    period = cycle.period_at(second_two_thirty)
    assert period.start == first_two_oclock
    assert cycle.period_at(first_two_oclock - 1).end == first_two_oclock
    assert utc(period.end) == "2024-11-27 01:00:00"


def test_new_york_reset_in_the_spring_gap_and_the_autumn_fold() -> None:
    # 2024-03-10 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    spring = BillingCycle(10, 2, NEW_YORK).period_at(at("2024-03-20"))
    assert utc(spring.start) == "2024-03-10 07:00:00"
    assert utc(spring.end) == "2024-04-10 06:00:00"
    # 2024-11-03 01:00-02:00 happens twice: 05:00 UTC (EDT) and 06:00 UTC (EST).
    autumn_cycle = BillingCycle(3, 1, NEW_YORK)
    autumn = autumn_cycle.period_at(at("2024-11-03 06:30"))
    assert utc(autumn.start) == "2024-11-03 05:00:00"
    assert utc(autumn_cycle.period_at(at("2024-11-03 04:59")).end) == "2024-11-03 05:00:00"
    assert autumn.start - spring.end == 207 * 86400 - HOUR


def test_local_instant_and_midnights_on_dst_days() -> None:
    assert utc(local_instant(date(2024, 3, 31), 0, BERLIN)) == "2024-03-30 23:00:00"
    berlin = day_edges(
        at("2024-03-30 00:00", "Europe/Berlin"), at("2024-04-01 00:00", "Europe/Berlin"), BERLIN
    )
    assert [utc(e) for e in berlin] == ["2024-03-30 23:00:00"]
    new_york = day_edges(
        at("2024-11-02 12:00", "America/New_York"),
        at("2024-11-04 12:00", "America/New_York"),
        NEW_YORK,
    )
    assert [utc(e) for e in new_york] == ["2024-11-03 04:00:00", "2024-11-04 05:00:00"]
    assert new_york[1] - new_york[0] == 25 * HOUR


def test_apportion_splits_exactly_in_proportion_to_time() -> None:
    assert apportion(0, 100, [25, 75], (1000, 7)) == [
        (0, 25, (250, 1)),
        (25, 75, (500, 4)),
        (75, 100, (250, 2)),
    ]
    assert apportion(50, 50, [10], (9, 1)) == [(50, 50, (9, 1))]
    pieces = apportion(0, 3, [1, 2], (10**15 + 1,))
    assert sum(p[2][0] for p in pieces) == 10**15 + 1
    assert minute_edges(30, 200, 60) == [60.0, 120.0, 180.0]
