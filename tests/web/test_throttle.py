"""Failed logins: counted per address, refused with 429 past the limit, forgiven with time."""

from __future__ import annotations

import aiohttp
import pytest

from tests.web.conftest import AUTH, MakeClient, basic, bearer
from tests.web.openapi_check import OpenApi
from trafficmon.web.security.login_throttle import LoginThrottle

WRONG = basic(password="guess")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def wait(throttle: LoginThrottle, address: str, user: str | None = "admin") -> int:
    return throttle.retry_after(address, user)[0]


def test_the_limit_holds_until_the_oldest_failure_is_a_window_old() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60.0, clock=clock)
    for user in ("admin", "root"):
        throttle.failed("192.0.2.1", user)
        clock.now += 10
    assert wait(throttle, "192.0.2.1") == 0, "two failures of three allowed"
    throttle.failed("192.0.2.1", "guest")
    assert throttle.retry_after("192.0.2.1", "admin") == (40, "from 192.0.2.1")  # the first, at 100, is 60 s old at 160
    assert wait(throttle, "192.0.2.1", None) == 40, "whatever it sends"
    assert wait(throttle, "192.0.2.2") == 0, "other addresses are not concerned"
    clock.now = 160.0
    assert wait(throttle, "192.0.2.1") == 0


def test_a_correct_login_does_not_reset_the_guesses_of_a_shared_address() -> None:
    """The issue's attack: 9 wrong and 1 right, over and over, from one address (a NAT shared with a user)."""
    clock = Clock()
    throttle = LoginThrottle(10, 300.0, clock=clock)
    guesses = 0
    for _ in range(80):
        for _ in range(9):
            if wait(throttle, "203.0.113.9") == 0:
                throttle.failed("203.0.113.9", "admin")
                guesses += 1
            clock.now += 0.1
        if wait(throttle, "203.0.113.9") == 0:
            throttle.succeeded("203.0.113.9", "admin")
    assert guesses == 10, "10 failures in 5 minutes, not 720"


def test_guesses_at_one_name_from_many_addresses_stop_but_its_owner_gets_in() -> None:
    clock = Clock()
    throttle = LoginThrottle(5, 60.0, clock=clock)
    throttle.succeeded("192.0.2.50", "admin")  # the owner's browser, logged in
    for i in range(5):
        throttle.failed(f"198.51.100.{i}", "admin")
    assert throttle.retry_after("198.51.100.200", "admin") == (60, "at this user name")
    assert wait(throttle, "198.51.100.200", "other") == 0, "other names are not concerned"
    assert wait(throttle, "192.0.2.50", "admin") == 0, "an address logged in as the name within the window"
    clock.now += 61
    assert wait(throttle, "192.0.2.50", "admin") == 0
    assert wait(throttle, "198.51.100.200", "admin") == 0, "aged out"


def test_the_tables_are_bounded() -> None:
    throttle = LoginThrottle(1, 60.0, clock=Clock(), max_entries=2)
    for n, address in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        throttle.failed(address, f"user{n}")
    assert [wait(throttle, a, None) > 0 for a in ("192.0.2.1", "192.0.2.2", "192.0.2.3")] == [False, True, True]
    assert [wait(throttle, "192.0.2.9", f"user{n}") > 0 for n in range(3)] == [False, True, True]


async def test_wrong_logins_lock_the_address_out_then_it_may_try_again(
    make_client: MakeClient, openapi: OpenApi
) -> None:
    clock = Clock()
    client = await make_client(auth_max_failures=3, auth_lockout=1.0, monotonic=clock)
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

    clock.now += 0.9
    assert (await client.get("/api/stats", headers=AUTH)).status == 429, "not before the lockout has passed"
    clock.now += 0.1
    assert (await client.get("/api/stats", headers=AUTH)).status == 200


async def test_a_logged_in_user_does_not_lift_the_lock_of_its_address(make_client: MakeClient) -> None:
    client = await make_client(auth_max_failures=3, auth_lockout=60.0)
    for _ in range(2):
        assert (await client.get("/api/stats", headers=WRONG)).status == 401
        assert (await client.get("/api/stats", headers=AUTH)).status == 200
    assert (await client.get("/api/stats", headers=WRONG)).status == 401
    assert (await client.get("/api/stats", headers=AUTH)).status == 429


async def test_wrong_tokens_count_like_wrong_passwords(make_client: MakeClient) -> None:
    client = await make_client(auth_max_failures=2, auth_lockout=60.0)
    for _ in range(2):
        assert (await client.get("/api/stats", headers={"Authorization": "Bearer not-the-token"})).status == 401
    refused = await client.get("/api/stats", headers=bearer())
    assert refused.status == 429


async def test_requests_without_credentials_do_not_count(make_client: MakeClient) -> None:
    client = await make_client(auth_max_failures=2)
    for _ in range(5):
        assert (await client.get("/", headers={"Accept": "text/html"})).status == 401
    assert (await client.get("/api/stats", headers=AUTH)).status == 200
