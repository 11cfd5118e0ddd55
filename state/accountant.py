"""The accounting facade the web layer and the capture engine talk to.

One `Accountant` owns the whole traffic state in memory. Three kinds of caller
touch it, and none of them waits for another's slow work:

- its own background thread reads the kernel counters every
  `poll_interval`, rolls billing periods over, fires threshold events, and
  writes the state to SQLite every `flush_interval` (and right away after a
  threshold event);
- the capture engine's tick thread calls `on_snapshot` with each tick's
  per-process usage;
- the web layer reads (`period`, `daily`, `months`, ...) from memory on its
  event loop, and makes changes (`adjust`, `update_settings`,
  `import_state`) from an executor thread: a change is written to SQLite
  durably first and applied in memory only once it is on disk (`NotSaved`
  otherwise), so a client told 200 is never told a change that a crash or a
  failing disk then loses.

One lock guards the memory state and is never held during SQLite or counter
I/O; a flush copies what changed under the lock and writes it outside. The
flush lock orders writes: a change's write and its application in memory
happen under it, so no routine flush writes the state from before the change
over it.

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
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trafficmon.capture.model import Snapshot
from trafficmon.state.breakdown import Breakdown
from trafficmon.state.cap import used_percent
from trafficmon.state.config import DECIMAL_GB, AccountingConfig
from trafficmon.state.counters import (
    Baseline,
    CounterEvent,
    CounterReading,
    CounterSource,
    CounterTracker,
    SystemCounters,
)
from trafficmon.state.document import ADJUST_MODES, export_document, parse_document
from trafficmon.state.history import DailyTotals, DailyView, MinuteHistory
from trafficmon.state.periods import (
    BillingCycle,
    DateSpan,
    apportion,
    day_edges,
    iso,
    local_date,
    local_dates,
)
from trafficmon.state.projection import outlook
from trafficmon.state.records import NOTE_CHARS, AuditEntry, PeriodRecord, StoredState, ThresholdEvent
from trafficmon.state.datadir import DataDirUnusable
from trafficmon.state.store import FlushBatch, MovedAside, NotSaved, Store
from trafficmon.state.validation import (
    MAX_BYTES,
    ValidationError,
    require_choice,
    require_int,
    require_number,
    require_text,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock time in epoch seconds (time.time, or a test's fake)."""
Subscriber = Callable[[ThresholdEvent], None]

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
BITS_PER_GBIT = 10**9
RECENT_COUNTER_EVENTS = 50
"""Counter events (resets, reboots, ...) kept for the status view."""
DEFAULT_TOP_HOSTS = 20
_SAME_INSTANT = 1e-6
"""Instants closer than this are one (ISO 8601 keeps microseconds)."""
_WARNING_COUNTER_EVENTS = frozenset({"reboot", "reset", "implausible", "selection"})


@dataclass(slots=True)
class _Dirty:
    """What changed in memory since the last flush."""

    replace_all: bool = False
    periods: set[float] = field(default_factory=set)
    events: list[ThresholdEvent] = field(default_factory=list)


class Accountant:
    """Traffic accounting against a monthly cap; see the module docstring for the threads."""

    # The traffic state, set by _install (at construction, start and import).
    _cycle: BillingCycle
    _current: PeriodRecord
    _archive: list[PeriodRecord]
    _daily: DailyTotals
    _minutes: MinuteHistory
    _breakdown: Breakdown
    _audit: list[AuditEntry]
    _events: list[ThresholdEvent]
    _fired: set[str]
    _dirty: _Dirty

    def __init__(
        self,
        config: AccountingConfig,
        *,
        clock: Clock = time.time,
        counters: CounterSource | None = None,
    ) -> None:
        self._base_config = config
        self._config = config
        self._clock = clock
        self._counters = counters if counters is not None else SystemCounters(config.interfaces)
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._subscribers: list[Subscriber] = []
        self._outbox: list[ThresholdEvent] = []
        self._overrides: dict[str, dict[str, Any]] = {}
        self._tracker = self._new_tracker(None)
        self._tracking_since: float | None = None
        self._last_reading: float | None = None
        self._last_flush: float | None = None
        self._flush_error: str | None = None
        self._unsaved_since: float | None = None
        self._moved_aside: MovedAside | None = None
        self._reading_error: str | None = None
        self._interfaces: tuple[str, ...] = ()
        self._counter_events: deque[CounterEvent] = deque(maxlen=RECENT_COUNTER_EVENTS)
        self._install(StoredState(), self._clock())

    # ---- lifecycle -------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Open (or recover) the store, load the state, count what moved while stopped.

        With `background` (the default) a thread then polls the counters and
        flushes; without it the caller drives `poll()` and `flush()` (tests,
        tools).
        """
        with self._lock:
            if self._store is not None:
                raise RuntimeError("the accountant is already started")
        now = self._clock()
        store, stored = Store.open(self._base_config.data_dir, now)
        with self._lock:
            overrides = stored.meta.get("settings")
            config, kept, dropped = self._base_config.with_overrides(
                overrides if isinstance(overrides, Mapping) else {}
            )
            if dropped:
                log.info(
                    "settings changed at run time and since overridden by the configuration "
                    "(or no longer valid) were dropped: %s",
                    ", ".join(dropped),
                )
            self._config = config
            self._overrides = kept
            self._tracker = self._new_tracker(_stored_baseline(stored.meta.get("counters")))
            since = stored.meta.get("tracking_since")
            self._tracking_since = float(since) if isinstance(since, (int, float)) else None
            self._install(stored, now)
            self._store = store
            self._moved_aside = store.moved_aside
        self.poll()
        self.flush()
        if background:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="trafficmon-accounting", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, count the last bytes, flush, close the store."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join()
        if self._store is None:
            return
        self.poll()
        self.flush()
        with self._flush_lock:
            store, self._store = self._store, None
            store.close()

    def _run(self) -> None:
        next_flush = time.monotonic() + self._config.flush_interval
        while not self._stopping.is_set():
            woken = self._wake.wait(self._config.poll_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.poll()
                if woken or time.monotonic() >= next_flush:
                    self.flush()
                    next_flush = time.monotonic() + self._config.flush_interval
            except Exception:
                log.exception("accounting cycle failed; trying again with the next one")

    def poll(self) -> list[ThresholdEvent]:
        """Read the counters now, roll periods over, fire (and persist, then publish) events.

        Run by the background thread; blocking (counter read, SQLite write when
        an event fires), so never call it on the event loop.
        """
        self._poll_counters()
        with self._lock:
            self._check_thresholds(self._clock())
            events, self._outbox = self._outbox, []
        if events:
            self.flush()
            self._publish(events)
        return events

    def flush(self) -> bool:
        """Write what changed to SQLite in one transaction; False when that failed.

        Blocking: the background thread runs it; call it from an executor
        otherwise. A flush that fails for any reason keeps its batch: the next
        one rewrites the whole state from memory. A database found corrupt is
        moved aside and rewritten from memory.
        """
        with self._flush_lock:
            if self._store is None:
                return False
            with self._lock:
                batch = self._take_batch(self._clock(), everything=False)
            return self._write(batch) is None

    def _write(self, batch: FlushBatch) -> Exception | None:
        """Write `batch` (the caller holds the flush lock); the error when it did not land.

        A failure marks the whole state for rewriting, so nothing of the batch,
        nor of what changed meanwhile, is dropped.
        """
        assert self._store is not None
        now = self._clock()
        try:
            self._store.write(batch)
        except sqlite3.Error as exc:
            if not Store.says_corrupt(exc):
                return self._flush_failed(exc)
            unreadable = self._store.unreadable()
            if unreadable is not None:
                return self._flush_failed(
                    OSError(f"{self._store.path.name} cannot be read: {unreadable} (SQLite says: {exc})")
                )
            if not self._store.is_corrupt():
                return self._flush_failed(exc)
            try:
                self._store = self._store.recover(now, str(exc))
            except DataDirUnusable as unusable:
                return self._flush_failed(unusable)
            self._moved_aside = self._store.moved_aside
            with self._lock:
                whole = self._take_batch(now, everything=True)
            try:
                self._store.write(whole)
            except Exception as again:
                return self._flush_failed(again)
            if batch.durable:
                self._saved(now)
                return exc  # the change is not in `whole`: refused, so the client sends it again
        except Exception as exc:
            return self._flush_failed(exc)
        self._saved(now)
        return None

    def _saved(self, now: float) -> None:
        if self._unsaved_since is not None:
            log.info("the traffic state is written again (writes had failed since %s)",
                     self._iso(self._unsaved_since))
        self._last_flush = now
        self._flush_error = None
        self._unsaved_since = None

    def _flush_failed(self, exc: Exception) -> Exception:
        with self._lock:
            self._dirty.replace_all = True
        if self._unsaved_since is None:
            self._unsaved_since = self._clock()
        if str(exc) != self._flush_error:
            if isinstance(exc, sqlite3.Error):
                log.error("writing the traffic state failed (%s); retrying with the next flush", exc)
            else:
                log.exception("writing the traffic state failed; retrying with the next flush")
        self._flush_error = str(exc)
        return exc

    def _save(self, batch: FlushBatch, what: str) -> None:
        """Write a change a client is about to be told succeeded, before it is applied.

        The caller holds the flush lock (so no routine flush writes the old
        state over it) and applies the change in memory only after this
        returns; raises NotSaved, with nothing changed, when it did not land.
        """
        if self._store is None:
            raise NotSaved(what, "accounting has not started")
        error = self._write(batch)
        if error is not None:
            raise NotSaved(what, str(error))

    # ---- input -----------------------------------------------------------

    def on_snapshot(self, snap: Snapshot) -> None:
        """Add one engine tick's per-process usage to the current period's breakdown.

        Called on the engine's tick thread. When a period boundary has passed
        since the last counter poll, the counters are read first so the period
        rolls over and this tick's usage lands in the new one.
        """
        if not snap.usage:
            return
        now = self._clock()
        with self._lock:
            due = now >= self._current.end
        if due:
            self._poll_counters()
        with self._lock:
            for usage in snap.usage:
                self._breakdown.add(usage)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every threshold event; returns the unsubscribe function.

        Callbacks run on the accountant's background thread (or whichever
        thread called `poll`): an asyncio consumer should hand the event over
        with `loop.call_soon_threadsafe`. A failing callback is logged and
        does not stop the others.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def adjust(self, mode: str, amount: int, note: str = "") -> dict[str, Any]:
        """Change the current period's counted total by hand; returns the audit entry.

        "set" makes the counted total `amount` bytes, "add" adds `amount`
        (negative subtracts). The counted total never goes below zero. The
        change is on disk (NotSaved otherwise) before it is applied: blocking,
        so call it from an executor.
        """
        require_choice(mode, "mode", ADJUST_MODES)
        require_int(amount, "bytes", minimum=0 if mode == "set" else None)
        require_text(note, "note", max_length=NOTE_CHARS, lines=True)
        with self._flush_lock:
            with self._lock:
                now = self._clock()
                period = self._current
                old_counted = period.counted
                new_counted = amount if mode == "set" else old_counted + amount
                if new_counted < 0:
                    raise ValidationError(
                        "bytes", f"would make the counted total negative ({new_counted})"
                    )
                if new_counted > MAX_BYTES:
                    raise ValidationError("bytes", "makes the counted total too large")
                entry = AuditEntry(
                    id=self._audit[-1].id + 1 if self._audit else 1,
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
                batch = self._take_batch(now, everything=False, durable=True)
                batch.periods = [p for p in batch.periods if p.start != period.start]
                batch.periods.append(dataclasses.replace(_copy(period), offset=entry.new_offset))
                batch.audit.append(entry)
            self._save(batch, "the adjustment")
            with self._lock:
                period.offset = entry.new_offset
                self._audit.append(entry)
                result = self._audit_json(entry)
        log.info(
            "manual adjustment (%s %d): counted total %d -> %d; %s",
            mode,
            amount,
            old_counted,
            new_counted,
            note or "no note",
        )
        return result

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change live settings (validated as a whole), persist and apply them; returns settings().

        Only the settings `AccountingConfig.live_settings()` names can change
        while running; anything else raises ValidationError and changes nothing.
        """
        if not isinstance(changes, Mapping):
            raise ValidationError("settings", "must be an object of setting names to values")
        live = AccountingConfig.live_settings()
        known = set(self._config.to_dict())
        for name in changes:
            if name not in known:
                raise ValidationError(str(name), "is not a setting")
            if name not in live:
                raise ValidationError(
                    str(name), "can only be changed in the configuration, with a restart"
                )
        with self._flush_lock:
            with self._lock:
                config = self._config.updated(changes)
                base = self._base_config.to_dict()
                values = config.to_dict()
                overrides = {name: dict(entry) for name, entry in self._overrides.items()}
                for name in changes:
                    if values[name] == base[name]:
                        overrides.pop(name, None)
                    else:
                        overrides[name] = {"value": values[name], "base": base[name]}
                batch = self._take_batch(self._clock(), everything=False, durable=True)
                batch.meta["settings"] = overrides
            self._save(batch, "the settings change")
            with self._lock:
                self._overrides = overrides
                self._config = config
                self._cycle = BillingCycle(config.reset_day, config.reset_hour, config.zone)
                self._tracker.fallback_speed_bps = config.link_speed_gbit * BITS_PER_GBIT
                self._events = [self._localized(event) for event in self._events]
                self._align_current(self._clock())
                settings = config.to_dict()
        log.info("settings changed: %s", ", ".join(f"{k}={values[k]!r}" for k in changes))
        self._wake.set()
        return settings

    def import_state(self, doc: Any) -> dict[str, Any]:
        """Replace the whole traffic state with an exported document; returns period().

        The document is checked as a whole first (ValidationError names the bad
        field, and nothing changes); then it replaces the state at once, and the
        next flush rewrites the database in one transaction. The live counter
        baseline stays: traffic after the import is added to the imported
        totals. The current period follows the configured cap and cycle.
        """
        now = self._clock()
        parsed = parse_document(doc, config=self._config, now=now)
        with self._flush_lock:
            with self._lock:
                meta = self._meta()
            self._save(FlushBatch.whole(parsed, meta, durable=True), "the import")
            with self._lock:
                self._install(parsed, now)
                self._dirty.replace_all = True
                self._roll_over(now)
        log.info("imported a traffic state document")
        self._wake.set()
        return self.period()

    # ---- reads -----------------------------------------------------------

    def period(self) -> dict[str, Any]:
        """The current billing period's figures (the `GET /data` view)."""
        with self._lock:
            now = self._clock()
            config = self._config
            current = self._current
            percent = used_percent(current.counted, current.cap_bytes)
            coverage = self._breakdown.coverage(current.outbound).to_dict()
            return {
                "start": self._iso(current.start),
                "end": self._iso(current.end),
                "timezone": config.timezone,
                "reset_day": config.reset_day,
                "reset_hour": config.reset_hour,
                "outbound": current.outbound,
                "inbound": current.inbound,
                "offset": current.offset,
                "metered": current.metered,
                "counted": current.counted,
                "cap_counts": current.cap_counts.value,
                "cap_bytes": current.cap_bytes,
                "cap_gb": current.cap_bytes / DECIMAL_GB,
                "used_percent": round(percent, 2),
                "remaining": max(0, current.cap_bytes - current.counted),
                "level": config.thresholds.level(percent),
                "thresholds": {
                    "warning": config.warning_percent,
                    "critical": config.critical_percent,
                    "exceeded": config.exceeded_percent,
                },
                "days_left": round(max(0.0, current.end - now) / SECONDS_PER_DAY, 2),
                "projection": self._projection(now),
                "breakdown_coverage": coverage["explained"],
                "breakdown": coverage,
                "updated": self._iso(self._last_reading) if self._last_reading else None,
            }

    def _projection(self, now: float) -> dict[str, Any]:
        """The period-end projection and what it rests on (see `state.projection`)."""
        return outlook(
            self._current,
            self._daily,
            self._config.zone,
            counting_since=self._tracking_since,
            now=now,
            days=self._config.projection_days,
        )

    def daily(self, days: int | None = None) -> list[dict[str, Any]]:
        """Daily totals of the last `days` days up to today (default: the current period's days)."""
        return self.daily_view(days).rows

    def daily_view(self, days: int | None = None) -> DailyView:
        """`daily(days)` with the dates a chart of it spans: the whole current period by
        default (its days after today empty), else the last `days` days."""
        if days is not None:
            require_int(days, "days", minimum=1, maximum=self._config.daily_retention_days)
        with self._lock:
            zone = self._config.zone
            today = local_date(self._clock(), zone)
            period = local_dates(self._current.start, self._current.end, zone)
            if days is None:
                # Until the background thread's next poll rolls the period over,
                # today may already be past its last day: it is shown all the same.
                shown = DateSpan(period.first, max(period.last, today))
            else:
                shown = DateSpan(today - timedelta(days=days - 1), today)
            counts = self._config.cap_counts
            rows = [
                {
                    "date": day,
                    "outbound": sent,
                    "inbound": received,
                    "total": sent + received,
                    "counted": counts.counted(sent, received),
                }
                for day, sent, received in self._daily.span(shown.first, today)
            ]
            return DailyView(rows, shown, period, today)

    def months(self) -> list[dict[str, Any]]:
        """The current period, then every closed period, newest first."""
        with self._lock:
            top = self._config.archive_top
            current = self._month_json(self._current, True)
            current["processes"] = self._breakdown.listing("process", top)
            current["hosts"] = self._breakdown.listing("host", top)
            return [current, *(self._month_json(p, False) for p in reversed(self._archive))]

    def _month_json(self, period: PeriodRecord, is_current: bool) -> dict[str, Any]:
        peak = period.peak_day()
        top = period.top or {}
        return {
            "start": self._iso(period.start),
            "end": self._iso(period.end),
            "current": is_current,
            "outbound": period.outbound,
            "inbound": period.inbound,
            "offset": period.offset,
            "counted": period.counted,
            "cap_counts": period.cap_counts.value,
            "cap_bytes": period.cap_bytes,
            "cap_gb": period.cap_bytes / DECIMAL_GB,
            "used_percent": round(used_percent(period.counted, period.cap_bytes), 2),
            "peak_day": None
            if peak is None
            else {
                "date": peak[0],
                "outbound": peak[1],
                "inbound": peak[2],
                "counted": period.cap_counts.counted(peak[1], peak[2]),
            },
            "processes": top.get("process"),
            "hosts": top.get("host"),
        }

    def processes(self, by: str = "name", limit: int | None = None) -> list[dict[str, Any]]:
        """The current period's totals per process name (or per name and command line)."""
        require_choice(by, "by", ("name", "cmdline"))
        if limit is not None:
            require_int(limit, "limit", minimum=1)
        with self._lock:
            return self._breakdown.listing("process" if by == "name" else "cmdline", limit)

    def hosts(self, limit: int = DEFAULT_TOP_HOSTS) -> list[dict[str, Any]]:
        """The current period's top talkers: totals per remote address, largest sender first."""
        require_int(limit, "limit", minimum=1)
        with self._lock:
            return self._breakdown.listing("host", limit)

    def unknown(self) -> list[dict[str, Any]]:
        """The current period's bytes no process was found for, per transport."""
        with self._lock:
            return self._breakdown.listing("unknown")

    def history(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """Per-minute points of the last `seconds` (default: all kept), oldest first."""
        retention = self._config.minute_history_hours * SECONDS_PER_HOUR
        span = retention if seconds is None else require_number(seconds, "seconds")
        if not 0 < span <= retention:
            raise ValidationError("seconds", f"must be between 0 and {retention}")
        with self._lock:
            now = self._clock()
            return self._minutes.points(now - span, now)

    def audit(self) -> list[dict[str, Any]]:
        """Every manual adjustment, oldest first."""
        with self._lock:
            return [self._audit_json(entry) for entry in self._audit]

    def _audit_json(self, entry: AuditEntry) -> dict[str, Any]:
        return {
            "id": entry.id,
            "time": self._iso(entry.time),
            "period_start": self._iso(entry.period_start),
            "mode": entry.mode,
            "bytes": entry.amount,
            "old_offset": entry.old_offset,
            "new_offset": entry.new_offset,
            "old_counted": entry.old_counted,
            "new_counted": entry.new_counted,
            "note": entry.note,
        }

    def events(self) -> list[ThresholdEvent]:
        """Every threshold event fired so far, oldest first, in the configured time zone."""
        with self._lock:
            return list(self._events)

    def settings(self) -> dict[str, Any]:
        """The settings in force (startup configuration plus run-time changes)."""
        with self._lock:
            return self._config.to_dict()

    def export_state(self) -> dict[str, Any]:
        """The whole traffic state as one JSON-ready document (see `state.document`)."""
        with self._lock:
            now = self._clock()
            snapshot = StoredState(
                current=_copy(self._current),
                archive=list(self._archive),
                daily={day: list(v) for day, v in self._daily.days.items()},
                minutes={minute: list(v) for minute, v in self._minutes.buckets.items()},
                usage=self._breakdown.rows(),
                audit=list(self._audit),
                events=list(self._events),
            )
            config = self._config
        return export_document(snapshot, zone=config.zone, zone_name=config.timezone, now=now)

    def status(self) -> dict[str, Any]:
        """How the accounting itself is doing: store, counters, last flush."""
        with self._lock:
            store = self._store
            return {
                "running": store is not None,
                "persistent": store is not None and self._flush_error is None,
                "database": str(store.path) if store is not None else None,
                "last_flush": self._iso(self._last_flush) if self._last_flush else None,
                "flush_error": self._flush_error,
                "unsaved_since": self._iso(self._unsaved_since) if self._unsaved_since else None,
                "moved_aside": self._moved_aside_view(),
                "counter_error": self._reading_error,
                "interfaces": list(self._interfaces),
                "counting_since": self._iso(self._tracking_since)
                if self._tracking_since is not None
                else None,
                "counter_events": [
                    {**event.to_dict(), "time": self._iso(event.time)}
                    for event in self._counter_events
                ],
            }

    def _moved_aside_view(self) -> dict[str, Any] | None:
        """A database moved aside, said for the rest of the period it happened in."""
        moved = self._moved_aside
        if moved is None or moved.time < self._current.start:
            return None
        return {"moved_to": str(moved.moved_to), "reason": moved.reason, "time": self._iso(moved.time)}

    # ---- internals (called with the lock held unless said otherwise) ------

    def _new_tracker(self, baseline: Baseline | None) -> CounterTracker:
        return CounterTracker(
            selection=self._config.interfaces,
            fallback_speed_bps=self._config.link_speed_gbit * BITS_PER_GBIT,
            counter_bits=self._config.counter_bits,
            baseline=baseline,
        )

    def _install(self, stored: StoredState, now: float) -> None:
        """Make `stored` the in-memory state (at start, and for an import)."""
        config = self._config
        self._cycle = BillingCycle(config.reset_day, config.reset_hour, config.zone)
        self._dirty = _Dirty()
        current = stored.current
        if current is None:
            period = self._cycle.period_at(now)
            current = PeriodRecord(period.start, period.end, config.cap_bytes, config.cap_counts)
        self._current = current
        self._archive = list(stored.archive)
        self._daily = DailyTotals(config.daily_retention_days, stored.daily)
        self._minutes = MinuteHistory(
            config.minute_history_hours * SECONDS_PER_HOUR, stored.minutes
        )
        self._breakdown = Breakdown.from_rows(
            stored.usage, max_processes=config.max_processes, max_hosts=config.max_hosts
        )
        self._audit = sorted(stored.audit, key=lambda entry: entry.id)
        self._events = [self._localized(event) for event in stored.events]
        self._fired = {
            event.level
            for event in self._events
            if abs(event.period_start.timestamp() - current.start) < _SAME_INSTANT
        }
        self._align_current(now)

    def _align_current(self, now: float) -> None:
        """Make the current period follow the configured cycle, cap and cap rule."""
        current = self._current
        config = self._config
        if current.start <= now < current.end:
            current.end = self._cycle.period_at(now).end
        current.cap_bytes = config.cap_bytes
        current.cap_counts = config.cap_counts
        self._dirty.periods.add(current.start)

    def _localized(self, event: ThresholdEvent) -> ThresholdEvent:
        zone = self._config.zone
        return dataclasses.replace(
            event,
            period_start=event.period_start.astimezone(zone),
            time=event.time.astimezone(zone),
        )

    def _iso(self, instant: float) -> str:
        return iso(instant, self._config.zone)

    def _poll_counters(self) -> None:
        """Read the counters and apply the reading (takes the poll lock, then the lock)."""
        with self._poll_lock:
            reading: CounterReading | None
            try:
                reading = self._counters()
            except Exception as exc:  # a broken reader must not stop the accounting
                reading = None
                if str(exc) != self._reading_error:
                    log.warning("reading the interface counters failed: %s", exc)
                self._reading_error = str(exc)
            now = self._clock()
            with self._lock:
                if reading is not None:
                    self._reading_error = None
                    self._apply_reading(reading, now)
                self._roll_over(now)

    def _apply_reading(self, reading: CounterReading, now: float) -> None:
        delta = self._tracker.advance(reading, now)
        for event in delta.events:
            self._counter_events.append(event)
            log.log(
                logging.WARNING if event.kind in _WARNING_COUNTER_EVENTS else logging.INFO,
                "interface counters%s: %s",
                f" of {event.interface}" if event.interface else "",
                event.detail,
            )
        if self._tracking_since is None:
            self._tracking_since = now
        self._interfaces = tuple(sorted(reading.interfaces))
        self._last_reading = now
        if delta.since is not None and (delta.sent or delta.recv):
            self._add_traffic(delta.since, now, delta.sent, delta.recv)
        self._breakdown.mark()

    def _add_traffic(self, start: float, end: float, sent: int, received: int) -> None:
        """Book bytes that moved during [start, end) to their days and periods, by time share."""
        zone = self._config.zone
        edges = day_edges(start, end, zone) + self._period_edges(start, end) if end > start else []
        for piece_start, _, (piece_sent, piece_received) in apportion(
            start, end, edges, (sent, received)
        ):
            while piece_start >= self._current.end:
                self._close_period()
            day = local_date(piece_start, zone).isoformat()
            self._current.add(day, piece_sent, piece_received)
            self._daily.add(day, piece_sent, piece_received)
        self._dirty.periods.add(self._current.start)
        self._minutes.add(start, end, sent, received, end)

    def _period_edges(self, start: float, end: float) -> list[float]:
        """Where the current period and those after it end, between `start` and `end`."""
        edges = []
        edge = self._current.end
        while edge < end:
            if edge > start:
                edges.append(edge)
            edge = self._cycle.period_at(edge).end
        return edges

    def _roll_over(self, now: float) -> None:
        while now >= self._current.end:
            self._close_period()

    def _close_period(self) -> None:
        """Archive the current period with its breakdown summary and start the next at zero.

        Thresholds are checked first, so a crossing in the period's last
        moments still fires for that period.
        """
        self._check_thresholds(self._clock())
        config = self._config
        closed = self._current
        closed.top = self._breakdown.summary(config.archive_top)
        self._archive.append(closed)
        self._dirty.periods.add(closed.start)
        following = self._cycle.period_at(closed.end)
        self._current = PeriodRecord(closed.end, following.end, config.cap_bytes, config.cap_counts)
        self._dirty.periods.add(self._current.start)
        self._breakdown = Breakdown(max_processes=config.max_processes, max_hosts=config.max_hosts)
        self._fired = set()
        log.info(
            "billing period %s - %s closed: outbound %d, inbound %d, counted %d of %d bytes",
            self._iso(closed.start),
            self._iso(closed.end),
            closed.outbound,
            closed.inbound,
            closed.counted,
            closed.cap_bytes,
        )

    def _check_thresholds(self, now: float) -> None:
        """Queue an event for every level the current period reached for the first time."""
        current = self._current
        percent = used_percent(current.counted, current.cap_bytes)
        for level in self._config.thresholds.reached(percent):
            if level in self._fired:
                continue
            zone = self._config.zone
            event = ThresholdEvent(
                level=level,
                period_start=datetime.fromtimestamp(current.start, zone),
                used=current.counted,
                cap=current.cap_bytes,
                time=datetime.fromtimestamp(now, zone),
            )
            self._fired.add(level)
            self._events.append(event)
            self._dirty.events.append(event)
            self._outbox.append(event)
            log.warning(
                "traffic %s: %d of %d bytes (%.1f%%) counted in the period from %s",
                level,
                event.used,
                event.cap,
                event.percent,
                self._iso(current.start),
            )

    def _publish(self, events: list[ThresholdEvent]) -> None:
        """Hand events to the subscribers (without the lock held)."""
        with self._lock:
            subscribers = list(self._subscribers)
        for event in events:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:
                    log.exception("a threshold event subscriber failed")

    def _meta(self) -> dict[str, Any]:
        """The store's own keys: the counter baseline the totals were computed from, overrides."""
        return {
            "counters": self._tracker.baseline.to_dict() if self._tracker.baseline else None,
            "settings": {name: dict(entry) for name, entry in self._overrides.items()},
            "tracking_since": self._tracking_since,
        }

    def _take_batch(self, now: float, *, everything: bool, durable: bool = False) -> FlushBatch:
        """Copy what changed since the last flush (or everything) into a batch."""
        daily_cutoff = self._daily.prune(local_date(now, self._config.zone))
        minutes_cutoff = self._minutes.prune(now)
        usage, usage_rewrite = self._breakdown.take_changes()
        days = self._daily.take_changes()
        minutes = self._minutes.take_changes()
        meta = self._meta()
        full = everything or self._dirty.replace_all
        periods = [*self._archive, self._current]
        if full:
            batch = FlushBatch(
                replace_all=True,
                current_start=self._current.start,
                durable=durable,
                periods=[_copy(p) for p in periods],
                daily={day: (v[0], v[1]) for day, v in self._daily.days.items()},
                usage=self._breakdown.rows(),
                usage_rewrite=True,
                minutes={minute: (v[0], v[1]) for minute, v in self._minutes.buckets.items()},
                audit=list(self._audit),
                events=list(self._events),
                meta=meta,
            )
        else:
            batch = FlushBatch(
                replace_all=False,
                current_start=self._current.start,
                durable=durable,
                periods=[_copy(p) for p in periods if p.start in self._dirty.periods],
                daily=days,
                daily_cutoff=daily_cutoff,
                usage=usage,
                usage_rewrite=usage_rewrite,
                minutes=minutes,
                minutes_cutoff=minutes_cutoff,
                audit=[],
                events=self._dirty.events,
                meta=meta,
            )
        self._dirty = _Dirty()
        return batch


def _copy(period: PeriodRecord) -> PeriodRecord:
    """A copy another thread can serialise while this one keeps adding to the original."""
    return dataclasses.replace(period, days={day: list(v) for day, v in period.days.items()})


def _stored_baseline(value: Any) -> Baseline | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return Baseline.from_dict(value)
    except ValueError as exc:
        log.warning("ignoring the stored counter baseline (%s); counting restarts now", exc)
        return None
