"""The whole traffic state as one JSON document (`GET|POST /api/traffic-state`).

Export writes every durable part of the state: the current period with its
breakdown, the archive of closed periods, daily totals, the per-minute history,
the audit trail and the threshold events already published. Instants are ISO
8601 with the UTC offset of the configured zone; daily dates are the local
dates they were recorded under.

Import parses and checks the whole document before anything is touched and
raises `ValidationError` naming the first bad field (a path such as
``months[2].days[0].outbound``); the accountant then swaps the parsed state in
at once. The counter baseline and the settings are not part of the document:
they describe the machine and its configuration, not the traffic.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from trafficmon.state.breakdown import KINDS, row_labels
from trafficmon.state.cap import LEVELS, CapCounts
from trafficmon.state.config import AccountingConfig
from trafficmon.state.history import MINUTE
from trafficmon.state.periods import iso
from trafficmon.state.reads import Adjustment
from trafficmon.state.records import (
    ADJUST_MODES,
    NOTE_CHARS,
    AuditEntry,
    PeriodRecord,
    StoredState,
    ThresholdEvent,
    UsageRow,
)
from trafficmon.state.validation import (
    ValidationError,
    require_choice,
    require_date,
    require_int,
    require_list,
    require_object,
    require_text,
    require_time,
)

FORMAT = "trafficmon-traffic-state"
VERSION = 1

MAX_ARCHIVED_PERIODS = 12_000
"""Sanity bound on archived periods in a document (a thousand years of months)."""
MAX_AUDIT_ENTRIES = 100_000
"""Sanity bound on audit entries in a document."""
MAX_EVENTS = MAX_ARCHIVED_PERIODS * (len(LEVELS) - 1)
"""Each period fires each level at most once."""
MAX_LABEL_CHARS = 4096
"""Longest process name, command line, host or transport accepted."""

_TOP = (
    "format",
    "version",
    "period",
    "breakdown",
    "months",
    "daily",
    "history",
    "audit",
    "thresholds",
)
_PERIOD = ("start", "end", "outbound", "inbound", "offset", "cap_bytes", "cap_counts", "days")
_AUDIT = (
    "id",
    "time",
    "period_start",
    "mode",
    "bytes",
    "old_offset",
    "new_offset",
    "old_counted",
    "new_counted",
    "note",
)
_EVENT = ("level", "period_start", "used", "cap", "time")
_TOTALS = ("outbound", "inbound")


def export_document(
    state: StoredState, *, zone: tzinfo, zone_name: str, now: float
) -> dict[str, Any]:
    """The JSON document of `state` (which must have a current period)."""
    assert state.current is not None
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso(now, zone),
        "timezone": zone_name,
        "period": _period_json(state.current, zone),
        "breakdown": _usage_json(state.usage),
        "months": [_period_json(period, zone) for period in state.archive],
        "daily": [
            {"date": day, "outbound": totals[0], "inbound": totals[1]}
            for day, totals in sorted(state.daily.items())
        ],
        "history": [
            {"time": iso(minute, zone), "outbound": totals[0], "inbound": totals[1]}
            for minute, totals in sorted(state.minutes.items())
        ],
        "audit": [Adjustment.of(entry, zone).to_dict() for entry in state.audit],
        "thresholds": [
            {
                "level": event.level,
                "period_start": event.period_start.isoformat(),
                "used": event.used,
                "cap": event.cap,
                "time": event.time.isoformat(),
            }
            for event in state.events
        ],
    }


def _period_json(period: PeriodRecord, zone: tzinfo) -> dict[str, Any]:
    return {
        "start": iso(period.start, zone),
        "end": iso(period.end, zone),
        "outbound": period.outbound,
        "inbound": period.inbound,
        "offset": period.offset,
        "cap_bytes": period.cap_bytes,
        "cap_counts": period.cap_counts.value,
        "days": [
            {"date": day, "outbound": totals[0], "inbound": totals[1]}
            for day, totals in sorted(period.days.items())
        ],
        "top": period.top,
    }


def _usage_json(rows: list[UsageRow]) -> dict[str, list[dict[str, Any]]]:
    ordered = sorted(rows, key=lambda r: (r.key, r.detail))
    return {kind: [r.to_dict() for r in ordered if r.kind == kind] for kind in KINDS}


def parse_document(doc: Any, *, config: AccountingConfig, now: float) -> StoredState:
    """Check a whole document and return the state it describes; ValidationError otherwise."""
    if not isinstance(doc, dict):
        raise ValidationError("document", "must be a JSON object")
    top = require_object(doc, "", _TOP, ("exported_at", "timezone"))
    if top["format"] != FORMAT:
        raise ValidationError("format", f"must be {FORMAT!r}, got {top['format']!r}")
    if top["version"] != VERSION or isinstance(top["version"], bool):
        raise ValidationError("version", f"must be {VERSION}, got {top['version']!r}")
    if "exported_at" in top:
        require_time(top["exported_at"], "exported_at")
    if "timezone" in top:
        require_text(top["timezone"], "timezone", max_length=MAX_LABEL_CHARS)
    current = _period(top["period"], "period", config, archived=False)
    if current.start > now:
        raise ValidationError("period.start", "lies in the future")
    archive = [
        _period(item, f"months[{i}]", config, archived=True)
        for i, item in enumerate(
            require_list(top["months"], "months", max_items=MAX_ARCHIVED_PERIODS)
        )
    ]
    for i, period in enumerate(archive):
        following = archive[i + 1].start if i + 1 < len(archive) else current.start
        if period.end > following:
            raise ValidationError(
                f"months[{i}].end", "overlaps the next period (periods must be in order)"
            )
    return StoredState(
        current=current,
        archive=archive,
        daily=_day_totals(top["daily"], "daily", config.daily_retention_days),
        minutes=_minutes(top["history"], "history", config.minute_history_hours),
        usage=_usage(top["breakdown"], "breakdown", config),
        audit=_audit(top["audit"], "audit"),
        events=_events(top["thresholds"], "thresholds"),
    )


def _period(value: Any, path: str, config: AccountingConfig, *, archived: bool) -> PeriodRecord:
    obj = require_object(value, path, _PERIOD, ("top",))
    start = require_time(obj["start"], f"{path}.start")
    end = require_time(obj["end"], f"{path}.end")
    if end <= start:
        raise ValidationError(f"{path}.end", "must be after start")
    counts = CapCounts(
        require_choice(obj["cap_counts"], f"{path}.cap_counts", [c.value for c in CapCounts])
    )
    record = PeriodRecord(
        start=start,
        end=end,
        cap_bytes=require_int(obj["cap_bytes"], f"{path}.cap_bytes", minimum=1),
        cap_counts=counts,
        outbound=require_int(obj["outbound"], f"{path}.outbound"),
        inbound=require_int(obj["inbound"], f"{path}.inbound"),
        offset=require_int(obj["offset"], f"{path}.offset", minimum=None),
        days=_day_totals(obj["days"], f"{path}.days", config.daily_retention_days),
    )
    if record.counted < 0:
        raise ValidationError(f"{path}.offset", "makes the counted total negative")
    top = obj.get("top")
    if top is not None:
        if not archived:
            raise ValidationError(f"{path}.top", "belongs to closed periods only")
        rows = _usage(top, f"{path}.top", config)
        record.top = {kind: [r.to_dict() for r in rows if r.kind == kind] for kind in KINDS}
    return record


def _day_totals(value: Any, path: str, max_items: int) -> dict[str, list[int]]:
    days: dict[str, list[int]] = {}
    for i, item in enumerate(require_list(value, path, max_items=max_items)):
        obj = require_object(item, f"{path}[{i}]", ("date", *_TOTALS))
        day = require_date(obj["date"], f"{path}[{i}].date")
        if day in days:
            raise ValidationError(f"{path}[{i}].date", f"{day} appears twice")
        days[day] = [require_int(obj[k], f"{path}[{i}].{k}") for k in _TOTALS]
    return days


def _minutes(value: Any, path: str, hours: int) -> dict[int, list[int]]:
    minutes: dict[int, list[int]] = {}
    limit = hours * 60 + 1
    for i, item in enumerate(require_list(value, path, max_items=limit)):
        obj = require_object(item, f"{path}[{i}]", ("time", *_TOTALS))
        instant = require_time(obj["time"], f"{path}[{i}].time")
        if instant % MINUTE:
            raise ValidationError(f"{path}[{i}].time", "must be the start of a minute")
        minute = int(instant)
        if minute in minutes:
            raise ValidationError(f"{path}[{i}].time", "appears twice")
        minutes[minute] = [require_int(obj[k], f"{path}[{i}].{k}") for k in _TOTALS]
    return minutes


def _usage(value: Any, path: str, config: AccountingConfig) -> list[UsageRow]:
    """Breakdown rows per kind, in the order given (an archive summary keeps its ranking)."""
    obj = require_object(value, path, KINDS)
    limits = {
        "process": config.max_processes,
        "cmdline": config.max_processes,
        "host": config.max_hosts,
        "unknown": config.max_processes,
    }
    rows: list[UsageRow] = []
    for kind in KINDS:
        seen: set[tuple[str, str]] = set()
        labels = row_labels(kind)
        for i, item in enumerate(
            require_list(obj[kind], f"{path}.{kind}", max_items=limits[kind] + 1)
        ):
            where = f"{path}.{kind}[{i}]"
            entry = require_object(
                item, where, (*labels, "bytes_sent", "bytes_received"), ("bytes_total",)
            )
            for label in labels:
                require_text(entry[label], f"{where}.{label}", max_length=MAX_LABEL_CHARS)
            signed = kind in ("host", "unknown")
            for key in ("bytes_sent", "bytes_received"):
                require_int(entry[key], f"{where}.{key}", minimum=None if signed else 0)
            if "bytes_total" in entry:
                total = require_int(entry["bytes_total"], f"{where}.bytes_total", minimum=None)
                if total != entry["bytes_sent"] + entry["bytes_received"]:
                    raise ValidationError(
                        f"{where}.bytes_total", "is not bytes_sent + bytes_received"
                    )
            row = UsageRow.from_dict(kind, entry)
            if (row.key, row.detail) in seen:
                raise ValidationError(where, "appears twice")
            seen.add((row.key, row.detail))
            rows.append(row)
    return rows


def _audit(value: Any, path: str) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    seen: set[int] = set()
    for i, item in enumerate(require_list(value, path, max_items=MAX_AUDIT_ENTRIES)):
        where = f"{path}[{i}]"
        obj = require_object(item, where, _AUDIT)
        entry_id = require_int(obj["id"], f"{where}.id", minimum=1)
        if entry_id in seen:
            raise ValidationError(f"{where}.id", f"{entry_id} appears twice")
        seen.add(entry_id)
        counted = [
            None if obj[k] is None else require_int(obj[k], f"{where}.{k}")
            for k in ("old_counted", "new_counted")
        ]
        entries.append(
            AuditEntry(
                id=entry_id,
                time=require_time(obj["time"], f"{where}.time"),
                period_start=require_time(obj["period_start"], f"{where}.period_start"),
                mode=require_choice(obj["mode"], f"{where}.mode", ADJUST_MODES),
                amount=require_int(obj["bytes"], f"{where}.bytes", minimum=None),
                old_offset=require_int(obj["old_offset"], f"{where}.old_offset", minimum=None),
                new_offset=require_int(obj["new_offset"], f"{where}.new_offset", minimum=None),
                old_counted=counted[0],
                new_counted=counted[1],
                note=require_text(obj["note"], f"{where}.note", max_length=NOTE_CHARS, lines=True),
            )
        )
    return sorted(entries, key=lambda e: e.id)


def _events(value: Any, path: str) -> list[ThresholdEvent]:
    events: list[ThresholdEvent] = []
    seen: set[tuple[float, str]] = set()
    for i, item in enumerate(require_list(value, path, max_items=MAX_EVENTS)):
        where = f"{path}[{i}]"
        obj = require_object(item, where, _EVENT)
        level = require_choice(obj["level"], f"{where}.level", LEVELS[1:])
        period_start = require_time(obj["period_start"], f"{where}.period_start")
        require_time(obj["time"], f"{where}.time")
        if (period_start, level) in seen:
            raise ValidationError(where, f"{level} appears twice for the same period")
        seen.add((period_start, level))
        events.append(
            ThresholdEvent(
                level=level,
                period_start=datetime.fromisoformat(obj["period_start"]),
                used=require_int(obj["used"], f"{where}.used"),
                cap=require_int(obj["cap"], f"{where}.cap", minimum=1),
                time=datetime.fromisoformat(obj["time"]),
            )
        )
    return events
