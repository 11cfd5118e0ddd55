"""Traffic over time: daily totals in the configured zone and a per-minute bandwidth history.

Both are filled from the kernel counters (not from the capture), so they agree
with the period totals and keep counting bytes moved while trafficmon was
stopped; such bytes are spread over the time they may have moved in, like the
period totals (see `state.periods.apportion`). Each keeps a dirty set so a
flush writes only what changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from trafficmon.state.periods import apportion, minute_edges

MINUTE = 60
"""Seconds per history bucket."""


class MinuteHistory:
    """Bytes per minute for `retention` seconds; a bucket's key is its minute's start (epoch s)."""

    def __init__(self, retention: float, buckets: Mapping[int, list[int]] | None = None) -> None:
        self.retention = retention
        self.buckets: dict[int, list[int]] = {
            int(minute): [int(values[0]), int(values[1])]
            for minute, values in (buckets or {}).items()
        }
        self.dirty: set[int] = set()

    def add(self, start: float, end: float, sent: int, received: int, now: float) -> None:
        """Spread bytes that moved during [start, end) over its minutes.

        The part of the span older than the retention window is dropped.
        """
        horizon = now - self.retention
        if end <= start:
            self._bucket(end, sent, received)
            return
        begin = max(start, horizon)
        if begin >= end:
            return
        if begin > start:
            sent, received = apportion(start, end, [begin], (sent, received))[-1][2]
        for piece_start, _, (piece_sent, piece_received) in apportion(
            begin, end, minute_edges(begin, end, MINUTE), (sent, received)
        ):
            self._bucket(piece_start, piece_sent, piece_received)

    def _bucket(self, instant: float, sent: int, received: int) -> None:
        if not (sent or received):
            return
        minute = math.floor(instant / MINUTE) * MINUTE
        bucket = self.buckets.setdefault(minute, [0, 0])
        bucket[0] += sent
        bucket[1] += received
        self.dirty.add(minute)

    def prune(self, now: float) -> int:
        """Drop minutes that ended before the retention window; returns the first minute kept."""
        cutoff = math.floor((now - self.retention) / MINUTE) * MINUTE
        for minute in [m for m in self.buckets if m < cutoff]:
            del self.buckets[minute]
            self.dirty.discard(minute)
        return cutoff

    def points(self, start: float, now: float) -> list[dict[str, Any]]:
        """Complete minutes from `start` to `now`, zeros where nothing moved.

        Seed field names: `upload`/`download` are bytes per second averaged over
        the minute, `timestamp` its start in epoch seconds.
        """
        if not self.buckets:
            return []
        first = max(math.ceil(start / MINUTE) * MINUTE, min(self.buckets))
        last = math.floor(now / MINUTE) * MINUTE
        points = []
        for minute in range(first, last, MINUTE):
            sent, received = self.buckets.get(minute, (0, 0))
            points.append(
                {
                    "timestamp": float(minute),
                    "upload": sent / MINUTE,
                    "download": received / MINUTE,
                    "bytes_sent": sent,
                    "bytes_received": received,
                }
            )
        return points

    def take_changes(self) -> dict[int, tuple[int, int]]:
        """Minutes changed since the last call, with their totals."""
        changed = {
            minute: (self.buckets[minute][0], self.buckets[minute][1])
            for minute in self.dirty
            if minute in self.buckets
        }
        self.dirty.clear()
        return changed


class DailyTotals:
    """Bytes per local calendar day (key: YYYY-MM-DD), kept for `retention_days`."""

    def __init__(self, retention_days: int, days: Mapping[str, list[int]] | None = None) -> None:
        self.retention_days = retention_days
        self.days: dict[str, list[int]] = {
            day: [int(values[0]), int(values[1])] for day, values in (days or {}).items()
        }
        self.dirty: set[str] = set()

    def add(self, day: str, sent: int, received: int) -> None:
        totals = self.days.setdefault(day, [0, 0])
        totals[0] += sent
        totals[1] += received
        self.dirty.add(day)

    def prune(self, today: date) -> str:
        """Drop days older than the retention; returns the first day kept."""
        cutoff = (today - timedelta(days=self.retention_days - 1)).isoformat()
        for day in [d for d in self.days if d < cutoff]:
            del self.days[day]
            self.dirty.discard(day)
        return cutoff

    def span(self, first: date, last: date) -> list[tuple[str, int, int]]:
        """(date, outbound, inbound) for every day from `first` to `last`, zeros where none."""
        rows = []
        day = first
        while day <= last:
            key = day.isoformat()
            sent, received = self.days.get(key, (0, 0))
            rows.append((key, sent, received))
            day += timedelta(days=1)
        return rows

    def take_changes(self) -> dict[str, tuple[int, int]]:
        """Days changed since the last call, with their totals."""
        changed = {
            day: (self.days[day][0], self.days[day][1]) for day in self.dirty if day in self.days
        }
        self.dirty.clear()
        return changed
