"""The `table` WebSocket topic: the connection list as a delta-encoded table.

Why it exists: a full `connections` list of 1,000 connections is about 650 kB of
JSON per tick, and almost all of it repeats the last tick (ids, addresses,
command lines). A browser that keeps a live table needs only what moved. So a
row's fixed columns are sent once, when it appears (or when one of them
changes, e.g. its process is found later); after that only the moving columns
of rows that moved, and the handles of rows that left. Rows are addressed by
small integer handles instead of their long ids.

Every client of one subscription shares one stream and gets the same bytes.
A client joins a stream with a keyframe (`base` null: every row) — after it
connects or subscribes, and whenever it missed a frame because its unsent
update was replaced by a newer one — so a delta always applies to exactly the
rows the client holds. A delta's `base` is the seq of the tick it applies on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trafficmon.capture.model import Connection

FIXED = (
    "id",
    "process_name",
    "pid",
    "local_addr",
    "remote_addr",
    "protocol",
    "transport",
    "family",
    "interface",
    "cmdline",
    "username",
    "first_seen",
    "attribution",
    "remote_name",
)
MOVING = ("state", "upload_speed", "download_speed", "bytes_sent", "bytes_received", "duration", "closed")
COLUMNS = FIXED + MOVING

Fixed = tuple[Any, ...]
Moving = tuple[Any, ...]


def _fixed(c: Connection) -> Fixed:
    return (
        c.id,
        c.process_name,
        c.pid,
        c.local_addr,
        c.remote_addr,
        c.protocol,
        c.transport,
        c.family,
        c.interface,
        c.cmdline,
        c.username,
        round(c.first_seen, 3),
        c.attribution,
        c.remote_name,
    )


def _moving(c: Connection) -> Moving:
    """Speeds to whole bytes per second and durations to 0.1 s: finer is noise on a screen,
    and rounding keeps rows that barely moved out of the delta."""
    return (
        c.state,
        round(c.upload_speed),
        round(c.download_speed),
        c.bytes_sent,
        c.bytes_received,
        round(c.duration, 1),
        c.closed,
    )


class TableStream:
    """The rows one subscription's clients hold, advanced once per tick."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, Fixed, Moving]] = {}
        self._next_handle = 1
        self._seq: int | None = None
        self._total = 0

    def advance(self, seq: int, connections: Iterable[Connection], total: int) -> dict[str, Any]:
        """Move to this tick's rows; returns the delta from the previous tick.

        `total` is how many connections matched before the per-message bound cut
        the list, so a client can say "showing N of M".
        """
        add: list[list[Any]] = []
        change: list[list[Any]] = []
        rows: dict[str, tuple[int, Fixed, Moving]] = {}
        for conn in connections:
            fixed, moving = _fixed(conn), _moving(conn)
            old = self._rows.get(conn.id)
            if old is None:
                handle = self._next_handle
                self._next_handle += 1
                add.append([handle, *fixed, *moving])
            else:
                handle = old[0]
                if old[1] != fixed:
                    add.append([handle, *fixed, *moving])
                elif old[2] != moving:
                    change.append([handle, *moving])
            rows[conn.id] = (handle, fixed, moving)
        remove = [handle for key, (handle, _, _) in self._rows.items() if key not in rows]
        base, self._seq, self._rows, self._total = self._seq, seq, rows, total
        if base is None:
            return self.keyframe()
        return {"base": base, "add": add, "change": change, "remove": remove, "total": total}

    def keyframe(self) -> dict[str, Any]:
        """Every row as it stands, for a client joining the stream."""
        return {
            "base": None,
            "columns": list(COLUMNS),
            "moving": list(MOVING),
            "add": [[handle, *fixed, *moving] for handle, fixed, moving in self._rows.values()],
            "change": [],
            "remove": [],
            "total": self._total,
        }
