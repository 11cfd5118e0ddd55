"""Load on some WebSocket clients never starves the others, at the default settings.

- 300 clients, 30 of which never read (a raw socket that completes the
  handshake and then neither reads nor writes): every one of the 270 that
  read gets every tick with no gap of 2 s or more, and the 30 are closed
  within the send timeout (they answer no heartbeat ping), freeing their slots.
- A reading client that sends a burst of pings gets every pong and stays.
- A full server evicts a client that has stalled a tick before it refuses a
  new one.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from tests.web.conftest import AUTH, MakeClient
from tests.web.fakes import FakeEngine, build_snapshot
from tests.support.web import BULK, open_stalled_socket, read_to_end
from trafficmon.web.config import ServiceConfig
from trafficmon.web.keys import HUB_KEY

READERS = 270
STALLED = 30
DEFAULTS = ServiceConfig()
INTERVAL = DEFAULTS.engine.update_interval
TICKS = int(1.6 * DEFAULTS.ws_send_timeout / INTERVAL)
"""Long enough that the silent clients are closed (within the send timeout) while the readers read on."""
LARGEST_GAP = 2.0


async def test_thirty_silent_clients_do_not_starve_270_readers(make_client: MakeClient, engine: FakeEngine) -> None:
    client = await make_client()
    hub = client.server.app[HUB_KEY]
    silent = [await asyncio.to_thread(open_stalled_socket, client.host, client.port) for _ in range(STALLED)]
    connected_at = time.monotonic()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # the test client's pools 100
    readers = [await session.ws_connect(client.make_url("/ws"), headers=AUTH) for _ in range(READERS)]
    for ws in readers:
        assert (await ws.receive_json(timeout=10))["type"] == "initial"
    arrivals: list[list[tuple[int, float]]] = [[] for _ in readers]

    async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        while len(arrivals[i]) < TICKS:
            message = json.loads(await ws.receive_str(timeout=LARGEST_GAP * 2))
            arrivals[i].append((message["seq"], time.monotonic()))

    engine.run(lambda seq: build_snapshot(seq=seq + 1), interval=INTERVAL, count=TICKS)
    await asyncio.wait_for(asyncio.gather(*(read(i, ws) for i, ws in enumerate(readers))),
                           timeout=TICKS * INTERVAL + 20)

    gaps = []
    for got in arrivals:
        assert [seq for seq, _ in got] == list(range(2, TICKS + 2)), "every tick, in order"
        gaps += [later - earlier for (_, earlier), (_, later) in zip(got, got[1:], strict=False)]
    assert max(gaps) < LARGEST_GAP, f"a reader waited {max(gaps):.2f} s between two ticks"

    closed = [await asyncio.to_thread(read_to_end, sock, time.monotonic() + 1) for sock in silent]
    assert all(was_closed for _, was_closed in closed), "every silent client was closed"
    assert time.monotonic() - connected_at < TICKS * INTERVAL + 10
    assert len(hub.clients) == READERS and hub.evicted == STALLED
    for sock in silent:
        sock.close()
    for ws in readers:
        await ws.close()
    await session.close()


async def test_a_burst_of_pings_gets_every_pong(client: aiohttp.test_utils.TestClient, engine: FakeEngine) -> None:
    ws = await client.ws_connect("/ws", headers=AUTH)
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    burst = 10 * DEFAULTS.ws_queue + 1
    for _ in range(burst):
        await ws.send_str('{"type": "ping"}')
    pongs = 0
    while pongs < burst:
        message = await ws.receive_json(timeout=5)
        assert message["type"] in ("pong", "update"), message
        pongs += message["type"] == "pong"
    await ws.send_str('{"type": "ping"}')
    assert (await ws.receive_json(timeout=5))["type"] == "pong"
    assert not ws.closed
    await ws.close()


async def test_a_full_server_evicts_a_stalled_client_before_refusing_a_new_one(
    make_client: MakeClient, engine: FakeEngine
) -> None:
    client = await make_client(ws_max_clients=2, ws_sndbuf=32 * 1024)
    hub = client.server.app[HUB_KEY]
    reader = await client.ws_connect("/ws", headers=AUTH)
    stalled = await asyncio.to_thread(open_stalled_socket, client.host, client.port)
    engine.run(lambda seq: build_snapshot(seq=seq + 1, extra=BULK), interval=0.05, count=400)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not any(c.stalled_for(loop.time()) > DEFAULTS.engine.update_interval for c in hub.clients):
        assert loop.time() < deadline, "the silent client never stalled"
        await reader.receive(timeout=1)
    newcomer = await client.ws_connect("/ws", headers=AUTH)
    assert (await newcomer.receive_json(timeout=5))["type"] == "initial"
    assert hub.evicted == 1 and len(hub.clients) == 2
    _, closed = await asyncio.to_thread(read_to_end, stalled, time.monotonic() + DEFAULTS.ws_send_timeout + 2)
    assert closed
    stalled.close()
    refused = await client.get("/ws", headers={**AUTH, "Upgrade": "websocket", "Connection": "Upgrade",
                                               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                               "Sec-WebSocket-Version": "13"})
    assert refused.status == 503, "two readers and nobody stalled: the third is refused"
    for ws in (reader, newcomer):
        await ws.close()
