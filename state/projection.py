"""Where the billing period is heading: the pace a projection rests on, and what it says.

A projection extrapolates the pace of counted time, never of a few minutes:
until a day of counting has been seen (since the first counter reading, kept
across restarts) there is none, and the answer says so and how long is still
needed. After that the pace is the average of the last `days` days
(`PROJECTION_DAYS`), or of everything counted while less than that was.

The pace comes from the daily totals, not from the per-minute history (kept
only `MINUTE_HISTORY_HOURS`): the window is `days` whole local days plus
today's part so far, i.e. it starts at the local midnight `days` days ago.
Every byte in it is then a measured total, not a share of a day guessed by
time; traffic has a daily shape (quiet nights, busy evenings), and cutting the
oldest day at the current hour would count its busy or quiet part by clock
time instead. What this means at the edges:

- at midnight today is empty and the window is exactly `days` days; during
  the day it grows by today's hours, so the oldest day leaves it at once at
  the next midnight, not by the minute;
- at a period start the pace keeps resting on the days before it (traffic
  does not change its habits at a billing boundary), so the first hours of a
  period get the same projection as the last hours of the one before, now
  from a counted total of zero;
- after a restart the daily totals and the time counting began come back from
  the store, and the bytes moved while stopped are spread over the downtime,
  so the projection is the one the running service would have made;
- when counting began less than `days` whole days ago the window starts when
  counting began (the bytes of that first day are all from after it).

The manual offset is part of the counted total but not of the pace: it
corrects what was counted, it is not traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from trafficmon.state.cap import project
from trafficmon.state.history import DailyTotals
from trafficmon.state.periods import local_date, local_instant
from trafficmon.state.records import PeriodRecord

SECONDS_PER_DAY = 86_400
MIN_OBSERVED_SECONDS = float(SECONDS_PER_DAY)
"""Counting needed before a projection means anything: a whole day, night and day."""
NOT_YET = "not enough data yet (after a day of counting)"


class Basis(StrEnum):
    """What a projection's pace rests on."""

    LAST_DAYS = "last_days"
    """The last `PROJECTION_DAYS` whole days and today so far."""
    SINCE_COUNTING_BEGAN = "since_counting_began"
    """Everything counted, while that is less than the window."""


@dataclass(frozen=True, slots=True)
class Pace:
    """Average bytes per second of each direction over the `seconds` before now."""

    outbound: float
    inbound: float
    seconds: float
    basis: Basis


def recent_pace(
    daily: DailyTotals, zone: tzinfo, *, counting_since: float, now: float, days: int
) -> Pace:
    """The pace of the last `days` whole local days plus today (see the module docstring).

    `now` must be later than `counting_since`.
    """
    today = local_date(now, zone)
    first = today - timedelta(days=days)
    start = local_instant(first, 0, zone)
    basis = Basis.LAST_DAYS
    if counting_since > start:
        start, first = counting_since, local_date(counting_since, zone)
        basis = Basis.SINCE_COUNTING_BEGAN
    sent = received = 0
    for _, day_sent, day_received in daily.span(first, today):
        sent += day_sent
        received += day_received
    seconds = now - start
    return Pace(sent / seconds, received / seconds, seconds, basis)


@dataclass(frozen=True, slots=True)
class Outlook:
    """The period-end projection and what it rests on (the `projection` part of `GET /data`).

    `bytes`, `rate`, `window_seconds` and `cap_date` are the fields clients
    already read; `basis`, `basis_text`, `observed_seconds` and
    `needs_seconds` say why there is a projection, or why not yet.
    `cap_date` is set only when the pace reaches the cap before the period
    ends, and never for a cap already reached or from a zero pace.
    """

    bytes: int | None
    rate: float | None
    window_seconds: float
    cap_date: datetime | None
    basis: Basis | None
    basis_text: str
    observed_seconds: float
    needs_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes,
            "rate": self.rate,
            "window_seconds": self.window_seconds,
            "cap_date": self.cap_date.isoformat() if self.cap_date is not None else None,
            "basis": self.basis.value if self.basis is not None else None,
            "basis_text": self.basis_text,
            "observed_seconds": self.observed_seconds,
            "needs_seconds": self.needs_seconds,
        }


def outlook(
    period: PeriodRecord,
    daily: DailyTotals,
    zone: tzinfo,
    *,
    counting_since: float | None,
    now: float,
    days: int,
) -> Outlook:
    """Where the current period is heading at the recent pace (none before a day of counting)."""
    observed = max(0.0, now - counting_since) if counting_since is not None else 0.0
    needs = max(0.0, MIN_OBSERVED_SECONDS - observed)
    if counting_since is None or needs > 0:
        return Outlook(
            bytes=None,
            rate=None,
            window_seconds=observed,
            cap_date=None,
            basis=None,
            basis_text=NOT_YET,
            observed_seconds=observed,
            needs_seconds=needs,
        )
    pace = recent_pace(daily, zone, counting_since=counting_since, now=now, days=days)
    projection = project(
        counts=period.cap_counts,
        outbound=period.outbound,
        inbound=period.inbound,
        offset=period.offset,
        cap=period.cap_bytes,
        rate_out=pace.outbound,
        rate_in=pace.inbound,
        window=pace.seconds,
        now=now,
        end=period.end,
    )
    cap_time = projection.cap_time
    return Outlook(
        bytes=projection.bytes,
        rate=round(projection.rate, 3),
        window_seconds=projection.window,
        cap_date=datetime.fromtimestamp(math.floor(cap_time), zone) if cap_time is not None else None,
        basis=pace.basis,
        basis_text=_basis_text(pace, days),
        observed_seconds=observed,
        needs_seconds=0.0,
    )


def _basis_text(pace: Pace, days: int) -> str:
    """The pace in words, to follow the projected figure ("412 GB at the last 7 days' pace")."""
    if pace.basis is Basis.LAST_DAYS:
        return "at the last day's pace" if days == 1 else f"at the last {days} days' pace"
    counted = round(pace.seconds / SECONDS_PER_DAY, 1)
    return f"at the pace since counting began {counted:g} day{'' if counted == 1 else 's'} ago"
