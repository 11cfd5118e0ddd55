"""permessage-deflate on /ws: what a busy host's messages cost on the wire.

The bytes on the wire are read from the server socket's own TCP_INFO
(`tcpi_bytes_acked`: what the client's kernel acknowledged), not estimated by
compressing the JSON again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH, MakeClient
from tests.web.fakes import FakeEngine, busy_host
from tests.web.wire import bytes_acked
from trafficmon.web.keys import HUB_KEY

CONNECTIONS = 1_000
STARTED = time.time()
"""When the busy host's connections opened: the same in every snapshot, so their rows compare equal."""
BUDGET = 200_000
"""The issue's limit for one WebSocket message, in bytes."""



async def settled_acked(client: TestClient) -> int:
    """bytes_acked once the server has nothing left unsent (ACKs of loopback take microseconds)."""
    (peer,) = client.server.app[HUB_KEY].clients
    last = -1
    sock = peer.transport.get_extra_info("socket")
    for _ in range(100):
        now = bytes_acked(sock)
        if now == last and not peer.transport.get_write_buffer_size():
            return now
        last = now
        await asyncio.sleep(0.02)
    raise AssertionError("the server kept sending")


async def initial_and_keyframe(
    client: TestClient, engine: FakeEngine, compress: int
) -> tuple[aiohttp.ClientWebSocketResponse, list[tuple[dict[str, Any], int]]]:
    """Connect, then subscribe to the dashboard's topics; each message with its wire bytes."""
    ws = await client.ws_connect("/ws", headers=AUTH, compress=compress)
    initial = await ws.receive_json(timeout=10)
    after_initial = await settled_acked(client)
    await ws.send_json({"type": "subscribe", "topics": ["stats", "table"]})
    assert (await ws.receive_json(timeout=10))["type"] == "subscribed"
    before_tick = await settled_acked(client)
    engine.tick(busy_host(CONNECTIONS, 2, STARTED))
    keyframe = await ws.receive_json(timeout=10)
    after_tick = await settled_acked(client)
    return ws, [(initial, after_initial), (keyframe, after_tick - before_tick)]


async def test_initial_and_table_keyframe_are_deflated_under_the_budget(
    make_client: MakeClient, engine: FakeEngine
) -> None:
    engine.tick(busy_host(CONNECTIONS, 1, STARTED))
    plain_ws, plain = await initial_and_keyframe(await make_client(), engine, compress=0)
    await plain_ws.close()
    engine.tick(busy_host(CONNECTIONS, 1, STARTED))
    ws, deflated = await initial_and_keyframe(await make_client(), engine, compress=15)
    assert ws.compress == 15, "the server accepted the client's permessage-deflate offer"

    (initial, initial_wire), (keyframe, keyframe_wire) = deflated
    assert initial["type"] == "initial" and len(initial["data"]["connections"]) == CONNECTIONS
    assert keyframe["data"]["table"]["base"] is None and len(keyframe["data"]["table"]["add"]) == CONNECTIONS
    assert initial_wire < BUDGET, f"initial message took {initial_wire} bytes on the wire"
    assert keyframe_wire < BUDGET, f"table keyframe took {keyframe_wire} bytes on the wire"
    (_, plain_initial_wire), (plain_keyframe, plain_keyframe_wire) = plain
    assert plain_initial_wire > 4 * initial_wire, "uncompressed, the same initial message is several times larger"
    assert plain_keyframe_wire > 3 * keyframe_wire
    assert plain_keyframe["data"]["table"]["add"] == keyframe["data"]["table"]["add"], "same content either way"
    await ws.close()


async def test_a_client_that_offers_nothing_gets_plain_frames(client: TestClient) -> None:
    ws = await client.ws_connect("/ws", headers=AUTH, compress=0)
    assert ws.compress == 0
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    await ws.close()


async def test_ws_compress_off_declines_the_offer(make_client: MakeClient) -> None:
    client = await make_client(ws_compress=False)
    ws = await client.ws_connect("/ws", headers=AUTH, compress=15)
    assert ws.compress == 0, "the server did not agree to permessage-deflate"
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    await ws.close()


async def test_deflated_ticks_stay_shared_and_in_order(make_client: MakeClient, engine: FakeEngine) -> None:
    """Compression runs per client, serialisation still once per subscription and tick."""
    client = await make_client()
    sockets = [await client.ws_connect("/ws", headers=AUTH, compress=15) for _ in range(3)]
    for ws in sockets:
        assert (await ws.receive_json(timeout=5))["type"] == "initial"
    hub = client.server.app[HUB_KEY]
    built = hub.frames_built
    for seq in range(2, 7):
        engine.tick(busy_host(200, seq, STARTED))
        for ws in sockets:
            message = await ws.receive_json(timeout=5)
            assert (message["type"], message["seq"]) == ("update", seq)
    assert hub.frames_built - built == 5
    for ws in sockets:
        await ws.close()
