"""API tokens for programs: Bearer on REST and the WebSocket, the token subprotocol for browsers, AUTH=none."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH, OTHER_TOKEN, TOKEN, MakeClient, bearer
from tests.support.web import PROTECTED
from trafficmon.web.security.auth import parse_bearer, token_matches

OFFER = ("trafficmon", f"bearer.{TOKEN}")
ALLOWED = "https://dashboard.example.org"


@pytest.mark.parametrize("path", [p for p in PROTECTED if p not in ("/ws", "/no-such-page")])
async def test_every_route_opens_with_a_token(client: TestClient, path: str) -> None:
    response = await client.get(path, headers=bearer())
    assert response.status == 200
    assert len(await response.read()) > 0


async def test_every_listed_token_is_accepted_and_the_scheme_is_case_insensitive(client: TestClient) -> None:
    for headers in (bearer(OTHER_TOKEN), {"Authorization": f"bearer {TOKEN}"}, {"Authorization": f"BEARER  {TOKEN} "}):
        assert (await client.get("/api/stats", headers=headers)).status == 200, headers


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(f"Bearer {TOKEN}x", "wrong token", id="longer"),
        pytest.param(f"Bearer {TOKEN[:-1]}", "wrong token", id="shorter"),
        pytest.param("Bearer " + "x" * 40, "wrong token", id="other"),
        pytest.param(f"Bearer {TOKEN} {TOKEN}", "authentication required", id="two-words"),
        pytest.param("Bearer", "authentication required", id="no-token"),
        pytest.param(f"Token {TOKEN}", "authentication required", id="other-scheme"),
    ],
)
async def test_wrong_and_malformed_tokens_are_refused(client: TestClient, header: str, message: str) -> None:
    response = await client.get("/api/stats", headers={"Authorization": header})
    assert response.status == 401
    assert await response.json() == {"error": message}
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


async def test_wrong_tokens_count_toward_the_login_throttle_malformed_ones_do_not(make_client: MakeClient) -> None:
    client = await make_client(auth_max_failures=2)
    for _ in range(3):
        assert (await client.get("/api/stats", headers={"Authorization": "Bearer"})).status == 401
    assert (await client.get("/api/stats", headers=bearer())).status == 200
    for _ in range(2):
        assert (await client.get("/api/stats", headers=bearer("not-the-token-at-all"))).status == 401
    assert (await client.get("/api/stats", headers=bearer())).status == 429, "locked out, right token or not"


def test_parsing_and_matching() -> None:
    assert parse_bearer(f"Bearer {TOKEN}") == TOKEN
    assert parse_bearer(None) is None
    assert parse_bearer("Basic abc") is None
    assert token_matches(TOKEN, (OTHER_TOKEN, TOKEN))
    assert not token_matches(TOKEN, ())
    assert not token_matches(TOKEN.upper(), (TOKEN,))


# -- the WebSocket --------------------------------------------------------------


async def test_websocket_with_a_bearer_header(client: TestClient) -> None:
    ws = await client.ws_connect("/ws", headers=bearer())
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    assert ws.protocol is None, "nothing offered, nothing selected: the seed's clients see no change"
    await ws.close()


async def test_websocket_with_the_token_as_a_subprotocol(client: TestClient) -> None:
    """What a browser page can send: `new WebSocket(url, ["trafficmon", "bearer." + token])`."""
    ws = await client.ws_connect("/ws", protocols=OFFER)
    assert ws.protocol == "trafficmon", "a browser fails the handshake unless the server selects one it offered"
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    await ws.close()


async def test_trafficmon_is_selected_for_basic_auth_clients_that_offer_it(client: TestClient) -> None:
    ws = await client.ws_connect("/ws", headers=AUTH, protocols=("trafficmon",))
    assert ws.protocol == "trafficmon"
    await ws.close()


async def test_cross_origin_page_with_a_token_subprotocol_needs_its_origin_listed(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    ws = await client.ws_connect("/ws", protocols=OFFER, headers={"Origin": ALLOWED})
    assert ws.protocol == "trafficmon"
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", protocols=OFFER, headers={"Origin": "https://evil.example"})
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("protocols", "status"),
    [
        pytest.param(("trafficmon", "bearer.wrong-token-wrong-token"), 401, id="wrong-token"),
        pytest.param(("trafficmon", "bearer."), 401, id="empty-token"),
        pytest.param(("trafficmon",), 401, id="no-token"),
        pytest.param((f"bearer.{TOKEN}",), 400, id="trafficmon-not-offered"),
    ],
)
async def test_websocket_subprotocol_refusals_never_log_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture, protocols: tuple[str, ...], status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", protocols=protocols)
    assert caught.value.status == status
    for token in (TOKEN, "wrong-token-wrong-token"):
        assert token not in caplog.text


async def test_an_accepted_token_subprotocol_is_not_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ws = await client.ws_connect("/ws", protocols=("chat", *OFFER))
    assert ws.protocol == "trafficmon"
    await ws.receive_json(timeout=5)
    await ws.close()
    assert TOKEN not in caplog.text


# -- CORS for programs on another origin -----------------------------------------


async def test_a_listed_origin_may_send_a_bearer_token(make_client: MakeClient) -> None:
    """Its preflight allows Authorization (test_security's preflight test); the call itself:"""
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.get("/api/connections", headers={**bearer(), "Origin": ALLOWED})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


# -- AUTH=none ------------------------------------------------------------------------


async def test_auth_none_asks_no_credentials_and_keeps_the_csrf_check(make_client: MakeClient) -> None:
    client = await make_client(auth="none")
    for path in ("/api/stats", "/data", "/metrics", "/health"):
        assert (await client.get(path)).status == 200, path
    ws = await client.ws_connect("/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    await ws.close()
    adjusted = await client.post("/adjust", json={"mode": "add", "bytes": 5})
    assert adjusted.status == 200
    refused = await client.post("/adjust", json={"mode": "add", "bytes": 5}, headers={"Origin": "https://evil.example"})
    assert refused.status == 403, "a page elsewhere still cannot change the state through the browser"
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers={"Origin": "https://evil.example"})
    assert caught.value.status == 403
