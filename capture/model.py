"""Plain result types the capture engine publishes.

These are the only capture types `state` and `web` may depend on: immutable,
JSON-friendly (`to_dict`), and free of sockets, threads or psutil objects, so a
snapshot can be handed across threads (or, later, processes) as it is.
Speeds are bytes per second; byte and packet counts are integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from enum import IntEnum
from typing import Any


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _flat_dict(record: Any) -> dict[str, Any]:
    """A record's fields by name, as `dataclasses.asdict` gives them for flat ones, at a twelfth of its cost.

    asdict deep-copies every value through a recursive walk: 18.4 µs for a
    Connection against 1.5 µs here (bench/records.py), which is most of the time a 10,000-row
    `GET /api/connections` body took to build. Nested fields (tuples of records)
    are the caller's to convert.
    """
    return {name: getattr(record, name) for name in _field_names(type(record))}


class Direction(IntEnum):
    """Which way a frame moved relative to this host.

    OUT and IN are the host's own upload and download. LOCAL is traffic between
    two of the host's own addresses (loopback), FORWARDED is traffic the host
    routed, bridged or merely saw; neither is mixed into upload/download.
    """

    OUT = 0
    IN = 1
    LOCAL = 2
    FORWARDED = 3


@dataclass(frozen=True, slots=True)
class Owner:
    """The process behind a socket, as far as it could be found."""

    pid: int
    name: str
    cmdline: str
    username: str


@dataclass(slots=True)
class Connection:
    """One flow (5-tuple on one interface) with cumulative bytes and speeds.

    Read-only by contract like every record here, but not `frozen`: after a
    flood the tick thread makes 100,000 of them a tick, and a frozen
    dataclass's `__init__` (one `object.__setattr__` per field) cost 6.7 µs a
    record against 1.6 µs (bench/records.py), most of a tick under the GIL
    the event loop needs. Snapshots share them across threads: nothing may
    assign to one once it is published (`dataclasses.replace` makes a copy).

    The first block of fields is the live monitor's JSON contract and must not
    be renamed; the rest was added beside it. `attribution` says how the
    process was found: "socket" (its own socket), "listener" (the process
    listening on its local port, the socket being gone), "peer" (the only live
    process recently talking to the same remote endpoint), or "none".
    `remote_name` is the remote address's reverse-DNS name once it is known
    (looked up in the background; None until then, or when it has none).
    `protocol` is the socket type, as the live monitor reported it
    (SOCK_STREAM for TCP, SOCK_DGRAM for UDP, SOCK_RAW for the rest);
    `transport` names the protocol precisely, in lower case (tcp, udp,
    icmpv6, sctp, non-ip, ip-47…).
    """

    id: str
    local_addr: str
    remote_addr: str
    protocol: str
    state: str
    process_name: str
    pid: int | None
    upload_speed: float
    download_speed: float
    duration: float
    bytes_sent: int
    bytes_received: int
    transport: str
    family: str
    interface: str
    packets_sent: int
    packets_received: int
    cmdline: str
    username: str
    first_seen: float
    last_seen: float
    closed: bool = False
    attribution: str = "none"
    remote_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class ProcessStats:
    """Live aggregate of every connection one process owns.

    `upload_speed`/`download_speed` are over the speed window, as a
    connection's; `average_*` over the average window (`AVERAGE_WINDOW`),
    long enough that transfers moving in bursts seconds apart read steady.
    """

    pid: int
    name: str
    cmdline: str
    username: str
    connections: int
    upload_speed: float
    download_speed: float
    average_upload_speed: float
    average_download_speed: float
    bytes_sent: int
    bytes_received: int

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class UnknownBucket:
    """Bytes no process could be found for yet, per transport ("tcp", "udp", ...); speeds as a process's."""

    transport: str
    upload_speed: float
    download_speed: float
    average_upload_speed: float
    average_download_speed: float
    bytes_sent: int
    bytes_received: int

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class InterfaceStats:
    """Captured traffic of one monitored interface, next to the kernel's own counters; speeds as a process's."""

    name: str
    upload_speed: float
    download_speed: float
    average_upload_speed: float
    average_download_speed: float
    bytes_sent: int
    bytes_received: int
    packets_sent: int
    packets_received: int
    local_bytes: int
    forwarded_bytes: int
    kernel_bytes_sent: int
    kernel_bytes_received: int
    up: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class Totals:
    """Host-wide upload/download (Direction OUT/IN only) since the engine started; speeds as a process's."""

    upload_speed: float
    download_speed: float
    average_upload_speed: float
    average_download_speed: float
    bytes_sent: int
    bytes_received: int
    packets_sent: int
    packets_received: int
    local_bytes: int
    forwarded_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


DROP_MEMORY = 10.0
"""Seconds after the kernel last dropped frames during which capture stays degraded."""
COVERAGE_DEGRADED = 0.97
"""Below this share of the kernel's byte count, capture is losing frames.

Not any shortfall: coverage compares a window of ticks, and while traffic ramps
up the frames still in the capture ring at the window's end (up to 50 ms of
them) are a share of a window that may be seconds old; at a steady rate they
cancel out."""

STALE_TICKS = 5
"""Tick intervals without a snapshot after which capture counts as down: its tick thread stopped."""
CAPTURE_LEVELS = ("ok", "degraded", "down")


@dataclass(frozen=True, slots=True)
class CaptureLevel:
    """How capture stands, one of `CAPTURE_LEVELS`, and why when it is not "ok".

    The one verdict: /health's status and reason, /metrics' level gauge and
    the dashboard's capture health are all this. "down": capture is not
    running, or its ticks stopped (the reasons: its errors, or how long it has
    been silent). "degraded": it runs, but `CaptureHealth.problems` holds.
    """

    level: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaptureGap:
    """A stretch of time an interface was not captured: from its failure to its re-open (None: still down)."""

    interface: str
    start: float
    end: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class CaptureHealth:
    """How much the capture can be trusted right now.

    `coverage` is captured bytes / the kernel's interface byte counters over the
    last `coverage_window` seconds (None while the kernel moved nothing); below
    1.0 means frames were lost before or inside the capture. `truncated`
    counts frames whose transport header the snap length cut (their bytes
    still count, on a flow without ports); `malformed` ones were skipped.
    `last_drop` is the wall time of the last tick in which the kernel dropped
    frames (None: never since the start). `gaps` are the recent stretches an
    interface was not captured (what moved then is in the kernel's counters
    and the cap's totals, not in the per-connection figures), newest last.
    `flows` are the flows tracked now, `flow_limit` the most the memory bound
    (FLOW_MEMORY_BYTES) lets it keep, and `flows_folded` how many were folded
    since the start into their process and unknown totals to stay under it;
    `overflow_packets` counts the packets of new flows a tick had no room for
    at all (they count in the unknown totals, as one flow per protocol).
    """

    running: bool
    interfaces: tuple[str, ...]
    packets: int
    bytes: int
    kernel_drops: int
    malformed: int
    bytes_attributed: int
    bytes_unknown: int
    coverage: float | None
    errors: tuple[str, ...] = ()
    truncated: int = 0
    last_drop: float | None = None
    gaps: tuple[CaptureGap, ...] = ()
    flows: int = 0
    flow_limit: int = 0
    flows_folded: int = 0
    overflow_packets: int = 0

    def problems(self, at: float) -> list[str]:
        """Why capture is degraded at wall time `at` (its errors, recent drops, low coverage); [] when it is not.

        The one definition of "degraded": /health reports it and the dashboard
        shows it, so the two never disagree.
        """
        found = list(self.errors)
        if self.last_drop is not None and at - self.last_drop < DROP_MEMORY:
            found.append(f"the kernel dropped frames in the last {DROP_MEMORY:g} s ({self.kernel_drops} since the start)")
        if self.coverage is not None and self.coverage < COVERAGE_DEGRADED:
            found.append(
                f"coverage is {self.coverage * 100:.1f} % of the kernel's byte count "
                f"(below {COVERAGE_DEGRADED * 100:g} %): frames are being lost"
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        d = _flat_dict(self)
        d["interfaces"] = list(self.interfaces)
        d["errors"] = list(self.errors)
        d["gaps"] = [gap.to_dict() for gap in self.gaps]
        return d


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One tick of the bandwidth-history ring (seed field names)."""

    timestamp: float
    upload: float
    download: float

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes one (process, remote host, transport) moved during one tick.

    The accounting breakdown adds these up. A negative figure on the unknown
    bucket (pid None, process "unknown") moves bytes to the process that was
    found later for the same flow, so sums stay exact.
    """

    process: str
    cmdline: str
    pid: int | None
    remote_ip: str
    transport: str
    bytes_sent: int
    bytes_received: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the engine knows after one tick; immutable, safe to share."""

    seq: int
    timestamp: float
    started: float
    interval: float
    connections: tuple[Connection, ...] = ()
    processes: tuple[ProcessStats, ...] = ()
    unknown: tuple[UnknownBucket, ...] = ()
    interfaces: tuple[InterfaceStats, ...] = ()
    totals: Totals = field(default_factory=lambda: Totals(0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0))
    health: CaptureHealth = field(
        default_factory=lambda: CaptureHealth(False, (), 0, 0, 0, 0, 0, 0, None)
    )
    history: tuple[HistoryPoint, ...] = ()
    usage: tuple[Usage, ...] = ()

    @property
    def uptime(self) -> float:
        return max(0.0, self.timestamp - self.started)

    def capture_level(self, now: float) -> CaptureLevel:
        """Capture's level at wall time `now`; at the snapshot's own `timestamp`, as of its tick."""
        health = self.health
        if not health.running:
            return CaptureLevel("down", health.errors or ("capture is not running",))
        silent = now - self.timestamp
        if silent > STALE_TICKS * self.interval:
            return CaptureLevel("down", (f"no capture tick for {silent:.0f} s (interval {self.interval:g} s)",))
        problems = health.problems(self.timestamp)
        return CaptureLevel("degraded", tuple(problems)) if problems else CaptureLevel("ok")
