"""How the service logs: text or JSON lines, repeated warnings folded, and an access log without secrets.

Nothing is logged per packet. A warning that repeats (a counter read
failing every second, a client refused again and again) is said once, then
once per `REPEAT_INTERVAL` with how many like it were held back, so one
fault cannot fill a journal. The access log (`ACCESS_LOG`) says who asked
for what and how it went; it never shows a credential: no header is
logged, and query values whose names say they are secret are masked.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

REPEAT_INTERVAL = 60.0
"""Seconds within which the same warning is said once."""
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "trafficmon.access"
_SECRET_WORDS = ("token", "pass", "secret", "key", "auth")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False)


class RepeatFolder(logging.Filter):
    """Let a warning through once per interval; the next one through says how many were held back.

    Warnings are alike when their logger, level and message template are
    (`record.msg`, before its arguments): "no /proc/net/dev: %s" repeats
    whatever the error.
    """

    def __init__(self, interval: float = REPEAT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        said = self._seen.get(key)
        if said is not None and now - said[0] < self._interval:
            self._seen[key] = (said[0], said[1] + 1)
            return False
        held = said[1] if said is not None else 0
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {self._interval:g} s)"
        return True


def setup(level: str, log_format: str) -> None:
    """Log to stderr as `log_format` says, repeats folded; left as it is when the root logger has handlers.

    A process that embeds the service (a test run) keeps its own logging.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RepeatFolder())
    logging.basicConfig(level=level, handlers=[handler])


def shown_path(request: web.BaseRequest) -> str:
    """The request's path and query with the values of secret-sounding parameters masked."""
    if not request.query_string:
        return request.path
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    masked = [(k, "***" if any(word in k.lower() for word in _SECRET_WORDS) else v) for k, v in pairs]
    return f"{request.path}?{urlencode(masked)}"


class AccessLogger(AbstractAccessLogger):
    """One line a request: client, method, path, status, bytes, milliseconds; never a header or a secret."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = {
            "remote": request.remote,
            "method": request.method,
            "path": shown_path(request),
            "status": response.status,
            "bytes": response.body_length,
            "ms": round(time * 1000, 1),
        }
        self.logger.info(
            "%s %s %s %d %d B %.1f ms", fields["remote"], fields["method"], fields["path"], fields["status"],
            fields["bytes"], fields["ms"], extra={"fields": fields},
        )
