"""Auth on every route and the WebSocket, CORS, CSRF, body limit, security headers, JSON errors."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.web.conftest import (
    AUTH,
    PASSWORD,
    USER,
    MakeAccountant,
    MakeClient,
    basic,
    build_app,
)
from tests.web.fakes import FakeEngine
from tests.web.openapi_check import OpenApi
from tests.support.web import PROTECTED


WRONG = [
    pytest.param({}, "authentication required", id="none"),
    pytest.param(basic(USER, "wrong"), "wrong user or password", id="wrong-password"),
    pytest.param(basic("root", PASSWORD), "wrong user or password", id="wrong-user"),
    pytest.param(basic(USER, PASSWORD + "x"), "wrong user or password", id="longer-password"),
    pytest.param({"Authorization": "Digest abc"}, "authentication required", id="other-scheme"),
    pytest.param({"Authorization": "Bearer abc"}, "wrong token", id="wrong-token"),
    pytest.param({"Authorization": "Bearer "}, "authentication required", id="empty-token"),
    pytest.param({"Authorization": "Basic !!!notbase64"}, "authentication required", id="bad-base64"),
    pytest.param({"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
                 "authentication required", id="no-colon"),
]


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(("headers", "message"), WRONG)
async def test_every_route_needs_auth(client: TestClient, openapi: OpenApi, path: str, headers: dict,
                                      message: str) -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="trafficmon", charset="UTF-8"'
    body = await response.json()
    assert body == {"error": message}
    openapi.check_schema("Error", body)


@pytest.mark.parametrize("path", [p for p in PROTECTED if p not in ("/ws", "/no-such-page")])
async def test_every_route_opens_with_the_right_credentials(client: TestClient, path: str) -> None:
    response = await client.get(path, headers=AUTH)
    assert response.status == 200
    assert len(await response.read()) > 0


async def test_scheme_name_is_case_insensitive(client: TestClient) -> None:
    token = AUTH["Authorization"].split()[1]
    response = await client.get("/api/stats", headers={"Authorization": f"basic {token}"})
    assert response.status == 200


@pytest.mark.parametrize(("headers", "message"), WRONG)
async def test_websocket_refuses_wrong_credentials(client: TestClient, headers: dict, message: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers=headers)
    assert caught.value.status == 401


async def test_websocket_opens_with_the_right_credentials(client: TestClient) -> None:
    ws = await client.ws_connect("/ws", headers=AUTH)
    assert (await ws.receive_json())["type"] == "initial"
    await ws.close()


async def test_metrics_public_only_by_setting(make_client: MakeClient) -> None:
    closed = await make_client()
    assert (await closed.get("/metrics")).status == 401
    public = await make_client(metrics_public=True)
    response = await public.get("/metrics")
    assert response.status == 200
    assert "trafficmon_capture_up 1.0" in await response.text()
    assert (await public.get("/api/stats")).status == 401


# -- CORS -------------------------------------------------------------------

ALLOWED = "https://grafana.example.org"


async def test_cors_allowed_origin_gets_headers(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.get("/api/stats", headers={**AUTH, "Origin": ALLOWED})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers.getall("Vary")


async def test_cors_headers_on_errors_too(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.get("/api/stats", headers={"Origin": ALLOWED})
    assert response.status == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_cors_other_origin_gets_no_headers(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.get("/api/stats", headers={**AUTH, "Origin": "https://evil.example"})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_preflight_allowed_without_credentials(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.options(
        "/api/connections",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Max-Age"] == "600"


async def test_cors_preflight_denied_origin(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.options(
        "/api/connections", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert response.status == 403
    assert await response.json() == {"error": "origin https://evil.example is not allowed (CORS_ORIGINS)"}
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_no_cors_by_default(client: TestClient) -> None:
    response = await client.options(
        "/api/stats", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
    )
    assert response.status == 403


# -- CSRF -------------------------------------------------------------------


async def test_cross_site_post_refused_before_anything_else(client: TestClient) -> None:
    response = await client.post("/api/stats", headers={**AUTH, "Origin": "https://evil.example"}, data="x=1")
    assert response.status == 403
    assert await response.json() == {
        "error": "cross-site request refused: https://evil.example is not this server or in CORS_ORIGINS"
    }


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Referer": "https://evil.example/page"}, id="referer"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-site"),
        pytest.param({"Origin": "null"}, id="null-origin"),
    ],
)
async def test_cross_site_signals_refused(client: TestClient, headers: dict) -> None:
    response = await client.put("/api/stats", headers={**AUTH, **headers}, json={})
    assert response.status == 403


async def test_same_origin_and_tools_pass_csrf(client: TestClient) -> None:
    own = f"http://{client.host}:{client.port}"
    for headers in ({"Origin": own}, {"Referer": own + "/docs"}, {"Sec-Fetch-Site": "same-origin"}, {}):
        response = await client.post("/api/stats", headers={**AUTH, **headers}, json={})
        assert response.status == 405, headers  # past CSRF: the route has no POST
        assert await response.json() == {"error": "Method Not Allowed"}
        assert "GET" in response.headers["Allow"]


async def test_listed_origin_passes_csrf(make_client: MakeClient) -> None:
    client = await make_client(cors_origins=(ALLOWED,))
    response = await client.post("/api/stats", headers={**AUTH, "Origin": ALLOWED}, json={})
    assert response.status == 405


async def test_cross_site_websocket_refused(client: TestClient) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers={**AUTH, "Origin": "https://evil.example"})
    assert caught.value.status == 403


# -- bodies, errors, headers -------------------------------------------------


async def echo_length(request: web.Request) -> web.Response:
    return web.json_response({"length": len(await request.read())})


async def test_body_over_the_limit_is_413_json(make_client: MakeClient) -> None:
    client = await make_client(max_body_bytes=1024)
    response = await client.post("/api/stats", headers=AUTH, data=b"x" * 2048)
    assert response.status == 413
    assert await response.json() == {"error": "request body of 2048 bytes is over the limit of 1024 bytes"}


async def test_streamed_body_over_the_limit_is_413_json(
    aiohttp_client: Any, engine: FakeEngine, make_accountant: MakeAccountant
) -> None:
    """No Content-Length: aiohttp's client_max_size stops the read, still answered as JSON."""
    app = build_app(engine, make_accountant(), max_body_bytes=1024)
    app.router.add_post("/test-echo", echo_length)
    client = await aiohttp_client(app)

    async def chunks():
        for _ in range(4):
            yield b"y" * 1000

    response = await client.post("/test-echo", headers=AUTH, data=chunks())
    assert response.status == 413
    assert "1024" in (await response.json())["error"]
    small = await client.post("/test-echo", headers=AUTH, data=b"z" * 1000)
    assert await small.json() == {"length": 1000}


async def test_unknown_route_is_404_json(client: TestClient) -> None:
    response = await client.get("/api/nothing", headers=AUTH)
    assert response.status == 404
    assert await response.json() == {"error": "Not Found"}


async def test_security_headers_everywhere(client: TestClient) -> None:
    for path, headers in (("/api/stats", AUTH), ("/health", {}), ("/api/stats", {}), ("/docs", AUTH)):
        response = await client.get(path, headers=headers)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"


async def test_unexpected_error_is_500_json_without_traceback(
    aiohttp_client: Any,
    engine: FakeEngine,
    make_accountant: MakeAccountant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret internal detail")

    app = build_app(engine, make_accountant())
    app.router.add_get("/test-broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/test-broken", headers=AUTH)
    assert response.status == 500
    assert await response.json() == {"error": "internal server error"}
    assert "secret internal detail" not in await response.text()
    assert "secret internal detail" in caplog.text  # logged with its traceback, for the operator
