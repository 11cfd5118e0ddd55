"""The dashboard's pages as HTML: routes, auth, local assets, and what each page is told about the server.

What the pages do in a browser is tested in Chromium (`tests/browser`); here
only what the server sends.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH, CREDENTIALS
from tests.web.fakes import FakeEngine
from trafficmon.web.app import create_app
from trafficmon.web.config import ServiceConfig

WEB = Path(__file__).resolve().parents[2] / "web"
BROWSER = {"Accept": "text/html"}
PAGES = {
    "/": ("overview", {"js/common.js", "js/table.js", "js/charts.js", "js/overview.js"}),
    "/processes/1234": ("process", {"js/common.js", "js/table.js", "js/charts.js", "js/process.js"}),
    "/daily": ("daily", {"js/common.js", "js/charts.js", "js/daily.js"}),
    "/months": ("months", {"js/common.js", "js/months.js"}),
    "/config": ("config", {"js/common.js", "js/config.js"}),
}
SHARED = {"css/app.css", "js/labels.js", "img/icon.svg", "vendor/uplot/uPlot.min.css", "vendor/uplot/uPlot.iife.min.js"}


def settings_of(page: str) -> dict[str, Any]:
    found = re.search(r"data-settings='([^']*)'", page)
    assert found, "the page carries its settings"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("path", list(PAGES))
async def test_page_is_html_with_only_local_assets(client: TestClient, path: str) -> None:
    response = await client.get(path, headers={**AUTH, **BROWSER})
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    name, scripts = PAGES[path]
    assert f'data-page="{name}"' in page
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert not [u for u in urls if "//" in u], "nothing may come from another host"
    static = {u.split("?")[0].removeprefix("/static/") for u in urls if u.startswith("/static/")}
    assert static == SHARED | scripts
    for url in (u for u in urls if u.startswith("/static/")):
        asset = await client.get(html.unescape(url), headers=AUTH)
        assert asset.status == 200, url
        assert await asset.read() == (WEB / "static" / url.split("?")[0].removeprefix("/static/")).read_bytes()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "no inline script (the CSP forbids it)"
    assert not re.search(r"\son[a-z]+=", page), "no inline event handler"


@pytest.mark.parametrize("path", list(PAGES))
async def test_page_needs_auth(client: TestClient, path: str) -> None:
    response = await client.get(path, headers=BROWSER)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


async def test_pages_are_told_the_live_settings(make_client: Any) -> None:
    client = await make_client(ws_max_connections=321)
    response = await client.get("/processes/1234", headers={**AUTH, **BROWSER})
    assert settings_of(await response.text()) == {
        "page": "process",
        "pid": 1234,
        "max_connections": 321,
        "update_interval": 1.0,
        "history_length": 60,
        "speed_window": 5.0,
        "speed_window_text": "last 5 s",
        "average_window": 60.0,
        "average_window_text": "last minute",
        "minute_history_hours": 48,
    }


@pytest.mark.parametrize(
    ("speed_window", "average_window", "speed_text", "average_text"),
    [(5.0, 60.0, "last 5 s", "last minute"), (0.5, 120.0, "last 0.5 s", "last 2 min"),
     (2.0, 90.0, "last 2 s", "last 90 s"), (10.0, 3600.0, "last 10 s", "last hour")],
)
async def test_pages_name_both_speed_windows(aiohttp_client: Any, make_accountant: Any, speed_window: float, average_window: float,
                                             speed_text: str, average_text: str) -> None:
    """The "Speeds" buttons and the labels are the configured windows' (the page's scripts reuse the words)."""
    windows = replace(ServiceConfig().engine, speed_window=speed_window, average_window=average_window)
    app = create_app(ServiceConfig(engine=windows), FakeEngine(), CREDENTIALS, make_accountant())
    client = await aiohttp_client(app)
    for path in ("/", "/processes/1234"):
        page = await (await client.get(path, headers={**AUTH, **BROWSER})).text()
        settings = settings_of(page)
        assert (settings["speed_window_text"], settings["average_window_text"]) == (speed_text, average_text)
        buttons = re.findall(r'<button type="button" data-speeds="(\w+)" aria-pressed="\w+">([^<]*)</button>', page)
        assert buttons == [("speed", speed_text), ("average", average_text)]
        assert f'<span data-role="speeds-window">{speed_text}</span>' in page, "labelled before any script runs"
        assert f"Up and Down: {speed_text}" in page, "the connection table says its window"


@pytest.mark.parametrize("path", ["/processes/4194305", "/processes/12345678", "/processes/abc", "/processes/"])
async def test_process_page_needs_a_process_id(client: TestClient, path: str) -> None:
    response = await client.get(path, headers={**AUTH, **BROWSER})
    assert response.status == 404
    assert "error" in await response.json()


async def test_settings_json_is_escaped_for_the_attribute(client: TestClient) -> None:
    page = await (await client.get("/", headers={**AUTH, **BROWSER})).text()
    attribute = re.search(r"data-settings='([^']*)'", page)
    assert attribute is not None and "<" not in attribute.group(1)
