"""`POST /adjust` from a browser without JavaScript: 303 back to /config, the result rendered there.

A real app and accountant (SQLite in tmp_path, fake clock and counters); the
form is posted the way a browser posts the /config page's form (its field
names, `Accept: text/html`, this server's `Origin`), and the page it is sent
back to is read as that browser would show it: the HTML as served.
"""

from __future__ import annotations

import html
import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH
from tests.web.openapi_check import OpenApi
from trafficmon.web.keys import ACCOUNTANT_KEY
from trafficmon.web.routes.form_refusals import Refusal, Refusals

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LOCATION = re.compile(r"/config\?(adjusted=[0-9]+|refused=[A-Za-z0-9_-]+)#adjust")


def own_origin(client: TestClient) -> str:
    return f"http://{client.host}:{client.port}"


async def post_form(client: TestClient, openapi: OpenApi, data: Any, *, origin: str | None = None) -> str:
    """Post `data` as a browser posts the form; returns the 303's Location (checked against the document)."""
    headers = {**AUTH, "Accept": BROWSER_ACCEPT, "Origin": origin or own_origin(client)}
    response = await client.post("/adjust", data=data, headers=headers, allow_redirects=False)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    assert LOCATION.fullmatch(location), location
    openapi.check_header("/adjust", "post", 303, "Location", location)
    return location


async def page(client: TestClient, location: str) -> str:
    response = await client.get(location.split("#")[0], headers={**AUTH, "Accept": BROWSER_ACCEPT})
    assert response.status == 200
    assert response.content_type == "text/html"
    return await response.text()


def adjust_status(body: str) -> tuple[str | None, str]:
    """The adjust form's status line as served: (its kind, its text)."""
    form = body[body.index('id="adjust-form"'):]
    match = re.search(r'<p class="form-status" role="status"(?: data-kind="(\w+)")?>(.*?)</p>', form, re.S)
    assert match, "the adjust form has a status line"
    return match.group(1), html.unescape(match.group(2))


def field_error(body: str, name: str) -> str | None:
    """The error shown beside field `name`, None while it is hidden."""
    match = re.search(rf'<p class="field-error" id="f-{name}-error"( hidden)?>(.*?)</p>', body, re.S)
    assert match, f"field {name} has an error slot"
    return None if match.group(1) else html.unescape(match.group(2))


async def counted(client: TestClient) -> int:
    response = await client.get("/data", headers=AUTH)
    return (await response.json())["counted"]


async def test_the_page_form_posts_to_adjust_without_javascript(client: TestClient) -> None:
    body = await page(client, "/config")
    assert '<form id="adjust-form" method="post" action="/adjust" novalidate>' in body
    assert adjust_status(body) == (None, "")
    assert field_error(body, "amount") is None


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
async def test_an_applied_form_shows_old_and_new_totals_on_the_page(
    client: TestClient, openapi: OpenApi, multipart: bool
) -> None:
    fields = {"mode": "set", "amount": "2.5", "unit": "gb", "note": "provider's meter"}
    location = await post_form(client, openapi, aiohttp.FormData(fields, default_to_multipart=multipart))
    assert location == "/config?adjusted=1#adjust", "the redirect names the audit entry, not what was typed"
    assert await counted(client) == 2_500_000_000
    body = await page(client, location)
    assert adjust_status(body) == (
        "ok", "Applied: counted total 0 bytes (0.00 GB) → 2,500,000,000 bytes (2.50 GB).")

    location = await post_form(client, openapi, {"mode": "add", "amount": "-500", "unit": "bytes", "note": ""})
    assert location == "/config?adjusted=2#adjust"
    assert adjust_status(await page(client, location)) == (
        "ok", "Applied: counted total 2,500,000,000 bytes (2.50 GB) → 2,499,999,500 bytes (2.50 GB).")
    audit = client.server.app[ACCOUNTANT_KEY].audit()
    assert [(e.mode, e.amount, e.note) for e in audit] == [
        ("set", 2_500_000_000, "provider's meter"), ("add", -500, "")]


@pytest.mark.parametrize(
    ("fields", "field", "shown", "status"),
    [
        pytest.param({"mode": "set", "amount": "<b>12k</b>", "unit": "bytes"}, "amount",
                     "must be a whole number of bytes, got '<b>12k</b>'", "bytes: must be a whole number", id="bytes"),
        pytest.param({"mode": "add", "amount": "-5", "unit": "gb"}, "amount",
                     "would make the counted total negative (-4900000000) (in bytes)", "gb: would make", id="negative"),
        pytest.param({"mode": "set", "amount": "1", "unit": "gb", "note": "x" * 501}, "note",
                     "must be at most 500 characters long", "note: ", id="note"),
        pytest.param({"mode": "reset", "amount": "1"}, None, None, "mode: must be one of", id="mode"),
        pytest.param({"mode": "set", "amount": "1", "unit": "kB"}, None, None, "unit: must be one of bytes, gb",
                     id="unit"),
        pytest.param([("mode", "set"), ("mode", "add"), ("amount", "1")], None, None, "mode: given more than once",
                     id="field-twice"),
    ],
)
async def test_a_refused_form_shows_the_error_by_its_field_and_changes_nothing(
    client: TestClient, openapi: OpenApi, fields: Any, field: str | None, shown: str | None, status: str
) -> None:
    await post_form(client, openapi, {"mode": "set", "amount": "0.1", "unit": "gb"})
    before = client.server.app[ACCOUNTANT_KEY].export_state()
    location = await post_form(client, openapi, fields)
    assert location.startswith("/config?refused=")
    assert "12k" not in location and "reset" not in location, "no typed text in the URL"
    assert client.server.app[ACCOUNTANT_KEY].export_state() == before
    body = await page(client, location)
    kind, text = adjust_status(body)
    assert kind == "error"
    assert text.startswith("Not applied: ") and status in text, text
    assert "<b>" not in body, "what was typed is escaped"
    if field is not None:
        assert field_error(body, field) == shown
        assert re.search(rf'id="f-{field}" [^>]*aria-invalid="true"', body)
    assert field_error(body, "amount" if field == "note" else "note") is None


async def test_a_result_no_longer_known_says_so(client: TestClient) -> None:
    assert adjust_status(await page(client, "/config?adjusted=7")) == (
        "info", "That adjustment is not in the audit trail.")
    assert adjust_status(await page(client, "/config?adjusted=not-a-number"))[0] == "info"
    assert adjust_status(await page(client, "/config?refused=gone")) == (
        "info", "That refusal is no longer kept; it changed nothing.")


async def test_a_cross_site_form_post_is_still_refused(client: TestClient) -> None:
    form = {"mode": "set", "amount": "1", "unit": "gb"}
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"},
                    {"Sec-Fetch-Site": "cross-site"}):
        response = await client.post("/adjust", data=form, allow_redirects=False,
                                     headers={**AUTH, "Accept": BROWSER_ACCEPT, **headers})
        assert response.status == 403
        assert (await response.json())["error"].startswith("cross-site request refused")
    assert await counted(client) == 0


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        pytest.param({"data": {"mode": "add", "bytes": "1000000000"}}, 200, id="curl-form"),
        pytest.param({"data": {"mode": "add", "bytes": "1000000000"},
                      "headers": {"Accept": "application/json, text/html;q=0.5"}}, 200, id="form-json-first"),
        pytest.param({"json": {"mode": "add", "bytes": 1_000_000_000}, "headers": {"Accept": BROWSER_ACCEPT}}, 200,
                     id="json-from-a-page"),
        pytest.param({"data": {"mode": "add", "bytes": "1k"}}, 400, id="curl-form-refused"),
        pytest.param({"json": {"mode": "add", "amount": "1", "unit": "gb"}}, 400, id="json-has-no-amount-field"),
    ],
)
async def test_json_clients_keep_getting_json(
    client: TestClient, openapi: OpenApi, request_args: dict[str, Any], status: int
) -> None:
    headers = {**AUTH, **request_args.pop("headers", {})}
    response = await client.post("/adjust", headers=headers, allow_redirects=False, **request_args)
    assert response.status == status
    body = await response.json()
    openapi.check_response("/adjust", "post", status, body)
    if status == 200:
        assert body["period"]["counted"] == 1_000_000_000
    else:
        assert await counted(client) == 0


def test_only_the_latest_refusals_are_kept() -> None:
    refusals = Refusals(kept=2)
    first = refusals.add(Refusal("bytes", "one"))
    second = refusals.add(Refusal(None, "two"))
    third = refusals.add(Refusal("note", "three"))
    assert len({first, second, third}) == 3
    assert refusals.get(first) is None
    assert (refusals.get(second), refusals.get(third)) == (Refusal(None, "two"), Refusal("note", "three"))
