"""The accounting records as rows of the state database: loading them all, writing a flush.

A flush writes absolute values (not increments) in one transaction, routine
ones with synchronous=NORMAL and `durable` ones (what a client is about to be
told was accepted) with FULL; see `state.store` for why that is enough.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trafficmon.state.cap import CapCounts
from trafficmon.state.records import AuditEntry, PeriodRecord, StoredState, ThresholdEvent, UsageRow
from trafficmon.state.schema import TABLES, UnreadableDatabase


@dataclass(slots=True)
class FlushBatch:
    """What one flush writes, copied out of memory under the accountant's lock.

    With `replace_all` every table is emptied first and the batch holds the
    whole state (after an import, a recovery or a failed flush). A `durable`
    batch carries a change a client is about to be told succeeded (an
    adjustment, settings, an import): it is committed with synchronous=FULL,
    so a power cut right after the answer keeps it.
    """

    @classmethod
    def whole(cls, stored: StoredState, meta: dict[str, Any], *, durable: bool) -> FlushBatch:
        """A full rewrite holding `stored` (an imported document), with the store's own `meta`."""
        assert stored.current is not None, "a whole state has a current period"
        return cls(
            replace_all=True,
            current_start=stored.current.start,
            durable=durable,
            periods=[*stored.archive, stored.current],
            daily={day: (v[0], v[1]) for day, v in stored.daily.items()},
            usage=list(stored.usage),
            usage_rewrite=True,
            minutes={minute: (v[0], v[1]) for minute, v in stored.minutes.items()},
            audit=list(stored.audit),
            events=list(stored.events),
            meta=meta,
        )

    replace_all: bool
    current_start: float
    durable: bool = False
    periods: list[PeriodRecord] = field(default_factory=list)
    daily: dict[str, tuple[int, int]] = field(default_factory=dict)
    daily_cutoff: str | None = None
    usage: list[UsageRow] = field(default_factory=list)
    usage_rewrite: bool = False
    minutes: dict[int, tuple[int, int]] = field(default_factory=dict)
    minutes_cutoff: int | None = None
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[ThresholdEvent] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def load(conn: sqlite3.Connection) -> StoredState:
    state = StoredState()
    try:
        open_periods: list[PeriodRecord] = []
        for row in conn.execute(
            "SELECT start_ts, end_ts, outbound, inbound, offset_bytes, cap_bytes, closed,"
            " cap_counts, days, top FROM periods ORDER BY start_ts"
        ):
            record = PeriodRecord(
                start=float(row[0]),
                end=float(row[1]),
                cap_bytes=int(row[5]),
                cap_counts=CapCounts(row[7]),
                outbound=int(row[2]),
                inbound=int(row[3]),
                offset=int(row[4]),
                days=_days(json.loads(row[8])),
                top=json.loads(row[9]) if row[9] is not None else None,
            )
            (state.archive if row[6] else open_periods).append(record)
        if open_periods:
            state.current = open_periods.pop()
            state.archive = sorted(state.archive + open_periods, key=lambda p: p.start)
        state.daily = {
            str(day): [int(out), int(inb)]
            for day, out, inb in conn.execute("SELECT day, outbound, inbound FROM daily")
        }
        state.minutes = {
            int(minute): [int(out), int(inb)]
            for minute, out, inb in conn.execute("SELECT minute, outbound, inbound FROM minutes")
        }
        if state.current is not None:
            state.usage = [
                UsageRow(kind, label, detail, int(sent), int(received))
                for kind, label, detail, sent, received in conn.execute(
                    "SELECT kind, label, detail, sent, received FROM usage WHERE period_start = ?",
                    (state.current.start,),
                )
            ]
        state.audit = [
            AuditEntry(
                int(r[0]),
                float(r[1]),
                float(r[2]),
                str(r[3]),
                int(r[4]),
                int(r[5]),
                int(r[6]),
                r[7],
                r[8],
                str(r[9]),
            )
            for r in conn.execute(
                "SELECT id, time, period_start, mode, amount, old_offset, new_offset,"
                " old_counted, new_counted, note FROM audit ORDER BY id"
            )
        ]
        state.events = [
            ThresholdEvent(str(level), _utc(period_start), int(used), int(cap), _utc(time))
            for period_start, level, used, cap, time in conn.execute(
                "SELECT period_start, level, used, cap, time FROM threshold_events ORDER BY time"
            )
        ]
        state.meta = {
            str(name): json.loads(value)
            for name, value in conn.execute("SELECT name, value FROM meta")
        }
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise UnreadableDatabase(f"contents do not parse: {exc!r}") from None
    return state


def _days(value: Any) -> dict[str, list[int]]:
    if not isinstance(value, dict):
        raise ValueError(f"per-day totals are not an object: {value!r}")
    return {str(day): [int(totals[0]), int(totals[1])] for day, totals in value.items()}


def _utc(instant: float) -> datetime:
    return datetime.fromtimestamp(float(instant), UTC)


def write(conn: sqlite3.Connection, batch: FlushBatch) -> None:
    if batch.replace_all:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")
    conn.executemany(
        "INSERT OR REPLACE INTO periods (start_ts, end_ts, outbound, inbound, offset_bytes,"
        " cap_bytes, closed, cap_counts, days, top) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                p.start,
                p.end,
                p.outbound,
                p.inbound,
                p.offset,
                p.cap_bytes,
                int(p.start != batch.current_start),
                p.cap_counts.value,
                json.dumps(p.days, sort_keys=True),
                json.dumps(p.top) if p.top is not None else None,
            )
            for p in batch.periods
        ],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO daily (day, outbound, inbound) VALUES (?, ?, ?)",
        [(day, out, inb) for day, (out, inb) in batch.daily.items()],
    )
    if batch.daily_cutoff is not None:
        conn.execute("DELETE FROM daily WHERE day < ?", (batch.daily_cutoff,))
    if batch.usage_rewrite:
        conn.execute("DELETE FROM usage")
    conn.executemany(
        "INSERT OR REPLACE INTO usage (period_start, kind, label, detail, sent, received)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(batch.current_start, u.kind, u.key, u.detail, u.sent, u.received) for u in batch.usage],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO minutes (minute, outbound, inbound) VALUES (?, ?, ?)",
        [(minute, out, inb) for minute, (out, inb) in batch.minutes.items()],
    )
    if batch.minutes_cutoff is not None:
        conn.execute("DELETE FROM minutes WHERE minute < ?", (batch.minutes_cutoff,))
    conn.executemany(
        "INSERT OR REPLACE INTO audit (id, time, period_start, mode, amount, old_offset,"
        " new_offset, old_counted, new_counted, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                a.id,
                a.time,
                a.period_start,
                a.mode,
                a.amount,
                a.old_offset,
                a.new_offset,
                a.old_counted,
                a.new_counted,
                a.note,
            )
            for a in batch.audit
        ],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO threshold_events (period_start, level, used, cap, time)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (e.period_start.timestamp(), e.level, e.used, e.cap, e.time.timestamp())
            for e in batch.events
        ],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
        [(name, json.dumps(value, sort_keys=True)) for name, value in batch.meta.items()],
    )
