"""The accounting's bookkeeping: periods, days, minutes, breakdown, audit, thresholds.

A `Ledger` is the whole traffic state in memory and every transition of it:
a counter reading booked to its days and periods, a period closed and the next
begun, a threshold reached, an adjustment or a settings change applied. It
knows no threads, locks or files, so each rule can be followed from a clock
and a reading alone; `state.accountant` serialises the callers and writes what
`state.batches` copies out of it.

Rules worth knowing (they are the documented behaviour, not accidents):

- Bytes that moved between two counter readings are spread over the time
  between them in proportion to time, across days and across billing
  periods: after the service was down from 30 January to 3 February, half of
  those bytes land in January (which is then closed and archived) and half in
  February. After a reboot only the bytes since boot are known, and they are
  spread from the boot on. The per-minute history is filled the same way.
- The manual offset applies to the counted total ("set" makes the counted
  total equal to the value from now on); it belongs to its period and the next
  period starts at zero plus real traffic.
- A threshold event fires at most once per level and period; fired levels are
  stored before the event is published, so a restart does not repeat it.
- Changing the reset day, hour or zone keeps the current period's start and
  totals and moves its end to the new cycle's next boundary.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trafficmon.capture.model import Usage
from trafficmon.state.breakdown import Breakdown
from trafficmon.state.cap import used_percent
from trafficmon.state.config import AccountingConfig
from trafficmon.state.counters import Baseline, CounterEvent, CounterReading, CounterTracker
from trafficmon.state.history import DailyTotals, MinuteHistory
from trafficmon.state.periods import BillingCycle, apportion, day_edges, iso, local_date
from trafficmon.state.records import ADJUST_MODES, NOTE_CHARS, AuditEntry, PeriodRecord, StoredState, ThresholdEvent
from trafficmon.state.validation import (
    MAX_BYTES,
    ValidationError,
    require_choice,
    require_int,
    require_text,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock time in epoch seconds (time.time, or a test's fake)."""

SECONDS_PER_HOUR = 3600
BITS_PER_GBIT = 10**9
RECENT_COUNTER_EVENTS = 50
"""Counter events (resets, reboots, ...) kept for the status view."""
_SAME_INSTANT = 1e-6
"""Instants closer than this are one (ISO 8601 keeps microseconds)."""


@dataclass(slots=True)
class Dirty:
    """What changed in memory since the last flush."""

    replace_all: bool = False
    periods: set[float] = field(default_factory=set)
    events: list[ThresholdEvent] = field(default_factory=list)


class Ledger:
    """The traffic state and its transitions; the caller serialises access to it.

    Attributes are read by `state.views` and changed only through the methods.
    `clock` is consulted where a transition has no instant of its own (a
    period closing inside a reading checks its thresholds at the present).
    """

    # The traffic state, set by install (at construction, start and import).
    cycle: BillingCycle
    current: PeriodRecord
    archive: list[PeriodRecord]
    daily: DailyTotals
    minutes: MinuteHistory
    breakdown: Breakdown
    audit: list[AuditEntry]
    events: list[ThresholdEvent]
    fired: set[str]
    dirty: Dirty

    def __init__(self, config: AccountingConfig, clock: Clock) -> None:
        self.base_config = config
        self.config = config
        self.clock = clock
        self.overrides: dict[str, dict[str, Any]] = {}
        self.tracker = self._new_tracker(None)
        self.tracking_since: float | None = None
        self.last_reading: float | None = None
        self.interfaces: tuple[str, ...] = ()
        self.counter_events: deque[CounterEvent] = deque(maxlen=RECENT_COUNTER_EVENTS)
        self.outbox: list[ThresholdEvent] = []
        self.install(StoredState(), clock())

    def iso(self, instant: float) -> str:
        """`instant` as published: ISO 8601 in the configured zone."""
        return iso(instant, self.config.zone)

    # ---- loading ---------------------------------------------------------

    def load(self, stored: StoredState, now: float) -> None:
        """Take over a state loaded from the store, with its run-time settings and counter baseline."""
        overrides = stored.meta.get("settings")
        config, kept, dropped = self.base_config.with_overrides(
            overrides if isinstance(overrides, Mapping) else {}
        )
        if dropped:
            log.info(
                "settings changed at run time and since overridden by the configuration "
                "(or no longer valid) were dropped: %s",
                ", ".join(dropped),
            )
        self.config = config
        self.overrides = kept
        self.tracker = self._new_tracker(_stored_baseline(stored.meta.get("counters")))
        since = stored.meta.get("tracking_since")
        self.tracking_since = float(since) if isinstance(since, (int, float)) else None
        self.install(stored, now)

    def _new_tracker(self, baseline: Baseline | None) -> CounterTracker:
        return CounterTracker(
            selection=self.config.interfaces,
            fallback_speed_bps=self.config.link_speed_gbit * BITS_PER_GBIT,
            counter_bits=self.config.counter_bits,
            baseline=baseline,
        )

    def install(self, stored: StoredState, now: float) -> None:
        """Make `stored` the in-memory state (at start, and for an import)."""
        config = self.config
        self.cycle = BillingCycle(config.reset_day, config.reset_hour, config.zone)
        self.dirty = Dirty()
        current = stored.current
        if current is None:
            period = self.cycle.period_at(now)
            current = PeriodRecord(period.start, period.end, config.cap_bytes, config.cap_counts)
        self.current = current
        self.archive = list(stored.archive)
        self.daily = DailyTotals(config.daily_retention_days, stored.daily)
        self.minutes = MinuteHistory(config.minute_history_hours * SECONDS_PER_HOUR, stored.minutes)
        self.breakdown = Breakdown.from_rows(
            stored.usage, max_processes=config.max_processes, max_hosts=config.max_hosts
        )
        self.audit = sorted(stored.audit, key=lambda entry: entry.id)
        self.events = [self._localized(event) for event in stored.events]
        self.fired = {
            event.level
            for event in self.events
            if abs(event.period_start.timestamp() - current.start) < _SAME_INSTANT
        }
        self._align_current(now)

    def import_state(self, parsed: StoredState, now: float) -> None:
        """Replace the whole state with an imported one; the next flush rewrites everything."""
        self.install(parsed, now)
        self.write_whole()
        self.roll_over(now)

    def snapshot(self) -> StoredState:
        """A copy of everything durable that another thread may serialise."""
        return StoredState(
            current=self.current.copy(),
            archive=list(self.archive),
            daily={day: list(v) for day, v in self.daily.days.items()},
            minutes={minute: list(v) for minute, v in self.minutes.buckets.items()},
            usage=self.breakdown.rows(),
            audit=list(self.audit),
            events=list(self.events),
        )

    def _align_current(self, now: float) -> None:
        """Make the current period follow the configured cycle, cap and cap rule."""
        current = self.current
        config = self.config
        if current.start <= now < current.end:
            current.end = self.cycle.period_at(now).end
        current.cap_bytes = config.cap_bytes
        current.cap_counts = config.cap_counts
        self.dirty.periods.add(current.start)

    def _localized(self, event: ThresholdEvent) -> ThresholdEvent:
        zone = self.config.zone
        return dataclasses.replace(
            event,
            period_start=event.period_start.astimezone(zone),
            time=event.time.astimezone(zone),
        )

    # ---- inputs ----------------------------------------------------------

    def add_usage(self, usage: list[Usage]) -> None:
        """Add one capture tick's per-process usage to the current period's breakdown."""
        for row in usage:
            self.breakdown.add(row)

    def apply_reading(self, reading: CounterReading, now: float) -> list[CounterEvent]:
        """Book what the counters moved since the last reading; the counter events it showed."""
        delta = self.tracker.advance(reading, now)
        self.counter_events.extend(delta.events)
        if self.tracking_since is None:
            self.tracking_since = now
        self.interfaces = tuple(sorted(reading.interfaces))
        self.last_reading = now
        if delta.since is not None and (delta.sent or delta.recv):
            self._add_traffic(delta.since, now, delta.sent, delta.recv)
        self.breakdown.mark()
        return list(delta.events)

    def _add_traffic(self, start: float, end: float, sent: int, received: int) -> None:
        """Book bytes that moved during [start, end) to their days and periods, by time share."""
        zone = self.config.zone
        edges = day_edges(start, end, zone) + self._period_edges(start, end) if end > start else []
        for piece_start, _, (piece_sent, piece_received) in apportion(
            start, end, edges, (sent, received)
        ):
            while piece_start >= self.current.end:
                self._close_period()
            day = local_date(piece_start, zone).isoformat()
            self.current.add(day, piece_sent, piece_received)
            self.daily.add(day, piece_sent, piece_received)
        self.dirty.periods.add(self.current.start)
        self.minutes.add(start, end, sent, received, end)

    def _period_edges(self, start: float, end: float) -> list[float]:
        """Where the current period and those after it end, between `start` and `end`."""
        edges = []
        edge = self.current.end
        while edge < end:
            if edge > start:
                edges.append(edge)
            edge = self.cycle.period_at(edge).end
        return edges

    # ---- periods and thresholds ------------------------------------------

    def roll_over(self, now: float) -> None:
        """Close every period that ended by `now`."""
        while now >= self.current.end:
            self._close_period()

    def _close_period(self) -> None:
        """Archive the current period with its breakdown summary and start the next at zero.

        Thresholds are checked first, so a crossing in the period's last
        moments still fires for that period.
        """
        self.check_thresholds(self.clock())
        config = self.config
        closed = self.current
        closed.top = self.breakdown.summary(config.archive_top)
        self.archive.append(closed)
        self.dirty.periods.add(closed.start)
        following = self.cycle.period_at(closed.end)
        self.current = PeriodRecord(closed.end, following.end, config.cap_bytes, config.cap_counts)
        self.dirty.periods.add(self.current.start)
        self.breakdown = Breakdown(max_processes=config.max_processes, max_hosts=config.max_hosts)
        self.fired = set()
        log.info(
            "billing period %s - %s closed: outbound %d, inbound %d, counted %d of %d bytes",
            self.iso(closed.start),
            self.iso(closed.end),
            closed.outbound,
            closed.inbound,
            closed.counted,
            closed.cap_bytes,
        )

    def check_thresholds(self, now: float) -> None:
        """Queue an event for every level the current period reached for the first time."""
        current = self.current
        percent = used_percent(current.counted, current.cap_bytes)
        for level in self.config.thresholds.reached(percent):
            if level in self.fired:
                continue
            zone = self.config.zone
            event = ThresholdEvent(
                level=level,
                period_start=datetime.fromtimestamp(current.start, zone),
                used=current.counted,
                cap=current.cap_bytes,
                time=datetime.fromtimestamp(now, zone),
            )
            self.fired.add(level)
            self.events.append(event)
            self.dirty.events.append(event)
            self.outbox.append(event)
            log.warning(
                "traffic %s: %d of %d bytes (%.1f%%) counted in the period from %s",
                level,
                event.used,
                event.cap,
                event.percent,
                self.iso(current.start),
            )

    def write_whole(self) -> None:
        """Have the next flush batch hold everything (after an import, or a write that failed)."""
        self.dirty.replace_all = True

    def take_dirty(self) -> Dirty:
        """What changed since the last call, for a flush batch; marks start afresh."""
        dirty, self.dirty = self.dirty, Dirty()
        return dirty

    def take_outbox(self) -> list[ThresholdEvent]:
        """The events queued since the last call, to publish once they are stored."""
        events, self.outbox = self.outbox, []
        return events

    # ---- changes by hand -------------------------------------------------

    def adjustment(self, mode: str, amount: int, note: str, now: float) -> AuditEntry:
        """The audit entry of changing the counted total (not applied yet); ValidationError if it can't.

        "set" makes the counted total `amount` bytes, "add" adds `amount`
        (negative subtracts); the counted total never goes below zero.
        """
        require_choice(mode, "mode", ADJUST_MODES)
        require_int(amount, "bytes", minimum=0 if mode == "set" else None)
        require_text(note, "note", max_length=NOTE_CHARS, lines=True)
        period = self.current
        old_counted = period.counted
        new_counted = amount if mode == "set" else old_counted + amount
        if new_counted < 0:
            raise ValidationError("bytes", f"would make the counted total negative ({new_counted})")
        if new_counted > MAX_BYTES:
            raise ValidationError("bytes", "makes the counted total too large")
        return AuditEntry(
            id=self.audit[-1].id + 1 if self.audit else 1,
            time=now,
            period_start=period.start,
            mode=mode,
            amount=amount,
            old_offset=period.offset,
            new_offset=new_counted - period.metered,
            old_counted=old_counted,
            new_counted=new_counted,
            note=note,
        )

    def apply_adjustment(self, entry: AuditEntry) -> None:
        """Apply a stored adjustment to its period, which may have closed while it was written."""
        period = next(p for p in (self.current, *reversed(self.archive)) if p.start == entry.period_start)
        period.offset = entry.new_offset
        self.audit.append(entry)

    def settings_overrides(
        self, changes: Mapping[str, Any]
    ) -> tuple[AccountingConfig, dict[str, dict[str, Any]]]:
        """The configuration with `changes` and the overrides to store for it (not applied yet).

        Only the settings `AccountingConfig.live_settings()` names may change.
        An override keeps the configured value it replaced, so a later start
        with a different configuration can tell which one is newer.
        """
        if not isinstance(changes, Mapping):
            raise ValidationError("settings", "must be an object of setting names to values")
        live = AccountingConfig.live_settings()
        known = set(self.config.to_dict())
        for name in changes:
            if name not in known:
                raise ValidationError(str(name), "is not a setting")
            if name not in live:
                raise ValidationError(
                    str(name), "can only be changed in the configuration, with a restart"
                )
        config = self.config.updated(changes)
        base = self.base_config.to_dict()
        values = config.to_dict()
        overrides = {name: dict(entry) for name, entry in self.overrides.items()}
        for name in changes:
            if values[name] == base[name]:
                overrides.pop(name, None)
            else:
                overrides[name] = {"value": values[name], "base": base[name]}
        return config, overrides

    def apply_settings(
        self, config: AccountingConfig, overrides: dict[str, dict[str, Any]], now: float
    ) -> None:
        """Put stored settings in force: the cycle, the counters' fallback speed, the zone of events."""
        self.overrides = overrides
        self.config = config
        self.cycle = BillingCycle(config.reset_day, config.reset_hour, config.zone)
        self.tracker.fallback_speed_bps = config.link_speed_gbit * BITS_PER_GBIT
        self.events = [self._localized(event) for event in self.events]
        self._align_current(now)

def _stored_baseline(value: Any) -> Baseline | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return Baseline.from_dict(value)
    except ValueError as exc:
        log.warning("ignoring the stored counter baseline (%s); counting restarts now", exc)
        return None
