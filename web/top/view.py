"""What `trafficmon top` shows of a frame: its rows, their order and filter, and the summary line.

Pure functions of the WebSocket's own JSON (the `processes`, `connections`,
`stats`, `traffic` and `capture` topics), so the terminal app only lays them
out, and a frame captured here and one read from a service look the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = Mapping[str, Any]

SORTS = ("total", "download", "upload", "sent", "received", "pid", "name")
"""The orders `s` steps through: speeds and totals fastest first, then PID and name ascending."""
VIEWS = ("processes", "connections")


@dataclass(frozen=True, slots=True)
class Frame:
    """One tick's topics as the WebSocket sends them; `traffic` is None without a service (no cap kept)."""

    seq: int
    processes: Sequence[Row] = ()
    connections: Sequence[Row] = ()
    stats: Row = field(default_factory=dict)
    capture: Row = field(default_factory=dict)
    traffic: Row | None = None


def rate(bytes_per_second: float | None) -> str:
    """A speed as a person reads it: 1.2 MB/s, 340 kB/s, 12 B/s (decimal units, as the dashboard)."""
    value = float(bytes_per_second or 0.0)
    for unit, size in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B/s"


def amount(count: float | None) -> str:
    """A byte count: 1.2 GB, 340 kB, 12 B."""
    value = float(count or 0)
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def _key(sort: str, view: str):  # noqa: ANN202 (a sort key of mixed types)
    name = "name" if view == "processes" else "process_name"
    match sort:
        case "total":
            return lambda r: -((r.get("download_speed") or 0) + (r.get("upload_speed") or 0))
        case "download":
            return lambda r: -(r.get("download_speed") or 0)
        case "upload":
            return lambda r: -(r.get("upload_speed") or 0)
        case "sent":
            return lambda r: -(r.get("bytes_sent") or 0)
        case "received":
            return lambda r: -(r.get("bytes_received") or 0)
        case "pid":
            return lambda r: (r.get("pid") is None, r.get("pid") or 0)
        case "name":
            return lambda r: str(r.get(name) or "").lower()
    raise ValueError(f"no such sort: {sort}")


def matches(row: Row, text: str) -> bool:
    """A row holds `text` (case-insensitive) in its name, command line, PID, user or addresses."""
    if not text:
        return True
    needle = text.lower()
    fields = ("name", "process_name", "cmdline", "username", "local_addr", "remote_addr", "remote_name", "pid")
    return any(needle in str(row.get(f) or "").lower() for f in fields)


def rows(frame: Frame, view: str, sort: str, text: str = "") -> list[Row]:
    """The view's rows that match `text`, in `sort` order (ties: by PID, then the first seen first)."""
    listed = frame.processes if view == "processes" else frame.connections
    return sorted((r for r in listed if matches(r, text)), key=_key(sort, view))


def cells(row: Row, view: str) -> tuple[str, ...]:
    """The columns of one row, as `columns(view)` names them."""
    pid = "" if row.get("pid") is None else str(row["pid"])
    if view == "processes":
        return (pid, str(row.get("name") or ""), rate(row.get("upload_speed")), rate(row.get("download_speed")),
                amount(row.get("bytes_sent")), amount(row.get("bytes_received")), str(row.get("connections", "")),
                str(row.get("cmdline") or "")[:60])
    remote = row.get("remote_name") or row.get("remote_addr") or ""
    return (pid, str(row.get("process_name") or ""), str(row.get("transport") or ""), str(row.get("local_addr") or ""),
            str(remote), rate(row.get("upload_speed")), rate(row.get("download_speed")), str(row.get("state") or ""))


def columns(view: str) -> tuple[str, ...]:
    if view == "processes":
        return ("PID", "PROCESS", "UP", "DOWN", "SENT", "RECEIVED", "CONNS", "COMMAND")
    return ("PID", "PROCESS", "PROTO", "LOCAL", "REMOTE", "UP", "DOWN", "STATE")


def summary(frame: Frame) -> str:
    """Totals, the capture's health and the cap gauge, on one line."""
    stats, capture = frame.stats, frame.capture
    parts = [
        f"up {rate(stats.get('total_upload_speed'))}",
        f"down {rate(stats.get('total_download_speed'))}",
        f"{stats.get('active_connections', 0)} connections",
        f"{stats.get('processes', 0)} processes",
        f"capture {capture.get('level', '?')}",
    ]
    problems = capture.get("problems") or capture.get("errors") or []
    if problems:
        parts[-1] += f" ({problems[0]})"
    parts.append(gauge(frame.traffic))
    return " | ".join(parts)


def gauge(traffic: Row | None, width: int = 20) -> str:
    """The period's counted total against the cap: [######------] 31.0 % of 500 GB (level)."""
    if traffic is None:
        return "cap: kept by the service (top --url)"
    percent = float(traffic.get("used_percent") or 0.0)
    filled = min(width, round(width * percent / 100))
    bar = "#" * filled + "-" * (width - filled)
    cap = amount(traffic.get("cap_bytes"))
    return f"cap [{bar}] {percent:.1f} % of {cap} ({traffic.get('level', '?')})"
