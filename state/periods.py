"""Billing-period and calendar math in the configured time zone.

Instants are epoch seconds (floats); calendar questions (which day, which
billing period) are answered in an IANA zone, so months of any length and DST
changes come out right. Two wall-clock rules decide the odd cases, the same for
period starts and for midnights:

- a wall time that does not exist (inside a DST gap: Berlin's 02:00-03:00 on the
  last Sunday of March) means the first instant the clock shows a later time,
  i.e. the moment the clock jumps;
- a wall time that occurs twice (inside a DST fold) means its first occurrence.

Bytes known only as "moved between two readings" are spread over the time
between them in proportion to time (`apportion`): with two readings and nothing
in between, a constant rate is the best estimate there is.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from itertools import pairwise

ONE_DAY = timedelta(days=1)
MICROSECONDS = 10**6
LAST_MOMENT = 1 / MICROSECONDS
"""How long before a period's end its last instant is (ISO 8601 and datetime keep microseconds)."""


@dataclass(frozen=True, slots=True)
class DateSpan:
    """Calendar dates from `first` to `last`, both included."""

    first: date
    last: date

    def dates(self) -> list[date]:
        """Every date of the span, in order."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def iso(instant: float, zone: tzinfo) -> str:
    """An instant as ISO 8601 with the zone's UTC offset at that instant."""
    return datetime.fromtimestamp(instant, zone).isoformat()


def local_date(instant: float, zone: tzinfo) -> date:
    """The calendar date in `zone` at `instant`."""
    return datetime.fromtimestamp(instant, zone).date()


def local_instant(day: date, hour: int, zone: tzinfo) -> float:
    """The instant the wall clock in `zone` shows `hour`:00 on `day` (see the module rules)."""
    wall = datetime(day.year, day.month, day.day, hour)
    earlier = wall.replace(tzinfo=zone).timestamp()
    if _wall_clock(earlier, zone) == wall:
        return earlier
    # Inside a gap: fold=0 and fold=1 map the missing time to the instants on
    # either side of the jump; find the first second whose wall time is past it.
    later = wall.replace(tzinfo=zone, fold=1).timestamp()
    low, high = math.floor(min(earlier, later)), math.ceil(max(earlier, later))
    while low < high:
        middle = (low + high) // 2
        if _wall_clock(middle, zone) >= wall:
            high = middle
        else:
            low = middle + 1
    return float(low)


def _wall_clock(instant: float, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(instant, zone).replace(tzinfo=None)


def day_edges(start: float, end: float, zone: tzinfo) -> list[float]:
    """The local midnights strictly between `start` and `end`."""
    edges: list[float] = []
    day = local_date(start, zone) + ONE_DAY
    while (midnight := local_instant(day, 0, zone)) < end:
        if midnight > start:
            edges.append(midnight)
        day += ONE_DAY
    return edges


def local_dates(start: float, end: float, zone: tzinfo) -> DateSpan:
    """The local dates [start, end) has a moment of: `start`'s date to that of its last microsecond.

    A billing period that resets at midnight ends on the day before the next
    one starts; one that resets at 06:00 also has the first hours of the next
    reset day.
    """
    return DateSpan(local_date(start, zone), local_date(end - LAST_MOMENT, zone))


def minute_edges(start: float, end: float, length: int) -> list[float]:
    """The multiples of `length` seconds strictly between `start` and `end`."""
    first = (math.floor(start / length) + 1) * length
    return [float(edge) for edge in range(first, math.ceil(end), length) if start < edge < end]


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period [start, end) in epoch seconds."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class BillingCycle:
    """Periods that start on `reset_day` at `reset_hour` local time, every month.

    A reset day past a month's end means that month's last day (31 -> 30 April,
    28 or 29 February), as providers bill.
    """

    reset_day: int
    reset_hour: int
    zone: tzinfo

    def start_in(self, year: int, month: int) -> float:
        """The instant the period that begins in `year`-`month` starts."""
        day = min(self.reset_day, calendar.monthrange(year, month)[1])
        return local_instant(date(year, month, day), self.reset_hour, self.zone)

    def period_at(self, instant: float) -> Period:
        """The period containing `instant`."""
        local = datetime.fromtimestamp(instant, self.zone)
        year, month = local.year, local.month
        start = self.start_in(year, month)
        while instant < start:
            year, month = _month_before(year, month)
            start = self.start_in(year, month)
        end = self.start_in(*_month_after(year, month))
        while instant >= end:
            year, month = _month_after(year, month)
            start, end = end, self.start_in(*_month_after(year, month))
        return Period(start, end)

    def boundaries(self, start: float, end: float) -> list[float]:
        """The period starts strictly between `start` and `end`."""
        edges: list[float] = []
        edge = self.period_at(start).end
        while edge < end:
            edges.append(edge)
            edge = self.period_at(edge).end
        return edges


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def apportion(
    start: float, end: float, edges: Iterable[float], amounts: Sequence[int]
) -> list[tuple[float, float, tuple[int, ...]]]:
    """Split byte counts that accrued over [start, end) at `edges`, in proportion to time.

    Returns (piece start, piece end, shares) per piece; the shares of each
    amount add up to it exactly. When no time passed (or the clock went
    backwards) everything is one piece at `end`.
    """
    if end <= start:
        return [(end, end, tuple(amounts))]
    cuts = [start, *sorted({edge for edge in edges if start < edge < end}), end]
    # Integer microseconds keep the shares exact (a 24 h day of a 47 h span gets
    # exactly 24/47) without the cost of rational arithmetic.
    origin = _microseconds(start)
    span = _microseconds(end) - origin
    given = [0] * len(amounts)
    pieces: list[tuple[float, float, tuple[int, ...]]] = []
    for piece_start, piece_end in pairwise(cuts):
        if piece_end == end:
            upto = list(amounts)
        else:
            elapsed = _microseconds(piece_end) - origin
            upto = [amount * elapsed // span for amount in amounts]
        pieces.append(
            (piece_start, piece_end, tuple(u - g for u, g in zip(upto, given, strict=True)))
        )
        given = upto
    return pieces


def _microseconds(instant: float) -> int:
    return round(instant * MICROSECONDS)
