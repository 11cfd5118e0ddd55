"""Durable traffic accounting: billing periods, the cap, daily totals, history, SQLite.

Period totals come from the kernel's interface counters (exact, and they keep
counting while trafficmon is stopped); the per-process and per-host breakdown
comes from the capture engine's per-tick `capture.model.Usage` records. The
state lives in memory and is mirrored to SQLite in `DATA_DIR`; see
`state.accountant` for the threading rules and `state.ledger` for the accounting rules.

Public API (everything the web layer needs is exported here)::

    config = AccountingConfig(cap_gb="1000")            # ValidationError naming every bad field
    config = config.updated({"cap_gb": 1000})           # changes on top, validated whole
    host_timezone(environ) -> str                        # TIMEZONE's default: the host's zone
    AccountingConfig.describe() -> list[dict]            # name, env, unit, description, live
    AccountingConfig.live_settings() -> frozenset[str]   # what update_settings may change

    acc = Accountant(config, clock=time.time, counters=SystemCounters(config.interfaces))
    acc.start(background=True)     # open/migrate/recover the store, load, count downtime bytes;
                                   # DataDirUnusable (state.datadir) when DATA_DIR cannot keep it
    acc.stop()                     # final counter poll + flush, close; blocks briefly
                                   # (call on SIGTERM/SIGINT, e.g. from a cleanup_ctx)
    acc.poll() -> list[ThresholdEvent]   # blocking; the background thread runs it
    acc.flush() -> bool                  # blocking; one SQLite transaction

    acc.on_snapshot(snap: Snapshot) -> None    # engine tick thread: adds snap.usage

    # reads, from memory, safe on the event loop:
    acc.period() -> PeriodView     # GET /data: start, end (aware datetimes), timezone,
                                   # reset_day, reset_hour, outbound, inbound, offset, metered,
                                   # counted, cap_counts, cap_bytes, cap_gb, used_percent,
                                   # remaining, level ("ok"|"warning"|"critical"|"exceeded"),
                                   # thresholds, days_left, projection (Outlook: bytes, rate,
                                   # window_seconds, cap_date, basis, basis_text,
                                   # observed_seconds, needs_seconds), breakdown (coverage),
                                   # updated; to_dict() is the JSON (ISO 8601 with offset,
                                   # breakdown_coverage, breakdown {kernel_outbound,
                                   # captured_outbound, attributed_outbound, unknown_outbound,
                                   # explained, captured_share})
    acc.daily(days: int | None = None) -> list[DayRow]   # date, outbound, inbound, total, counted
    acc.daily_view(days: int | None = None) -> DailyView # rows (daily()), shown and period
                                   # (DateSpan: first, last, dates()), today: local dates
    acc.months() -> list[MonthView]  # current period first, then closed ones newest first:
                                   # start, end (datetimes), current, outbound, inbound, offset,
                                   # counted, cap_counts, cap_bytes, cap_gb, used_percent,
                                   # peak_day (DayRow) | None, processes, hosts (top lists)
    acc.processes(by: "name"|"cmdline" = "name", limit: int | None = None) -> list[UsageRow]
                                   # kind, key (the name), detail (cmdline), sent, received,
                                   # total; to_dict(): name[, cmdline], bytes_sent, ...
    acc.hosts(limit: int = 20) -> list[UsageRow]       # key: the remote address (JSON host)
    acc.unknown() -> list[UsageRow]                    # key: the transport
    acc.history(seconds: float | None = None) -> list[dict]
                                   # per minute: timestamp (epoch s), upload, download (B/s),
                                   # bytes_sent, bytes_received
    acc.audit() -> list[Adjustment]  # id, time, period_start (datetimes), mode, amount,
                                   # old_offset, new_offset, old_counted, new_counted, note;
                                   # to_dict(): the same, instants ISO 8601, amount as bytes
    acc.events() -> list[ThresholdEvent]  # threshold events fired so far
    acc.settings() -> AccountingConfig  # settings in force; to_dict() is their JSON
    acc.status() -> StatusView     # running, persistent, database (Path), last_flush, unsaved_since,
                                   # counting_since (datetimes), flush_error, moved_aside,
                                   # counter_error, interfaces, counter_events; .to_dict() as JSON
    acc.export_state() -> dict     # GET /api/traffic-state (state.document)

    # changes, in memory at once, persisted by the background thread:
    acc.adjust(mode: "set"|"add", amount: int, note: str = "") -> Adjustment  # the audit entry
    acc.update_settings(changes: Mapping[str, Any]) -> AccountingConfig  # settings()
    acc.import_state(doc) -> PeriodView                                  # period()
    acc.subscribe(callback: Callable[[ThresholdEvent], None]) -> Callable[[], None]

Before the accountant, the composition root (as the user who keeps the state)::

    make_data_dir(path)                     # as root, before giving DATA_DIR to RUN_AS
    check_data_dir(path)                    # DataDirUnusable: the one line saying why
    with data_dir_lock(path): ...           # DataDirBusy: another trafficmon holds it
    with counter_source(netns, interfaces) as counters: ...   # the captured namespace's counters

`OTHER` is the breakdown's name for what it folded; `MINUTE` the span of a
minute-history point, in seconds.

Every bad input raises `ValidationError(field, message)` and changes nothing.
A change that could not be written durably raises `NotSaved` and is not made:
`adjust`, `update_settings` and `import_state` block on that write (call them
from an executor).
Threshold callbacks run on the accountant's thread (use
`loop.call_soon_threadsafe`); `ThresholdEvent.to_dict()` gives level,
period_start, used, cap, percent, time.
"""

from trafficmon.state.accountant import Accountant, Clock, Subscriber
from trafficmon.state.breakdown import OTHER
from trafficmon.state.cap import LEVELS, CapCounts
from trafficmon.state.config import DECIMAL_GB, AccountingConfig, host_timezone
from trafficmon.state.counters import CounterReading, CounterSource, InterfaceCounters, SystemCounters
from trafficmon.state.datadir import DataDirUnusable, make_data_dir
from trafficmon.state.history import MINUTE
from trafficmon.state.lock import DataDirBusy, data_dir_lock
from trafficmon.state.namespace_counters import counter_source
from trafficmon.state.periods import DateSpan
from trafficmon.state.projection import Outlook
from trafficmon.state.reads import Adjustment, DailyView, DayRow, MonthView, PeriodView, StatusView
from trafficmon.state.records import NOTE_CHARS, ThresholdEvent, UsageRow
from trafficmon.state.store import NotSaved, check_data_dir
from trafficmon.state.validation import ValidationError

__all__ = [
    "DECIMAL_GB",
    "LEVELS",
    "MINUTE",
    "NOTE_CHARS",
    "OTHER",
    "Accountant",
    "Adjustment",
    "AccountingConfig",
    "CapCounts",
    "Clock",
    "CounterReading",
    "CounterSource",
    "DailyView",
    "DataDirBusy",
    "DataDirUnusable",
    "DateSpan",
    "DayRow",
    "InterfaceCounters",
    "MonthView",
    "NotSaved",
    "Outlook",
    "PeriodView",
    "StatusView",
    "Subscriber",
    "SystemCounters",
    "ThresholdEvent",
    "UsageRow",
    "ValidationError",
    "check_data_dir",
    "counter_source",
    "data_dir_lock",
    "make_data_dir",
    "host_timezone",
]
