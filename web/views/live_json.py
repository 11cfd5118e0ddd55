"""JSON bodies built from a capture `Snapshot`: one function per thing published.

REST handlers and the WebSocket hub both build from here, so a connection or
the stats look the same whichever way they are fetched. The seeds' field
names come first and are never renamed; newer fields sit beside them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from trafficmon.capture.model import Connection, Snapshot
from trafficmon.state import UsageRow
from trafficmon.web.parsing.queries import Ordering, Selection

TrafficSource = Callable[[], dict[str, Any]]
"""Builds the `traffic` part: the billing period, from the accountant (`web.views.period_json.period`)."""

def stats(snap: Snapshot) -> dict[str, Any]:
    totals = snap.totals
    return {
        "total_upload_speed": totals.upload_speed,
        "total_download_speed": totals.download_speed,
        "average_upload_speed": totals.average_upload_speed,
        "average_download_speed": totals.average_download_speed,
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


def processes(
    snap: Snapshot, selection: Selection, ordering: Ordering, period: list[UsageRow]
) -> dict[str, Any]:
    """Live processes with their name's billing-period totals beside the live figures.

    `period` is the accountant's per-name listing, largest sender first. The
    period totals belong to a process *name* (pids come and go over a month);
    `period_processes` lists them, processes that are gone included, narrowed
    to the names the filter selects and cut at the same `limit`.
    """
    matching = [p for p in snap.processes if selection.matches_process(p)]
    totals = {row.key: row for row in period}
    listed = []
    for proc in ordering.apply(matching):
        row = totals.get(proc.name)
        listed.append(
            {
                **proc.to_dict(),
                "period_bytes_sent": row.sent if row else 0,
                "period_bytes_received": row.received if row else 0,
            }
        )
    if selection.pid is not None:
        names: set[str] | None = {p.name.lower() for p in matching}
    elif selection.process is not None:
        names = {selection.process.lower()}
    else:
        names = None
    named = [row for row in period if names is None or row.key.lower() in names]
    return {
        "processes": listed,
        "count": len(listed),
        "total": len(matching),
        "unknown": [b.to_dict() for b in snap.unknown],
        "period_processes": [row.to_dict() for row in named[: ordering.limit]],
    }


def history(snap: Snapshot) -> dict[str, Any]:
    points = [p.to_dict() for p in snap.history]
    return {"history": points, "count": len(points)}


def interfaces(snap: Snapshot) -> dict[str, Any]:
    listed = [i.to_dict() for i in snap.interfaces]
    return {"interfaces": listed, "count": len(listed)}


def capture_health(snap: Snapshot, now: float | None = None) -> dict[str, Any]:
    """The capture health with its `problems` as of the snapshot's tick, and its `level` at `now` (None: the tick)."""
    level = snap.capture_level(snap.timestamp if now is None else now)
    return {**snap.health.to_dict(), "problems": snap.health.problems(snap.timestamp), "level": level.level}


def capture(snap: Snapshot) -> dict[str, Any]:
    return {**capture_health(snap), "timestamp": snap.timestamp, "seq": snap.seq}


def capture_problem(snap: Snapshot, now: float) -> str | None:
    """Why capture is down right now (`Snapshot.capture_level`), or None when it runs and ticks."""
    level = snap.capture_level(now)
    return "; ".join(level.reasons) if level.level == "down" else None


def health(snap: Snapshot, now: float, accounting: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Status code and body of /health, with the status values seed A documented.

    "unhealthy" (503) while capture's level is "down" (not running or not
    ticking). "degraded" while it serves but a monitor should hear of
    something: capture's level is "degraded" (its `problems`), or
    the accounting's `problem` (built by `web.views.period_json.health`: the state
    cannot be written, a counter read failed, a corrupt database was replaced),
    which never makes the service unhealthy, as the period totals keep coming
    from the kernel counters. Degraded is 503 while the state cannot be written
    (changes are refused then), 200 otherwise. "healthy" otherwise. `reason`
    says why it is not healthy.
    """
    level = snap.capture_level(now)
    if level.level == "down":
        status, code, reason = "unhealthy", 503, "; ".join(level.reasons)
    else:
        problems = list(level.reasons)
        if accounting["problem"] is not None:
            problems.append(accounting["problem"])
        status = "degraded" if problems else "healthy"
        code = 200 if accounting["saving"] or not accounting["running"] else 503
        reason = "; ".join(problems) or None
    body = {
        "status": status,
        "active_connections": active_connections(snap),
        "uptime": snap.uptime,
        "capture": capture_health(snap, now),
        "reason": reason,
        "accounting": accounting,
    }
    return code, body
