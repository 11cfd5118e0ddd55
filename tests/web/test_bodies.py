"""Hostile bodies: whatever the service cannot store or parse is refused at the door, never a 500.

Each request here answered 500, or 200 for a change that was lost at the
next flush, before bodies were read by `web.parsing.jsontext`: a lone surrogate in a
note, JSON nested 10,000 deep, invalid UTF-8, an unknown charset, a cap of
1e300 GB, a key given twice. Every refusal leaves the state as it was, and an
accepted note with line breaks survives a restart on the same DATA_DIR.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH, MakeAccountant, MakeClient
from tests.web.openapi_check import OpenApi
from tests.support.web import connect, receive
from trafficmon.web.parsing.jsontext import MAX_DEPTH

DEEP = "[" * 10_000 + "]" * 10_000
JSON_HEADERS = {**AUTH, "Accept": "application/json", "Content-Type": "application/json"}

ENDPOINTS = [
    pytest.param("POST", "/adjust", id="adjust"),
    pytest.param("PUT", "/api/settings", id="settings"),
    pytest.param("POST", "/api/traffic-state", id="import"),
]


async def send(client: TestClient, openapi: OpenApi, method: str, path: str, body: bytes | str,
               status: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.request(method, path, data=body, headers={**JSON_HEADERS, **(headers or {})})
    answer = await response.json()
    assert response.status == status, answer
    openapi.check_response(path, method, status, answer)
    return answer


async def state_of(client: TestClient) -> tuple[Any, Any]:
    """What a refusal must leave alone: the exported document and the settings in force."""
    exported = await (await client.get("/api/traffic-state", headers=AUTH)).json()
    settings = await (await client.get("/api/settings", headers=AUTH)).json()
    return exported, settings


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        pytest.param(DEEP, None, 400, f"nested more than {MAX_DEPTH} levels deep", id="nested-10000"),
        pytest.param("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), None, 400, "nested more than", id="nested-65"),
        pytest.param(b'{"note": "caf\xe9"}', None, 400, "not valid UTF-8 (byte 13)", id="invalid-utf8"),
        pytest.param("{}", {"Content-Type": "application/json; charset=bogus-xx"}, 415, "charset=bogus-xx",
                     id="bogus-charset"),
        pytest.param("{}", {"Content-Type": "application/json; charset=latin-1"}, 415, "as UTF-8", id="latin-1"),
        pytest.param('{"a": 1, "a": 2}', None, 400, "gives the key 'a' more than once", id="duplicate-key"),
        pytest.param('{"a": NaN}', None, 400, "NaN is not a JSON value", id="nan"),
        pytest.param('{"a": -Infinity}', None, 400, "-Infinity is not a JSON value", id="infinity"),
    ],
)
async def test_unreadable_bodies_are_refused_and_change_nothing(
    client: TestClient, openapi: OpenApi, method: str, path: str, body: str | bytes,
    headers: dict[str, str] | None, status: int, says: str,
) -> None:
    before = await state_of(client)
    answer = await send(client, openapi, method, path, body, status, headers)
    assert says in answer["error"]
    assert await state_of(client) == before


async def test_a_form_without_its_boundary_is_refused(client: TestClient, openapi: OpenApi) -> None:
    before = await state_of(client)
    answer = await send(client, openapi, "POST", "/adjust", "mode=add&bytes=1", 400,
                        {"Content-Type": "multipart/form-data"})
    assert answer["error"].startswith("the form body cannot be read: boundary missed")
    assert await state_of(client) == before


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        pytest.param(r'{"mode": "add", "bytes": 0, "note": "\ud800"}', "note", "lone surrogate", id="surrogate"),
        pytest.param(r'{"mode": "add", "bytes": 0, "note": "a\udc80b"}', "note", "lone surrogate", id="low-surrogate"),
        pytest.param(r'{"mode": "add", "bytes": 0, "note": "a\u0000b"}', "note", "NUL", id="nul"),
        pytest.param(r'{"mode": "add", "bytes": 0, "note": "\u001b[2J"}', "note", "U+001B", id="escape"),
        pytest.param(r'{"mode": "add", "bytes": 0, "note": "\u0085"}', "note", "U+0085", id="c1-control"),
        pytest.param(r'{"mode": "add", "bytes": 0, "\ud800": 1}', "\\ud800", "lone surrogate", id="surrogate-key"),
        pytest.param('{"mode": "add", "bytes": 1, "bytes": 2}', None, "'bytes' more than once", id="bytes-twice"),
        pytest.param('{"mode": "add", "bytes": 0, "note": "' + "n" * 501 + '"}', "note", "at most 500",
                     id="note-too-long"),
    ],
)
async def test_adjustments_that_cannot_be_stored_are_refused_naming_the_field(
    client: TestClient, openapi: OpenApi, body: str, field: str | None, says: str
) -> None:
    before = await state_of(client)
    answer = await send(client, openapi, "POST", "/adjust", body, 400)
    assert says in answer["error"]
    assert answer.get("field") == field
    assert await state_of(client) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param('{"cap_gb": 1e300}', "cap_gb", id="cap-1e300"),
        pytest.param('{"cap_gb": 1e10}', "cap_gb", id="cap-over-int64"),
        pytest.param('{"cap_gb": 100, "cap_gb": 200}', None, id="cap-twice"),
        pytest.param(r'{"timezone": "Europe/\ud800"}', "timezone", id="zone-surrogate"),
    ],
)
async def test_settings_that_cannot_be_kept_are_refused(
    client: TestClient, openapi: OpenApi, body: str, field: str | None
) -> None:
    before = await state_of(client)
    answer = await send(client, openapi, "PUT", "/api/settings", body, 400)
    assert answer.get("field") == field
    assert await state_of(client) == before


@pytest.mark.parametrize(
    ("bad_note", "says"),
    [pytest.param("\ud800", "lone surrogate", id="surrogate"), pytest.param("\x07", "U+0007", id="bell")],
)
async def test_an_import_with_a_note_that_cannot_be_stored_is_refused(
    client: TestClient, openapi: OpenApi, bad_note: str, says: str
) -> None:
    added = await send(client, openapi, "POST", "/adjust", '{"mode": "add", "bytes": 5, "note": "kept"}', 200)
    assert added["adjustment"]["note"] == "kept"
    before = await state_of(client)
    document = copy.deepcopy(before[0])
    document["audit"][0]["note"] = bad_note
    answer = await send(client, openapi, "POST", "/api/traffic-state", json.dumps(document), 400)
    assert answer["field"] == "audit[0].note"
    assert says in answer["error"]
    assert await state_of(client) == before


async def test_a_note_with_line_breaks_is_accepted_and_survives_a_restart(
    make_client: MakeClient, make_accountant: MakeAccountant, openapi: OpenApi, tmp_path: Path
) -> None:
    note = "moved the backup\r\nto the other disk\tat night"
    data_dir = tmp_path / "kept"
    first = await make_client(accountant=make_accountant(data_dir))
    await send(first, openapi, "POST", "/adjust", json.dumps({"mode": "add", "bytes": 7, "note": note}), 200)
    await first.close()
    second = await make_client(accountant=make_accountant(data_dir))
    audit = await (await second.get("/api/audit", headers=AUTH)).json()
    assert [entry["note"] for entry in audit["audit"]] == [note]


@pytest.mark.parametrize(
    ("message", "says"),
    [
        pytest.param('{"type": "ping"' + ', "x": ' + DEEP + "}", "nested more than", id="nested-10000"),
        pytest.param('{"type": "ping", "type": "subscribe"}', "'type' more than once", id="type-twice"),
        pytest.param(r'{"type": "\ud800"}', "type: holds a lone surrogate", id="surrogate"),
    ],
)
async def test_a_hostile_websocket_message_gets_an_error_and_the_socket_stays(
    client: TestClient, openapi: OpenApi, message: str, says: str
) -> None:
    ws = await connect(client)
    await receive(ws, openapi)
    await ws.send_str(message)
    answer = await receive(ws, openapi)
    assert answer["type"] == "error" and says in answer["error"], answer
    await ws.send_str('{"type": "ping"}')
    while (answer := await receive(ws, openapi))["type"] != "pong":
        assert answer["type"] == "update", answer
    await ws.close()
