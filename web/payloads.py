"""JSON bodies built from a capture `Snapshot`: one function per thing published.

REST handlers and the WebSocket hub both build from here, so a connection or
the stats look the same whichever way they are fetched. The seeds' field
names come first and are never renamed; newer fields sit beside them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from capture.model import Connection, Snapshot
from web.queries import Ordering, Selection

TrafficSource = Callable[[Snapshot], dict[str, Any]]
"""Builds the `traffic` part (accounting). `state` provides the real one later."""

STALE_TICKS = 5
"""Capture counts as stalled after this many intervals without a new snapshot."""


def stats(snap: Snapshot) -> dict[str, Any]:
    totals = snap.totals
    return {
        "total_upload_speed": totals.upload_speed,
        "total_download_speed": totals.download_speed,
        "active_connections": active_connections(snap),
        "total_bytes_sent": totals.bytes_sent,
        "total_bytes_received": totals.bytes_received,
        "uptime": snap.uptime,
        "total_packets_sent": totals.packets_sent,
        "total_packets_received": totals.packets_received,
        "local_bytes": totals.local_bytes,
        "forwarded_bytes": totals.forwarded_bytes,
        "unknown_bytes_sent": sum(b.bytes_sent for b in snap.unknown),
        "unknown_bytes_received": sum(b.bytes_received for b in snap.unknown),
        "processes": len(snap.processes),
        "interfaces": [i.name for i in snap.interfaces],
        "timestamp": snap.timestamp,
        "seq": snap.seq,
        "interval": snap.interval,
    }


def active_connections(snap: Snapshot) -> int:
    return sum(1 for c in snap.connections if not c.closed)


def matching_connections(snap: Snapshot, selection: Selection) -> list[Connection]:
    if selection.empty:
        return list(snap.connections)
    return [c for c in snap.connections if selection.matches(c)]


def busiest(conns: list[Connection], limit: int) -> list[Connection]:
    """All of `conns` when they fit, else the `limit` fastest (upload + download), fastest first."""
    if len(conns) <= limit:
        return conns
    return heapq.nlargest(limit, conns, key=lambda c: (c.upload_speed + c.download_speed, c.last_seen))


def connections(snap: Snapshot, selection: Selection, ordering: Ordering) -> dict[str, Any]:
    matching = matching_connections(snap, selection)
    listed = [c.to_dict() for c in ordering.apply(matching)]
    return {"connections": listed, "count": len(listed), "total": len(matching)}


def process_list(snap: Snapshot, selection: Selection) -> list[dict[str, Any]]:
    return [p.to_dict() for p in snap.processes if selection.matches_process(p)]


def processes(snap: Snapshot, selection: Selection, ordering: Ordering) -> dict[str, Any]:
    matching = [p for p in snap.processes if selection.matches_process(p)]
    listed = [p.to_dict() for p in ordering.apply(matching)]
    return {
        "processes": listed,
        "count": len(listed),
        "total": len(matching),
        "unknown": [b.to_dict() for b in snap.unknown],
    }


def history(snap: Snapshot) -> dict[str, Any]:
    points = [p.to_dict() for p in snap.history]
    return {"history": points, "count": len(points)}


def interfaces(snap: Snapshot) -> dict[str, Any]:
    listed = [i.to_dict() for i in snap.interfaces]
    return {"interfaces": listed, "count": len(listed)}


def capture(snap: Snapshot) -> dict[str, Any]:
    return {**snap.health.to_dict(), "timestamp": snap.timestamp, "seq": snap.seq}


def capture_problem(snap: Snapshot, now: float) -> str | None:
    """Why capture cannot be trusted right now, or None when it runs and ticks."""
    if not snap.health.running:
        if snap.health.errors:
            return "; ".join(snap.health.errors)
        return "capture is not running"
    silent = now - snap.timestamp
    if silent > STALE_TICKS * snap.interval:
        return f"no capture tick for {silent:.0f} s (interval {snap.interval:g} s)"
    return None


def health(snap: Snapshot, now: float) -> tuple[int, dict[str, Any]]:
    """Status code and body of /health: 503 with the reason while capture is down."""
    problem = capture_problem(snap, now)
    body = {
        "status": "ok" if problem is None else "down",
        "active_connections": active_connections(snap),
        "uptime": snap.uptime,
        "capture": snap.health.to_dict(),
        "reason": problem,
    }
    return (200 if problem is None else 503), body


def engine_traffic(cap_bytes: int | None) -> TrafficSource:
    """The `traffic` part until `state` joins: the engine's totals since it started.

    `source` tells a client these are not billing-period figures yet.
    """

    def build(snap: Snapshot) -> dict[str, Any]:
        return {
            "source": "capture",
            "start": snap.started,
            "outbound": snap.totals.bytes_sent,
            "inbound": snap.totals.bytes_received,
            "cap": cap_bytes,
        }

    return build
