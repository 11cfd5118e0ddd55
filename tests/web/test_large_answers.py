"""Large answers under a 100,000-connection host: built once per tick, off the event loop.

After a flood a host holds 100,000 connections; `GET /api/connections?limit=10000`
is then 6.8 MB of JSON. Four such requests at once used to take 2.4-2.8 s
each and push the WebSocket's updates 2.8 s apart, as each was built on the
event loop. Here the same load on the real app (a fake engine ticking the
100,000 connections every second): each request under 2 s, the four of one
tick sharing one build, and no gap of 2 s between two updates of a reading
WebSocket client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from tests.web.conftest import AUTH, MakeClient
from tests.web.fakes import FakeEngine, busy_host
from trafficmon.web.keys import TICK_BUILDS_KEY

FLOWS = 100_000
LIMIT = 10_000
LARGEST_WAIT = 2.0
TICKS = 12
ROUNDS = 3


async def test_four_large_requests_at_once_are_quick_and_do_not_hold_the_updates(
    make_client: MakeClient, engine: FakeEngine
) -> None:
    host = busy_host(FLOWS, 1, time.time() - 600)
    client = await make_client()
    builds = client.server.app[TICK_BUILDS_KEY]
    ws = await client.ws_connect("/ws", headers=AUTH, max_msg_size=0)
    assert (await ws.receive_json(timeout=10))["type"] == "initial"
    arrivals: list[float] = []
    busy = asyncio.Event()

    async def read_updates() -> None:
        while len(arrivals) < TICKS:
            message = await ws.receive_json(timeout=LARGEST_WAIT * 2)
            assert message["type"] == "update"
            arrivals.append(time.monotonic())
            busy.set()

    async def get() -> tuple[float, dict]:
        started = time.monotonic()
        response = await client.get(f"/api/connections?limit={LIMIT}", headers=AUTH)
        body = await response.json()
        assert response.status == 200
        return time.monotonic() - started, body

    engine.run(lambda seq: replace(host, seq=seq, timestamp=time.time()), interval=1.0, count=TICKS)
    reading = asyncio.create_task(read_updates())
    await asyncio.wait_for(busy.wait(), timeout=LARGEST_WAIT * 2)  # the busy host is the engine's latest
    waits = []
    for _ in range(ROUNDS):
        await asyncio.sleep(1.0)
        built = builds.built
        answers = await asyncio.gather(*(get() for _ in range(4)))
        assert builds.built - built <= 2, "the four of one tick share a build (two when a tick falls between)"
        for took, body in answers:
            waits.append(took)
            assert (body["count"], body["total"], len(body["connections"])) == (LIMIT, FLOWS, LIMIT)
    await asyncio.wait_for(reading, timeout=TICKS * 1.0 + 10)
    await ws.close()

    assert max(waits) < LARGEST_WAIT, f"a request took {max(waits):.2f} s"
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) < LARGEST_WAIT, f"the WebSocket client waited {max(gaps):.2f} s between two updates"


@pytest.mark.parametrize("sort", ["download_speed", "bytes_sent"])
async def test_a_kept_answer_is_the_one_its_query_asked_for(make_client: MakeClient, engine: FakeEngine,
                                                          sort: str) -> None:
    """Queries differing only in their order or limit are not answered from each other's build."""
    engine.tick(busy_host(300, 1, time.time() - 600))
    client = await make_client()
    for order, limit in (("desc", 5), ("asc", 5), ("asc", 7), ("desc", 5)):
        body = await (await client.get(f"/api/connections?sort={sort}&order={order}&limit={limit}",
                                       headers=AUTH)).json()
        values = [c[sort] for c in body["connections"]]
        assert len(values) == limit and values == sorted(values, reverse=order == "desc")
