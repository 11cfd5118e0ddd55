"""What the accountant publishes: the ledger's figures as the web layer reads them.

Pure functions of a `state.ledger.Ledger` (the caller holds the accountant's
lock) and the present instant; instants are published as ISO 8601 in the
configured zone. What the web layer reads is a frozen type of `state.reads`
(or `state.records.UsageRow`, a breakdown entry), whose `to_dict()` is its JSON.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from trafficmon.state.cap import used_percent
from trafficmon.state.config import DECIMAL_GB
from trafficmon.state.ledger import Ledger
from trafficmon.state.periods import DateSpan, local_date, local_dates
from trafficmon.state.projection import outlook
from trafficmon.state.reads import (
    CounterNote,
    DailyView,
    DayRow,
    MonthView,
    MovedAsideView,
    PeriodView,
    StatusView,
)
from trafficmon.state.records import PeriodRecord, UsageRow
from trafficmon.state.store import MovedAside

SECONDS_PER_DAY = 86400


def period_view(ledger: Ledger, now: float) -> PeriodView:
    """The current billing period's figures (the `GET /data` view)."""
    config = ledger.config
    current = ledger.current
    zone = config.zone
    percent = used_percent(current.counted, current.cap_bytes)
    return PeriodView(
        start=datetime.fromtimestamp(current.start, zone),
        end=datetime.fromtimestamp(current.end, zone),
        timezone=config.timezone,
        reset_day=config.reset_day,
        reset_hour=config.reset_hour,
        outbound=current.outbound,
        inbound=current.inbound,
        offset=current.offset,
        metered=current.metered,
        counted=current.counted,
        cap_counts=current.cap_counts.value,
        cap_bytes=current.cap_bytes,
        cap_gb=current.cap_bytes / DECIMAL_GB,
        used_percent=round(percent, 2),
        remaining=max(0, current.cap_bytes - current.counted),
        level=config.thresholds.level(percent),
        thresholds=config.thresholds,
        days_left=round(max(0.0, current.end - now) / SECONDS_PER_DAY, 2),
        projection=outlook(
            current,
            ledger.daily,
            zone,
            counting_since=ledger.tracking_since,
            now=now,
            days=config.projection_days,
        ),
        breakdown=ledger.breakdown.coverage(current.outbound),
        updated=datetime.fromtimestamp(ledger.last_reading, zone) if ledger.last_reading else None,
    )


def daily_view(ledger: Ledger, now: float, days: int | None) -> DailyView:
    """The daily totals up to today and the dates a chart of them spans.

    The whole current period by default (its days after today empty), else
    the last `days` days.
    """
    zone = ledger.config.zone
    today = local_date(now, zone)
    period = local_dates(ledger.current.start, ledger.current.end, zone)
    if days is None:
        # Until the background thread's next poll rolls the period over,
        # today may already be past its last day: it is shown all the same.
        shown = DateSpan(period.first, max(period.last, today))
    else:
        shown = DateSpan(today - timedelta(days=days - 1), today)
    counts = ledger.config.cap_counts
    rows = [
        DayRow(day, sent, received, counts.counted(sent, received))
        for day, sent, received in ledger.daily.span(shown.first, today)
    ]
    return DailyView(rows, shown, period, today)


def months_view(ledger: Ledger) -> list[MonthView]:
    """The current period (with its live top lists), then every closed period, newest first."""
    top = ledger.config.archive_top
    live = {kind: tuple(ledger.breakdown.listing(kind, top)) for kind in ("process", "host")}
    return [
        _month(ledger, ledger.current, live),
        *(_month(ledger, period, _archived(period)) for period in reversed(ledger.archive)),
    ]


def _archived(period: PeriodRecord) -> dict[str, tuple[UsageRow, ...]]:
    """A closed period's top lists as archived (JSON rows, validated when they were stored)."""
    top = period.top or {}
    return {kind: tuple(UsageRow.from_dict(kind, row) for row in top[kind]) for kind in top}


def _month(ledger: Ledger, period: PeriodRecord, top: dict[str, tuple[UsageRow, ...]]) -> MonthView:
    peak = period.peak_day()
    zone = ledger.config.zone
    return MonthView(
        start=datetime.fromtimestamp(period.start, zone),
        end=datetime.fromtimestamp(period.end, zone),
        current=period is ledger.current,
        outbound=period.outbound,
        inbound=period.inbound,
        offset=period.offset,
        counted=period.counted,
        cap_counts=period.cap_counts.value,
        cap_bytes=period.cap_bytes,
        cap_gb=period.cap_bytes / DECIMAL_GB,
        used_percent=round(used_percent(period.counted, period.cap_bytes), 2),
        peak_day=None if peak is None else DayRow(peak[0], peak[1], peak[2], period.cap_counts.counted(peak[1], peak[2])),
        processes=top.get("process"),
        hosts=top.get("host"),
    )


def status_view(
    ledger: Ledger,
    *,
    database: Path | None,
    last_flush: float | None,
    flush_error: str | None,
    unsaved_since: float | None,
    moved_aside: MovedAside | None,
    counter_error: str | None,
) -> StatusView:
    """How the accounting itself is doing; `database` is None while no store is open."""
    zone = ledger.config.zone
    running = database is not None

    def instant(at: float | None) -> datetime | None:
        return datetime.fromtimestamp(at, zone) if at else None

    moved = None
    if moved_aside is not None and moved_aside.time >= ledger.current.start:  # said for the period it happened in
        moved = MovedAsideView(moved_aside.moved_to, moved_aside.reason, datetime.fromtimestamp(moved_aside.time, zone))
    return StatusView(
        running=running,
        persistent=running and flush_error is None,
        database=database,
        last_flush=instant(last_flush),
        flush_error=flush_error,
        unsaved_since=instant(unsaved_since),
        moved_aside=moved,
        counter_error=counter_error,
        interfaces=tuple(ledger.interfaces),
        counting_since=(datetime.fromtimestamp(ledger.tracking_since, zone) if ledger.tracking_since is not None
                        else None),
        counter_events=tuple(
            CounterNote(datetime.fromtimestamp(e.time, zone), e.interface, e.kind, e.detail) for e in ledger.counter_events
        ),
    )
