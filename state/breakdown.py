"""Who moved the period's bytes: per process, per command line, per remote host, unknown.

The capture engine hands over, per tick, what each (process, remote host,
transport) moved (`capture.model.Usage`); this adds them up for the current
billing period. Bytes no process could be found for go to the unknown bucket of
their transport; when the engine later finds the process, it sends a negative
figure on the unknown bucket and the same positive figure on the process, so
the sums stay exact and the host totals do not change.

Remote hosts and command lines are unbounded in principle (scanners, per-request
workers), so each tally has a size limit: beyond it the smallest entries are
folded into one "(other)" entry, which keeps every total exact.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trafficmon.capture.model import Usage
from trafficmon.state.records import USAGE_LABELS, UsageRow

OTHER = "(other)"
"""Key of the entry the smallest entries of a full tally are folded into."""

KEEP_FRACTION = 0.9
"""A full tally shrinks to this share of its limit, so folding runs once per many new keys."""

CMDLINE_CHARS = 512
"""Command lines are kept to this length: they can be megabytes, and the head names the job."""

KINDS = ("process", "cmdline", "host", "unknown")

Key = tuple[str, str]


class Tally:
    """Bytes sent and received per key, with at most `limit` keys (None: unbounded)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.rows: dict[Key, list[int]] = {}
        self.total = [0, 0]
        self.dirty: set[Key] = set()
        self.folded = False

    def add(self, key: Key, sent: int, received: int) -> None:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0, 0]
        row[0] += sent
        row[1] += received
        self.total[0] += sent
        self.total[1] += received
        self.dirty.add(key)
        if self.limit is not None and len(self.rows) > self.limit:
            self._fold()

    def _fold(self) -> None:
        """Fold the smallest entries into OTHER until the tally is at KEEP_FRACTION of its limit."""
        assert self.limit is not None
        keep = max(1, int(self.limit * KEEP_FRACTION)) - 1
        ranked = sorted(
            (key for key in self.rows if key[0] != OTHER),
            key=lambda k: (self.rows[k][0] + self.rows[k][1], k),
            reverse=True,
        )
        other = self.rows.setdefault((OTHER, ""), [0, 0])
        for key in ranked[keep:]:
            sent, received = self.rows.pop(key)
            other[0] += sent
            other[1] += received
        self.folded = True

    def ranked(self, limit: int | None = None) -> list[tuple[Key, list[int]]]:
        """Entries by bytes sent, then received, largest first."""
        items = self.rows.items()
        if limit is None:
            return sorted(items, key=_by_bytes, reverse=True)
        return heapq.nlargest(limit, items, key=_by_bytes)


def _by_bytes(item: tuple[Key, list[int]]) -> tuple[int, int, Key]:
    return item[1][0], item[1][1], item[0]


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the kernel-counted outbound traffic the breakdown explains.

    `captured` is every byte the capture saw leave, `attributed` the part of it
    a process was found for, `unknown` the rest. The kernel counts while
    trafficmon is stopped and the capture does not, so downtime lowers the ratio
    too.
    """

    kernel: int
    captured: int
    attributed: int
    unknown: int

    @property
    def explained(self) -> float | None:
        """attributed / kernel (None before the kernel counted anything)."""
        return self.attributed / self.kernel if self.kernel > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel_outbound": self.kernel,
            "captured_outbound": self.captured,
            "attributed_outbound": self.attributed,
            "unknown_outbound": self.unknown,
            "explained": _ratio(self.explained),
            "captured_share": _ratio(self.captured / self.kernel if self.kernel > 0 else None),
        }


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class Breakdown:
    """The current period's per-process, per-command-line, per-host and unknown totals."""

    def __init__(self, *, max_processes: int, max_hosts: int) -> None:
        self._tallies = {
            "process": Tally(max_processes),
            "cmdline": Tally(max_processes),
            "host": Tally(max_hosts),
            "unknown": Tally(None),
        }
        self._rewrite = True
        self._marked = (0, 0, 0)

    def add(self, usage: Usage) -> None:
        """Add one tick's figures; pid None means the unknown bucket of its transport."""
        sent, received = usage.bytes_sent, usage.bytes_received
        self._tallies["host"].add((usage.remote_ip, ""), sent, received)
        if usage.pid is None:
            self._tallies["unknown"].add((usage.transport, ""), sent, received)
            return
        self._tallies["process"].add((usage.process, ""), sent, received)
        cmdline = usage.cmdline[:CMDLINE_CHARS]
        self._tallies["cmdline"].add((usage.process, cmdline), sent, received)

    def mark(self) -> None:
        """Note the outbound totals as they stand, at the moment the kernel counters are read.

        The engine adds usage every tick and the counters are read on their own
        timer, so between a tick and the next reading the capture is ahead of
        the kernel: compared live, the breakdown would explain more than 100 %
        of the outbound count. `coverage` compares the totals of the same moment.
        """
        self._marked = (
            self._tallies["host"].total[0],
            self._tallies["process"].total[0],
            self._tallies["unknown"].total[0],
        )

    def coverage(self, kernel_outbound: int) -> Coverage:
        """The totals noted by the last `mark` against the kernel's count read at that moment."""
        captured, attributed, unknown = self._marked
        return Coverage(kernel=kernel_outbound, captured=captured, attributed=attributed, unknown=unknown)

    def listing(self, kind: str, limit: int | None = None) -> list[UsageRow]:
        """One tally, largest sender first.

        Unknown buckets can dip below zero when bytes counted in an earlier
        period move to a process found in this one; they are shown as zero.
        """
        rows = []
        for (key, detail), (sent, received) in self._tallies[kind].ranked(limit):
            if kind == "unknown":
                sent, received = max(0, sent), max(0, received)
            rows.append(UsageRow(kind, key, detail, sent, received))
        return rows

    def summary(self, top: int) -> dict[str, list[dict[str, Any]]]:
        """The largest `top` entries of each tally (every unknown bucket) as JSON rows, for the archive."""
        return {
            kind: [row.to_dict() for row in self.listing(kind, None if kind == "unknown" else top)]
            for kind in KINDS
        }

    def rows(self) -> list[UsageRow]:
        """Every entry, for a full write of the store."""
        return [
            UsageRow(kind, key, detail, sent, received)
            for kind, tally in self._tallies.items()
            for (key, detail), (sent, received) in tally.rows.items()
        ]

    def take_changes(self) -> tuple[list[UsageRow], bool]:
        """Entries changed since the last call, and whether the store must be rewritten.

        A rewrite is needed after folding (entries disappeared) and for a new
        breakdown; then every entry is returned.
        """
        rewrite = self._rewrite or any(t.folded for t in self._tallies.values())
        if rewrite:
            rows = self.rows()
        else:
            rows = [
                UsageRow(kind, key, detail, *tally.rows[(key, detail)])
                for kind, tally in self._tallies.items()
                for (key, detail) in tally.dirty
            ]
        for tally in self._tallies.values():
            tally.dirty.clear()
            tally.folded = False
        self._rewrite = False
        return rows, rewrite

    @classmethod
    def from_rows(
        cls, rows: Iterable[UsageRow], *, max_processes: int, max_hosts: int
    ) -> Breakdown:
        breakdown = cls(max_processes=max_processes, max_hosts=max_hosts)
        for row in rows:
            breakdown._tallies[row.kind].add((row.key, row.detail), row.sent, row.received)
        for tally in breakdown._tallies.values():
            tally.dirty.clear()
        breakdown._rewrite = any(tally.folded for tally in breakdown._tallies.values())
        breakdown.mark()
        return breakdown


def row_labels(kind: str) -> tuple[str, ...]:
    """The string fields of a JSON row of `kind` (the byte counts aside)."""
    return (USAGE_LABELS[kind], "cmdline") if kind == "cmdline" else (USAGE_LABELS[kind],)
