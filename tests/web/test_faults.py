"""What clients are told while DATA_DIR fails: 503s that say why, never a 200 that will not last.

The accountant runs on an ext4 image the test shuts down (every I/O then
fails with EIO, as a dying disk does) behind the real app.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.filesystems import Ext4Image, ext4  # noqa: F401 - the fixture
from trafficmon.state.store import DB_FILE
from tests.state.fakes import FakeClock, FakeCounters, at
from tests.web.conftest import AUTH, MakeAccountant, MakeClient
from tests.web.fakes import FakeEngine, build_snapshot
from tests.web.openapi_check import OpenApi
from trafficmon.web.keys import ACCOUNTANT_KEY

HTML = {**AUTH, "Accept": "text/html"}


async def call(client: TestClient, openapi: OpenApi, method: str, path: str, status: int,
               **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = await client.request(method, path, headers={**AUTH, "Accept": "application/json"}, **kwargs)
    body = await response.json()
    assert response.status == status, body
    openapi.check_response(path, method, status, body)
    return body, response.headers


async def metric(client: TestClient, name: str) -> float:
    text = await (await client.get("/metrics", headers=AUTH)).text()
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


async def test_a_failing_disk_is_503_on_health_and_on_every_change(
    ext4: Ext4Image, make_client: MakeClient, make_accountant: MakeAccountant, openapi: OpenApi,
    clock: FakeClock, counters: FakeCounters,
) -> None:
    client = await make_client(accountant=make_accountant(ext4.mount / "data"))
    accountant = client.server.app[ACCOUNTANT_KEY]
    await call(client, openapi, "POST", "/adjust", 200, json={"mode": "add", "bytes": 1000})
    health, _ = await call(client, openapi, "GET", "/health", 200)
    assert health["accounting"]["saving"] is True
    assert 'id="state-banner" class="banner" role="alert" hidden' in await (await client.get("/", headers=HTML)).text()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, accountant.flush) is True
    saved_at = clock.now
    assert await metric(client, "trafficmon_accounting_last_flush_timestamp_seconds") == saved_at

    ext4.shut_down()
    clock.now += 60
    counters.add(5000)
    await loop.run_in_executor(None, accountant.poll)
    assert await loop.run_in_executor(None, accountant.flush) is False

    health, _ = await call(client, openapi, "GET", "/health", 503)
    assert health["status"] == "degraded"
    assert health["accounting"]["saving"] is False
    assert health["reason"].startswith("the traffic state cannot be written (")
    for method, path, kwargs in (
        ("POST", "/adjust", {"json": {"mode": "add", "bytes": 7}}),
        ("PUT", "/api/settings", {"json": {"warning_percent": 60}}),
    ):
        body, headers = await call(client, openapi, method, path, 503, **kwargs)
        assert "was not saved, so it was not made" in body["error"]
        assert headers["Retry-After"] == "10"
    assert await metric(client, "trafficmon_accounting_persistent") == 0.0
    assert await metric(client, "trafficmon_accounting_last_flush_timestamp_seconds") == saved_at  # the last good one
    page = await (await client.get("/config", headers=HTML)).text()
    banner = re.search(r'<div id="state-banner"[^>]*data-level="critical"[^>]*>\s*<span class="banner-text">'
                       r"Changes cannot be saved: the traffic state cannot be written", page)
    assert banner, page[:2000]
    audit, _ = await call(client, openapi, "GET", "/api/audit", 200)
    assert [entry["bytes"] for entry in audit["audit"]] == [1000]


async def test_capture_down_is_said_at_the_top_of_every_page(client: TestClient, engine: FakeEngine) -> None:
    engine.tick(build_snapshot(seq=2, running=False, errors=("eth0: socket closed (ENETDOWN)",)))
    for path in ("/", "/daily", "/months", "/config", "/processes/1234"):
        page = await (await client.get(path, headers=HTML)).text()
        assert re.search(r'<div id="state-banner"[^>]*data-level="critical"[^>]*>\s*<span class="banner-text">'
                         r"Capture is down: eth0: socket closed \(ENETDOWN\)</span>", page), path


async def test_a_database_moved_aside_is_said_on_health_and_every_page_until_the_period_ends(
    make_client: MakeClient, make_accountant: MakeAccountant, openapi: OpenApi, tmp_path: Path,
    clock: FakeClock, counters: FakeCounters,
) -> None:
    data_dir = tmp_path / "moved"
    data_dir.mkdir()
    (data_dir / DB_FILE).write_bytes(b"\x00not a database\xff" * 1000)
    client = await make_client(accountant=make_accountant(data_dir))
    moved_to = next(str(p) for p in data_dir.iterdir() if ".corrupt-" in p.name)

    health, _ = await call(client, openapi, "GET", "/health", 200)
    said = (f"the state database was corrupt (file is not a database) and was moved to {moved_to}"
            " at 2024-01-10T12:00:00+00:00: this period's totals start from then")
    # Degraded but 200: changes are saved again, the totals come from the counters.
    assert (health["status"], health["reason"], health["accounting"]["problem"]) == ("degraded", said, said)
    for path in ("/", "/daily", "/months", "/config", "/processes/1234"):
        page = await (await client.get(path, headers=HTML)).text()
        banner = re.search(r'<div id="state-banner"[^>]*data-level="warning"[^>]*>\s*'
                           r'<span class="banner-text">([^<]*)</span>', page)
        assert banner and html.unescape(banner.group(1)) == said, path

    clock.now = at("2024-02-01 00:01")  # RESET_DAY 1: the next period
    counters.add(1000)
    await asyncio.get_running_loop().run_in_executor(None, client.server.app[ACCOUNTANT_KEY].poll)
    health, _ = await call(client, openapi, "GET", "/health", 200)
    assert (health["status"], health["accounting"]["problem"]) == ("healthy", None)
    assert 'id="state-banner" class="banner" role="alert" hidden' in await (await client.get("/", headers=HTML)).text()
