"""Plain records of the durable state, shared by the accountant, the store and the document.

They hold numbers and epoch seconds only; turning them into JSON with dates in
the configured zone is the job of whoever publishes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import Mapping
from typing import Any

from trafficmon.state.cap import CapCounts


@dataclass(slots=True)
class PeriodRecord:
    """One billing period's totals: the current one (mutable) or a closed one (archived).

    `days` holds the period's own per-day totals (local date -> [outbound,
    inbound]) so a closed period knows its peak day exactly even when the reset
    hour cuts a day in two. `top` is the breakdown summary a period keeps when
    it closes (None while current: the live breakdown is elsewhere).
    """

    start: float
    end: float
    cap_bytes: int
    cap_counts: CapCounts
    outbound: int = 0
    inbound: int = 0
    offset: int = 0
    days: dict[str, list[int]] = field(default_factory=dict)
    top: dict[str, list[dict[str, Any]]] | None = None

    @property
    def metered(self) -> int:
        """Kernel-counted bytes that count toward the cap, before the manual offset."""
        return self.cap_counts.counted(self.outbound, self.inbound)

    @property
    def counted(self) -> int:
        """What counts toward the cap: metered bytes plus the manual offset."""
        return self.metered + self.offset

    def add(self, day: str, sent: int, recv: int) -> None:
        """Add traffic that moved on local date `day`."""
        self.outbound += sent
        self.inbound += recv
        totals = self.days.setdefault(day, [0, 0])
        totals[0] += sent
        totals[1] += recv

    def copy(self) -> PeriodRecord:
        """A copy another thread can serialise while this one keeps adding to the original."""
        return dataclasses.replace(self, days={day: list(v) for day, v in self.days.items()})

    def peak_day(self) -> tuple[str, int, int] | None:
        """The day with the most counted traffic (date, outbound, inbound); None without days."""
        if not self.days:
            return None
        day = max(
            sorted(self.days),
            key=lambda d: self.cap_counts.counted(self.days[d][0], self.days[d][1]),
        )
        return day, self.days[day][0], self.days[day][1]


NOTE_CHARS = 500
"""Longest note kept with a manual adjustment."""
ADJUST_MODES = ("set", "add")
"""How an adjustment changes the counted total: to its amount, or by it."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One manual change of a period's offset: when, what was asked, old and new values.

    `old_counted`/`new_counted` (the period's counted total before and after)
    are None for entries written by schema version 1, which did not keep them.
    """

    id: int
    time: float
    period_start: float
    mode: str
    amount: int
    old_offset: int
    new_offset: int
    old_counted: int | None
    new_counted: int | None
    note: str


@dataclass(frozen=True, slots=True)
class ThresholdEvent:
    """A period's counted traffic reached a level's threshold; published once per period and level.

    `period_start` and `time` are aware datetimes in the configured zone.
    """

    level: str
    period_start: datetime
    used: int
    cap: int
    time: datetime

    @property
    def percent(self) -> float:
        """`used` in percent of `cap`."""
        return self.used * 100.0 / self.cap

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "period_start": self.period_start.isoformat(),
            "used": self.used,
            "cap": self.cap,
            "percent": round(self.percent, 2),
            "time": self.time.isoformat(),
        }


USAGE_LABELS = {"process": "name", "cmdline": "name", "host": "host", "unknown": "transport"}
"""The JSON field that names a breakdown entry of each kind."""


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One breakdown entry: as stored, as the accountant's reads answer it, and (`to_dict`) as JSON.

    `kind` is process (key: name), cmdline (key: name, detail: command line),
    host (key: remote address) or unknown (key: transport).
    """

    kind: str
    key: str
    detail: str
    sent: int
    received: int

    @property
    def total(self) -> int:
        return self.sent + self.received

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: its label (name, host or transport), cmdline for that kind, the byte counts."""
        row: dict[str, Any] = {USAGE_LABELS[self.kind]: self.key}
        if self.kind == "cmdline":
            row["cmdline"] = self.detail
        row.update(bytes_sent=self.sent, bytes_received=self.received, bytes_total=self.total)
        return row

    @classmethod
    def from_dict(cls, kind: str, row: Mapping[str, Any]) -> UsageRow:
        """The entry a JSON row made by `to_dict` holds (already validated)."""
        detail = row["cmdline"] if kind == "cmdline" else ""
        return cls(kind, row[USAGE_LABELS[kind]], detail, row["bytes_sent"], row["bytes_received"])


@dataclass(slots=True)
class StoredState:
    """Everything durable, as loaded from the store or parsed from an imported document.

    `meta` holds the store's own keys (counter baseline, settings overrides,
    when counting began); documents leave it empty.
    """

    current: PeriodRecord | None = None
    archive: list[PeriodRecord] = field(default_factory=list)
    daily: dict[str, list[int]] = field(default_factory=dict)
    minutes: dict[int, list[int]] = field(default_factory=dict)
    usage: list[UsageRow] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[ThresholdEvent] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
