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

The bookkeeping and its rules are `state.ledger`'s, the published views
`state.views`', the flush batches `state.batches`' and their writing
`state.flushing`'s; this module owns the thread and the locks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from trafficmon.capture.model import Snapshot
from trafficmon.state.config import AccountingConfig
from trafficmon.state.counters import CounterReading, CounterSource, SystemCounters
from trafficmon.state.batches import adjustment_batch, settings_batch, store_meta, take_batch
from trafficmon.state.document import export_document, parse_document
from trafficmon.state.ledger import SECONDS_PER_HOUR, Clock, Ledger
from trafficmon.state.flushing import StoreWriter
from trafficmon.state.reads import Adjustment, DailyView, DayRow, MonthView, PeriodView, StatusView
from trafficmon.state.records import ThresholdEvent, UsageRow
from trafficmon.state.store import FlushBatch, Store
from trafficmon.state.validation import ValidationError, require_choice, require_int, require_number
from trafficmon.state.views import daily_view, months_view, period_view, status_view

log = logging.getLogger(__name__)

Subscriber = Callable[[ThresholdEvent], None]

DEFAULT_TOP_HOSTS = 20
_WARNING_COUNTER_EVENTS = frozenset({"reboot", "reset", "implausible", "selection"})


class Accountant:
    """Traffic accounting against a monthly cap; see the module docstring for the threads."""

    def __init__(
        self,
        config: AccountingConfig,
        *,
        clock: Clock = time.time,
        counters: CounterSource | None = None,
        sql_trace: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._counters = counters if counters is not None else SystemCounters(config.interfaces)
        self._ledger = Ledger(config, clock)
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer = StoreWriter(
            clock, everything=self._everything, unsaved=self._unsaved, iso=self._ledger.iso, sql_trace=sql_trace
        )
        self._subscribers: list[Subscriber] = []
        self._reading_error: str | None = None

    # ---- lifecycle -------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Open (or recover) the store, load the state, count what moved while stopped.

        With `background` (the default) a thread then polls the counters and
        flushes; without it the caller drives `poll()` and `flush()` (tests,
        tools).
        """
        with self._lock:
            if self._writer.store is not None:
                raise RuntimeError("the accountant is already started")
        now = self._clock()
        store, stored = Store.open(self._ledger.base_config.data_dir, now)
        with self._lock:
            self._ledger.load(stored, now)
            self._writer.open(store)
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
        if self._writer.store is None:
            return
        self.poll()
        self.flush()
        with self._flush_lock:
            self._writer.close()

    def _run(self) -> None:
        next_flush = time.monotonic() + self._ledger.config.flush_interval
        while not self._stopping.is_set():
            woken = self._wake.wait(self._ledger.config.poll_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.poll()
                if woken or time.monotonic() >= next_flush:
                    self.flush()
                    next_flush = time.monotonic() + self._ledger.config.flush_interval
            except Exception:
                log.exception("accounting cycle failed; trying again with the next one")

    def poll(self) -> list[ThresholdEvent]:
        """Read the counters now, roll periods over, fire (and persist, then publish) events.

        Run by the background thread; blocking (counter read, SQLite write when
        an event fires), so never call it on the event loop.
        """
        self._poll_counters()
        with self._lock:
            self._ledger.check_thresholds(self._clock())
            events = self._ledger.take_outbox()
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
            if self._writer.store is None:
                return False
            with self._lock:
                batch = take_batch(self._ledger, self._clock(), everything=False)
            return self._writer.write(batch) is None

    def _everything(self, now: float) -> FlushBatch:
        """The whole state as a batch, for the writer's rewrite after a recovery."""
        with self._lock:
            return take_batch(self._ledger, now, everything=True)

    def _unsaved(self) -> None:
        """A write failed: the next flush writes the whole state."""
        with self._lock:
            self._ledger.write_whole()

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
            due = now >= self._ledger.current.end
        if due:
            self._poll_counters()
        with self._lock:
            self._ledger.add_usage(snap.usage)

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

    def adjust(self, mode: str, amount: int, note: str = "") -> Adjustment:
        """Change the current period's counted total by hand; returns the audit entry.

        "set" makes the counted total `amount` bytes, "add" adds `amount`
        (negative subtracts). The counted total never goes below zero. The
        change is on disk (NotSaved otherwise) before it is applied: blocking,
        so call it from an executor.
        """
        with self._flush_lock:
            with self._lock:
                now = self._clock()
                entry = self._ledger.adjustment(mode, amount, note, now)
                batch = adjustment_batch(self._ledger, entry, now)
            self._writer.save(batch, "the adjustment")
            with self._lock:
                self._ledger.apply_adjustment(entry)
                result = Adjustment.of(entry, self._ledger.config.zone)
        log.info(
            "manual adjustment (%s %d): counted total %d -> %d; %s",
            mode,
            amount,
            entry.old_counted,
            entry.new_counted,
            note or "no note",
        )
        return result

    def update_settings(self, changes: Mapping[str, Any]) -> AccountingConfig:
        """Change live settings (validated as a whole), persist and apply them; returns settings().

        Only the settings `AccountingConfig.live_settings()` names can change
        while running; anything else raises ValidationError and changes nothing.
        """
        with self._flush_lock:
            with self._lock:
                config, overrides = self._ledger.settings_overrides(changes)
                batch = settings_batch(self._ledger, overrides, self._clock())
            self._writer.save(batch, "the settings change")
            with self._lock:
                self._ledger.apply_settings(config, overrides, self._clock())
        shown = config.to_dict()
        log.info("settings changed: %s", ", ".join(f"{k}={shown[k]!r}" for k in changes))
        self._wake.set()
        return config

    def import_state(self, doc: Any) -> PeriodView:
        """Replace the whole traffic state with an exported document; returns period().

        The document is checked as a whole first (ValidationError names the bad
        field, and nothing changes); then it replaces the state at once, and the
        next flush rewrites the database in one transaction. The live counter
        baseline stays: traffic after the import is added to the imported
        totals. The current period follows the configured cap and cycle.
        """
        now = self._clock()
        parsed = parse_document(doc, config=self._ledger.config, now=now)
        with self._flush_lock:
            with self._lock:
                meta = store_meta(self._ledger)
            self._writer.save(FlushBatch.whole(parsed, meta, durable=True), "the import")
            with self._lock:
                self._ledger.import_state(parsed, now)
        log.info("imported a traffic state document")
        self._wake.set()
        return self.period()

    # ---- reads (from memory, under the lock; see state.views) -------------

    def period(self) -> PeriodView:
        """The current billing period's figures (the `GET /data` view)."""
        with self._lock:
            return period_view(self._ledger, self._clock())

    def daily(self, days: int | None = None) -> list[DayRow]:
        """Daily totals of the last `days` days up to today (default: the current period's days)."""
        return self.daily_view(days).rows

    def daily_view(self, days: int | None = None) -> DailyView:
        """`daily(days)` with the dates a chart of it spans: the whole current period by
        default (its days after today empty), else the last `days` days."""
        if days is not None:
            require_int(days, "days", minimum=1, maximum=self._ledger.config.daily_retention_days)
        with self._lock:
            return daily_view(self._ledger, self._clock(), days)

    def months(self) -> list[MonthView]:
        """The current period, then every closed period, newest first."""
        with self._lock:
            return months_view(self._ledger)

    def processes(self, by: str = "name", limit: int | None = None) -> list[UsageRow]:
        """The current period's totals per process name (or per name and command line)."""
        require_choice(by, "by", ("name", "cmdline"))
        if limit is not None:
            require_int(limit, "limit", minimum=1)
        with self._lock:
            return self._ledger.breakdown.listing("process" if by == "name" else "cmdline", limit)

    def hosts(self, limit: int = DEFAULT_TOP_HOSTS) -> list[UsageRow]:
        """The current period's top talkers: totals per remote address, largest sender first."""
        require_int(limit, "limit", minimum=1)
        with self._lock:
            return self._ledger.breakdown.listing("host", limit)

    def unknown(self) -> list[UsageRow]:
        """The current period's bytes no process was found for, per transport."""
        with self._lock:
            return self._ledger.breakdown.listing("unknown")

    def history(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """Per-minute points of the last `seconds` (default: all kept), oldest first."""
        retention = self._ledger.config.minute_history_hours * SECONDS_PER_HOUR
        span = retention if seconds is None else require_number(seconds, "seconds")
        if not 0 < span <= retention:
            raise ValidationError("seconds", f"must be between 0 and {retention}")
        with self._lock:
            now = self._clock()
            return self._ledger.minutes.points(now - span, now)

    def audit(self) -> list[Adjustment]:
        """Every manual adjustment, oldest first."""
        with self._lock:
            zone = self._ledger.config.zone
            return [Adjustment.of(entry, zone) for entry in self._ledger.audit]

    def events(self) -> list[ThresholdEvent]:
        """Every threshold event fired so far, oldest first, in the configured time zone."""
        with self._lock:
            return list(self._ledger.events)

    def settings(self) -> AccountingConfig:
        """The settings in force (startup configuration plus run-time changes); `to_dict()` is their JSON."""
        with self._lock:
            return self._ledger.config

    def export_state(self) -> dict[str, Any]:
        """The whole traffic state as one JSON-ready document (see `state.document`)."""
        with self._lock:
            now = self._clock()
            self._ledger.minutes.prune(now)  # what the next flush drops is not exported either
            snapshot = self._ledger.snapshot()
            config = self._ledger.config
        return export_document(snapshot, zone=config.zone, zone_name=config.timezone, now=now)

    def status(self) -> StatusView:
        """How the accounting itself is doing: store, counters, last flush."""
        with self._lock:
            writer = self._writer
            return status_view(
                self._ledger,
                database=writer.store.path if writer.store is not None else None,
                last_flush=writer.last_flush,
                flush_error=writer.flush_error,
                unsaved_since=writer.unsaved_since,
                moved_aside=writer.moved_aside,
                counter_error=self._reading_error,
            )

    # ---- internals -------------------------------------------------------

    def _poll_counters(self) -> None:
        """Read the counters and book the reading (takes the poll lock, then the lock)."""
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
                    for event in self._ledger.apply_reading(reading, now):
                        log.log(
                            logging.WARNING if event.kind in _WARNING_COUNTER_EVENTS else logging.INFO,
                            "interface counters%s: %s",
                            f" of {event.interface}" if event.interface else "",
                            event.detail,
                        )
                self._ledger.roll_over(now)

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
