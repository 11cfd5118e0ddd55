"""A WebSocket client that stops reading must not hold up the others nor grow the server's memory."""

from __future__ import annotations

import asyncio
import json
import struct
import time

import aiohttp

from tests.web.conftest import AUTH, MakeClient
from tests.web.fakes import FakeEngine, build_snapshot
from trafficmon.web.keys import HUB_KEY
from trafficmon.web.live.endpoint import WRITER_LIMIT
from trafficmon.web.live.outbox import Client
from tests.support.web import BULK, open_stalled_socket, read_to_end

FAST_CLIENTS = 20
TICKS = 30
INTERVAL = 0.1
SEND_TIMEOUT = 1.0
QUEUE = 4
SNDBUF = 32 * 1024  # the kernel's share of what a stalled client can hold up


def close_frame(stream: bytes) -> tuple[int, str] | None:
    """Code and reason of the close frame in an unmasked server frame stream, if one arrived whole."""
    pos = 0
    while pos + 2 <= len(stream):
        opcode, length = stream[pos] & 0x0F, stream[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", stream, pos)
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", stream, pos)
            pos += 8
        if pos + length > len(stream):
            return None
        if opcode == 0x8 and length >= 2:
            return struct.unpack_from("!H", stream, pos)[0], stream[pos + 2 : pos + length].decode()
        pos += length
    return None


async def test_slow_client_is_dropped_while_twenty_others_stay_on_time(
    make_client: MakeClient, engine: FakeEngine
) -> None:
    client = await make_client(
        ws_send_timeout=SEND_TIMEOUT, ws_queue=QUEUE, ws_max_clients=FAST_CLIENTS + 1, ws_sndbuf=SNDBUF
    )
    hub = client.server.app[HUB_KEY]
    frame_size = len(json.dumps(build_snapshot(extra=BULK).connections[0].to_dict())) * (BULK + 5)

    stalled = await asyncio.to_thread(open_stalled_socket, client.host, client.port)
    fast = [await client.ws_connect("/ws", headers=AUTH) for _ in range(FAST_CLIENTS)]
    for ws in fast:
        assert (await ws.receive_json(timeout=5))["type"] == "initial"
    slow: Client = next(c for c in hub.clients if c.transport.get_extra_info("peername")[1] == stalled.getsockname()[1])

    lags: list[list[float]] = [[] for _ in fast]
    seqs: list[list[int]] = [[] for _ in fast]

    async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        while len(seqs[i]) < TICKS:
            message = json.loads(await ws.receive_str(timeout=5))
            seqs[i].append(message["seq"])
            lags[i].append(time.time() - message["timestamp"])

    peak_buffer = peak_queued = 0

    async def watch() -> None:
        nonlocal peak_buffer, peak_queued
        while True:
            peak_buffer = max(peak_buffer, slow.transport.get_write_buffer_size())
            peak_queued = max(peak_queued, slow.queued)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    engine.run(lambda seq: build_snapshot(seq=seq + 1, extra=BULK), interval=INTERVAL, count=TICKS)
    await asyncio.wait_for(asyncio.gather(*(read(i, ws) for i, ws in enumerate(fast))), timeout=30)
    watcher.cancel()

    # Every fast client got every tick, in order, promptly.
    for received in seqs:
        assert received == list(range(2, TICKS + 2))
    worst = max(max(lag) for lag in lags)
    assert worst < 5 * INTERVAL, f"a fast client lagged {worst:.3f} s behind a tick"

    # The stalled one was dropped as too slow, and what waited for it stayed bounded.
    assert slow not in hub.clients
    assert hub.evicted == 1
    assert slow.close_reason is not None and slow.close_reason.startswith("too slow: a send waited")
    assert slow.skipped > 0
    assert peak_queued <= QUEUE + 1
    # The transport buffer is at most asyncio's high-water mark (64 KiB) when aiohttp last
    # found it drained, plus what was written since (WRITER_LIMIT and one frame): a fixed
    # bound, far below the ~1.7 MB published while the client was stalled.
    assert peak_buffer <= 64 * 1024 + WRITER_LIMIT + frame_size, (peak_buffer, frame_size)
    assert slow.sent < 10

    # The server let go of it: reading again finds the connection closed (aborted, as it
    # did not read within the grace period), not left open.
    _, closed = await asyncio.to_thread(read_to_end, stalled, time.monotonic() + 5)
    assert closed
    stalled.close()
    for ws in fast:
        await ws.close()


async def test_slow_client_reading_again_gets_close_code_1013(make_client: MakeClient, engine: FakeEngine) -> None:
    client = await make_client(ws_send_timeout=0.5, update_interval=0.5, ws_queue=QUEUE, ws_sndbuf=SNDBUF)
    hub = client.server.app[HUB_KEY]
    stalled = await asyncio.to_thread(open_stalled_socket, client.host, client.port)
    engine.run(lambda seq: build_snapshot(seq=seq + 1, extra=BULK), interval=0.05, count=200)
    for _ in range(500):
        if hub.evicted:
            break
        await asyncio.sleep(0.01)
    assert hub.evicted == 1
    stream, closed = await asyncio.to_thread(read_to_end, stalled, time.monotonic() + 5)
    assert closed
    code, reason = close_frame(stream)
    assert code == 1013
    assert reason.startswith("too slow: a send waited")
    stalled.close()
