"""The service's logs: JSON lines when asked, repeated warnings folded, an access log that shows no secret."""

from __future__ import annotations

import base64
import json
import logging
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from tests.support.hosts import Link
from tests.support.service import PASSWORD, start_service
from trafficmon.web.logs import JsonFormatter, RepeatFolder, shown_path

TOKEN = "a-token-for-the-access-log-0123"


def record(msg: str, *args: object, level: int = logging.WARNING, name: str = "trafficmon.x") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_json_line_holds_time_level_logger_message_and_the_exception() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        rec = logging.LogRecord("trafficmon.x", logging.ERROR, __file__, 1, "failed: %s", ("it",), sys.exc_info())
    line = json.loads(JsonFormatter().format(rec))
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "trafficmon.x", "failed: it")
    assert line["time"].endswith("+00:00")
    assert "ValueError: bad" in line["exception"]


def test_a_repeated_warning_is_said_once_an_interval_with_how_many_were_held() -> None:
    now = [0.0]
    folder = RepeatFolder(interval=60, clock=lambda: now[0])
    passed = []
    for second in range(0, 150, 10):  # every 10 s for 150 s, each with another error text
        now[0] = float(second)
        rec = record("no /proc/net/dev: %s", f"error {second}")
        if folder.filter(rec):
            passed.append((second, rec.getMessage()))
    assert passed == [
        (0, "no /proc/net/dev: error 0"),
        (60, "no /proc/net/dev: error 60 (5 more like it in the last 60 s)"),
        (120, "no /proc/net/dev: error 120 (5 more like it in the last 60 s)"),
    ]
    assert folder.filter(record("another warning"))
    assert all(folder.filter(record("progress", level=logging.INFO)) for _ in range(3)), "info is never folded"


def test_secret_query_values_are_masked_in_the_path() -> None:
    request = make_mocked_request("GET", "/api/connections?limit=5&token=s3cret&api_key=k&password=p")
    assert shown_path(request) == "/api/connections?limit=5&token=%2A%2A%2A&api_key=%2A%2A%2A&password=%2A%2A%2A"
    assert shown_path(make_mocked_request("GET", "/health")) == "/health"


@pytest.mark.netns
def test_the_service_logs_json_and_its_access_log_shows_no_credential(link: Link, tmp_path: Path) -> None:
    proc, url = start_service(link, tmp_path / "data", "--log-format", "json", "--access-log",
                              "--api-tokens", TOKEN)
    try:
        basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(f"{url}api/stats", headers={"Authorization": basic})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        request = urllib.request.Request(f"{url}api/stats?token=in-the-query", headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(urllib.error.HTTPError) as refused:  # /api/stats takes no query
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 400
        refused.value.close()
    finally:
        proc.send_signal(signal.SIGTERM)  # as stop_service, keeping what it wrote
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "trafficmon.access"]
    assert len(access) == 2, err
    assert [(a["method"], a["path"], a["status"]) for a in access] == [
        ("GET", "/api/stats", 200), ("GET", "/api/stats?token=%2A%2A%2A", 400)]
    assert all(a["remote"] == "127.0.0.1" and a["bytes"] > 0 and a["ms"] >= 0 for a in access)
    for secret in (PASSWORD, TOKEN, "in-the-query", basic.split()[1]):
        assert secret not in err
