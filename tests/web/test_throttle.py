"""Failed logins: counted per address, refused with 429 past the limit, forgiven with time."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.web.conftest import AUTH, MakeClient, basic
from tests.web.openapi_check import OpenApi
from web.throttle import LoginThrottle

WRONG = basic(password="guess")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_until_the_oldest_failure_is_a_window_old() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60.0, clock=clock)
    for _ in range(2):
        throttle.failed("192.0.2.1")
        clock.now += 10
    assert throttle.retry_after("192.0.2.1") == 0, "two failures of three allowed"
    throttle.failed("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 40  # the first failure, at 100, is 60 s old at 160
    assert throttle.retry_after("192.0.2.2") == 0, "other addresses are not concerned"
    clock.now = 160.0
    assert throttle.retry_after("192.0.2.1") == 0


def test_a_correct_login_clears_the_count() -> None:
    throttle = LoginThrottle(2, 60.0, clock=Clock())
    throttle.failed("192.0.2.1")
    throttle.succeeded("192.0.2.1")
    throttle.failed("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 0


def test_the_address_table_is_bounded() -> None:
    throttle = LoginThrottle(1, 60.0, clock=Clock(), max_addresses=2)
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        throttle.failed(address)
    assert [throttle.retry_after(a) > 0 for a in ("192.0.2.1", "192.0.2.2", "192.0.2.3")] == [False, True, True]


async def test_wrong_logins_lock_the_address_out_then_it_may_try_again(
    make_client: MakeClient, openapi: OpenApi
) -> None:
    client = await make_client(auth_max_failures=3, auth_lockout=1.0)
    for _ in range(3):
        assert (await client.get("/api/stats", headers=WRONG)).status == 401
    refused = await client.get("/api/stats", headers=AUTH)
    assert refused.status == 429, "the right password too: guesses must not be told apart"
    assert refused.headers["Retry-After"] == "1"
    body = await refused.json()
    assert body == {"error": "too many failed logins from 127.0.0.1; try again in 1 s"}
    openapi.check_response("/api/stats", "get", 429, body)
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await client.ws_connect("/ws", headers=AUTH)
    assert handshake.value.status == 429
    assert (await client.get("/health")).status in (200, 503), "/health stays open"

    await asyncio.sleep(1.1)
    assert (await client.get("/api/stats", headers=AUTH)).status == 200


async def test_requests_without_credentials_do_not_count(make_client: MakeClient) -> None:
    client = await make_client(auth_max_failures=2)
    for _ in range(5):
        assert (await client.get("/", headers={"Accept": "text/html"})).status == 401
    assert (await client.get("/api/stats", headers=AUTH)).status == 200
