"""The frozen results of the accountant's reads, and the JSON each is published as.

The web layer reads their attributes (instants as aware datetimes in the
configured zone, never ISO strings to parse back); `to_dict()` is the body
the REST API, the WebSocket and the exported document carry, field for field
and in the same order as before these types existed. They are built by
`state.views` from the ledger, under the accountant's lock, and share nothing
with the state that keeps changing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from trafficmon.state.breakdown import Coverage
from trafficmon.state.cap import Thresholds
from trafficmon.state.periods import DateSpan
from trafficmon.state.projection import Outlook
from trafficmon.state.records import AuditEntry, UsageRow


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


@dataclass(frozen=True, slots=True)
class PeriodView:
    """The current billing period's figures (`GET /data`).

    `cap_counts` is the cap rule's name, `level` one of `state.LEVELS`,
    `used_percent` and `days_left` rounded for people (compute a ratio from
    the bytes), `updated` the last counter reading (None before the first).
    """

    start: datetime
    end: datetime
    timezone: str
    reset_day: int
    reset_hour: int
    outbound: int
    inbound: int
    offset: int
    metered: int
    counted: int
    cap_counts: str
    cap_bytes: int
    cap_gb: float
    used_percent: float
    remaining: int
    level: str
    thresholds: Thresholds
    days_left: float
    projection: Outlook
    breakdown: Coverage
    updated: datetime | None

    def to_dict(self) -> dict[str, Any]:
        coverage = self.breakdown.to_dict()
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "reset_day": self.reset_day,
            "reset_hour": self.reset_hour,
            "outbound": self.outbound,
            "inbound": self.inbound,
            "offset": self.offset,
            "metered": self.metered,
            "counted": self.counted,
            "cap_counts": self.cap_counts,
            "cap_bytes": self.cap_bytes,
            "cap_gb": self.cap_gb,
            "used_percent": self.used_percent,
            "remaining": self.remaining,
            "level": self.level,
            "thresholds": self.thresholds.to_dict(),
            "days_left": self.days_left,
            "projection": self.projection.to_dict(),
            "breakdown_coverage": coverage["explained"],
            "breakdown": coverage,
            "updated": _iso(self.updated),
        }


@dataclass(frozen=True, slots=True)
class DayRow:
    """One local calendar day's totals (`GET /daily`); `date` is YYYY-MM-DD in the configured zone."""

    date: str
    outbound: int
    inbound: int
    counted: int

    @property
    def total(self) -> int:
        return self.outbound + self.inbound

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "outbound": self.outbound,
            "inbound": self.inbound,
            "total": self.total,
            "counted": self.counted,
        }


@dataclass(frozen=True, slots=True)
class DailyView:
    """Daily totals as a chart of them shows them, all from one reading of the clock.

    `rows` run from the first shown date to today; `shown` is every date the
    chart spans, which for the current period runs on past today to its last
    day; `period` is the current billing period's dates. Dates are in the configured zone, so a browser in
    another zone draws the same days.
    """

    rows: list[DayRow]
    shown: DateSpan
    period: DateSpan
    today: date


@dataclass(frozen=True, slots=True)
class MonthView:
    """One billing period in `GET /api/months`: the current one or a closed one.

    `processes` and `hosts` are the period's top lists (the current period's
    live, a closed one's as archived; None for a period closed before they
    were kept). `peak_day` is its busiest day by the counted bytes.
    """

    start: datetime
    end: datetime
    current: bool
    outbound: int
    inbound: int
    offset: int
    counted: int
    cap_counts: str
    cap_bytes: int
    cap_gb: float
    used_percent: float
    peak_day: DayRow | None
    processes: tuple[UsageRow, ...] | None
    hosts: tuple[UsageRow, ...] | None

    def to_dict(self) -> dict[str, Any]:
        peak = None
        if self.peak_day is not None:
            peak = {k: v for k, v in self.peak_day.to_dict().items() if k != "total"}
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "current": self.current,
            "outbound": self.outbound,
            "inbound": self.inbound,
            "offset": self.offset,
            "counted": self.counted,
            "cap_counts": self.cap_counts,
            "cap_bytes": self.cap_bytes,
            "cap_gb": self.cap_gb,
            "used_percent": self.used_percent,
            "peak_day": peak,
            "processes": _rows(self.processes),
            "hosts": _rows(self.hosts),
        }


def _rows(rows: tuple[UsageRow, ...] | None) -> list[dict[str, Any]] | None:
    return None if rows is None else [row.to_dict() for row in rows]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One manual change of a period's counted total, as the audit trail says it.

    `amount` is what was asked (JSON `bytes`); `old_counted`/`new_counted` are
    None for entries written by schema version 1, which did not keep them.
    """

    id: int
    time: datetime
    period_start: datetime
    mode: str
    amount: int
    old_offset: int
    new_offset: int
    old_counted: int | None
    new_counted: int | None
    note: str

    @classmethod
    def of(cls, entry: AuditEntry, zone: tzinfo) -> Adjustment:
        """The stored entry with its instants in `zone`."""
        return cls(
            id=entry.id,
            time=datetime.fromtimestamp(entry.time, zone),
            period_start=datetime.fromtimestamp(entry.period_start, zone),
            mode=entry.mode,
            amount=entry.amount,
            old_offset=entry.old_offset,
            new_offset=entry.new_offset,
            old_counted=entry.old_counted,
            new_counted=entry.new_counted,
            note=entry.note,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "period_start": self.period_start.isoformat(),
            "mode": self.mode,
            "bytes": self.amount,
            "old_offset": self.old_offset,
            "new_offset": self.new_offset,
            "old_counted": self.old_counted,
            "new_counted": self.new_counted,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class MovedAsideView:
    """A corrupt database moved aside, said for the rest of the period it happened in."""

    moved_to: Path
    reason: str
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"moved_to": str(self.moved_to), "reason": self.reason, "time": self.time.isoformat()}


@dataclass(frozen=True, slots=True)
class CounterNote:
    """Something the counter tracker noticed (`state.counters.CounterEvent`), its instant in the zone."""

    time: datetime
    interface: str
    kind: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "interface": self.interface, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class StatusView:
    """How the accounting itself is doing (`/health`'s `accounting`): its store, counters, last flush.

    `database` is None while no store is open; `persistent` is false while
    writes fail, since `unsaved_since`; `counter_events` are the tracker's
    recent notes, oldest first.
    """

    running: bool
    persistent: bool
    database: Path | None
    last_flush: datetime | None
    flush_error: str | None
    unsaved_since: datetime | None
    moved_aside: MovedAsideView | None
    counter_error: str | None
    interfaces: tuple[str, ...]
    counting_since: datetime | None
    counter_events: tuple[CounterNote, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "persistent": self.persistent,
            "database": str(self.database) if self.database is not None else None,
            "last_flush": _iso(self.last_flush),
            "flush_error": self.flush_error,
            "unsaved_since": _iso(self.unsaved_since),
            "moved_aside": self.moved_aside.to_dict() if self.moved_aside is not None else None,
            "counter_error": self.counter_error,
            "interfaces": list(self.interfaces),
            "counting_since": _iso(self.counting_since),
            "counter_events": [event.to_dict() for event in self.counter_events],
        }
