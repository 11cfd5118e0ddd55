"""Which connections or processes a caller asked for, parsed and validated once.

The same `Selection` serves the REST query string (`?pid=…&process=…`) and a
WebSocket client's `subscribe` filter, so both accept exactly the same values
and say the same thing about bad ones. Nothing here touches state: a bad value
raises `ApiError(400)` before anything is looked at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal, TypeVar

from multidict import MultiMapping

from trafficmon.capture.model import Connection, ProcessStats
from trafficmon.web.errors import ApiError

PROTOCOL_EXAMPLES = ("tcp", "udp", "icmpv6", "SOCK_STREAM")
# A connection matches by its seed `protocol` (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW)
# or by its precise `transport` (tcp, udp, icmpv6, sctp, non-ip, ip-N…): any such
# token is accepted and compared case-insensitively.
_PROTOCOL = re.compile(r"[A-Za-z0-9_-]{1,16}")
CONNECTION_SORT_FIELDS = (
    "upload_speed",
    "download_speed",
    "bytes_sent",
    "bytes_received",
    "packets_sent",
    "packets_received",
    "duration",
)
PROCESS_SORT_FIELDS = (
    "upload_speed",
    "download_speed",
    "bytes_sent",
    "bytes_received",
    "connections",
)
T = TypeVar("T")
MAX_PROCESS_NAME = 256
MAX_PID = 2**22  # Linux's pid_max ceiling


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _pid(raw: Any) -> int:
    if isinstance(raw, bool):
        raise _bad("pid must be a whole number")
    if isinstance(raw, str):
        if not raw.isascii() or not raw.isdigit():
            raise _bad(f"pid must be a whole number, got {raw!r}")
        raw = int(raw)
    if not isinstance(raw, int):
        raise _bad("pid must be a whole number")
    if not 0 <= raw <= MAX_PID:
        raise _bad(f"pid must be between 0 and {MAX_PID}")
    return raw


def _process(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _bad("process must be a non-empty process name")
    if len(raw) > MAX_PROCESS_NAME:
        raise _bad(f"process must be at most {MAX_PROCESS_NAME} characters")
    return raw.strip()


def _protocol(raw: Any) -> str:
    if not isinstance(raw, str) or not _PROTOCOL.fullmatch(raw):
        raise _bad(f"protocol must be a protocol name such as {', '.join(PROTOCOL_EXAMPLES)}")
    return raw.lower()


@dataclass(frozen=True, slots=True)
class Selection:
    """A filter on pid, process name (case-insensitive, exact) and protocol; None matches all.

    `protocol` is either kind of name a connection carries: the seed's socket
    type (`sock_dgram` matches every UDP connection) or the precise transport.
    """

    pid: int | None = None
    process: str | None = None
    protocol: str | None = None

    FIELDS = ("pid", "process", "protocol")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Selection:
        """From a WebSocket filter object; unknown keys are refused, not ignored."""
        unknown = sorted(set(values) - set(cls.FIELDS))
        if unknown:
            raise _bad(f"unknown filter field(s): {', '.join(unknown)}; known: {', '.join(cls.FIELDS)}")
        return cls(
            pid=None if values.get("pid") is None else _pid(values["pid"]),
            process=None if values.get("process") is None else _process(values["process"]),
            protocol=None if values.get("protocol") is None else _protocol(values["protocol"]),
        )

    @property
    def empty(self) -> bool:
        return self.pid is None and self.process is None and self.protocol is None

    def matches(self, conn: Connection) -> bool:
        if self.pid is not None and conn.pid != self.pid:
            return False
        if self.process is not None and conn.process_name.lower() != self.process.lower():
            return False
        return self.protocol is None or self.protocol in (conn.protocol.lower(), conn.transport)

    def matches_process(self, proc: ProcessStats) -> bool:
        """Processes have no protocol; only pid and name apply."""
        if self.pid is not None and proc.pid != self.pid:
            return False
        return self.process is None or proc.name.lower() == self.process.lower()

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS if getattr(self, name) is not None}


@dataclass(frozen=True, slots=True)
class Ordering:
    """Sort field, direction and how many items to return (None: all)."""

    sort: str | None = None
    order: Literal["asc", "desc"] = "desc"
    limit: int | None = None

    def apply(self, items: Iterable[T]) -> list[T]:
        """Sort by the named attribute, then cut; done on the records, before any JSON is built."""
        result = list(items)
        if self.sort is not None:
            result.sort(key=attrgetter(self.sort), reverse=self.order == "desc")
        if self.limit is not None:
            del result[self.limit :]
        return result


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise _bad(f"{name} given more than once")
    return values[0] if values else None


def known_params(query: MultiMapping[str], known: tuple[str, ...]) -> dict[str, str | None]:
    """The value of each known parameter (None when absent); unknown or repeated ones are an error."""
    unknown = sorted(set(query) - set(known))
    if unknown:
        takes = f"known: {', '.join(known)}" if known else "this endpoint takes none"
        raise _bad(f"unknown query parameter(s): {', '.join(unknown)}; {takes}")
    return {name: _single(query, name) for name in known}


def bounded_int(raw: str | None, name: str, low: int, high: int) -> int | None:
    """A whole number in [low, high] written in decimal digits; None when absent."""
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise _bad(f"{name} must be a whole number between {low} and {high}")
    return int(raw)


_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(raw: str | None, name: str, most: int) -> int | None:
    """Seconds of a span written like 90s, 30m, 48h or 2d, at most `most`; None when absent."""
    if raw is None:
        return None
    match = _DURATION.fullmatch(raw)
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else 0
    if not 0 < seconds <= most:
        raise _bad(
            f"{name} must be a span such as 30m, 1h or 48h (s, m, h or d), "
            f"at most {most // 3600}h; got {raw[:32]!r}"
        )
    return seconds


def parse_list_query(
    query: MultiMapping[str],
    *,
    sort_fields: tuple[str, ...],
    max_limit: int,
    filters: tuple[str, ...] = Selection.FIELDS,
) -> tuple[Selection, Ordering]:
    """Validate a list endpoint's query string; unknown parameters are an error.

    Without `limit`, at most `max_limit` items are returned: every answer is bounded.
    """
    values = known_params(query, (*filters, "sort", "order", "limit"))
    selection = Selection.from_mapping({name: values[name] for name in filters})

    sort = values["sort"]
    if sort is not None and sort not in sort_fields:
        raise _bad(f"sort must be one of {', '.join(sort_fields)}")
    if values["order"] not in (None, "asc", "desc"):
        raise _bad("order must be asc or desc")
    order: Literal["asc", "desc"] = "asc" if values["order"] == "asc" else "desc"
    limit = bounded_int(values["limit"], "limit", 1, max_limit)
    return selection, Ordering(sort, order, max_limit if limit is None else limit)
