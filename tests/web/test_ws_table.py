"""The `table` topic: keyframes for joining clients, then deltas that rebuild exactly the full list."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from trafficmon.capture.model import Snapshot
from tests.web.conftest import AUTH
from tests.web.fakes import FakeEngine, build_snapshot, connection
from tests.web.openapi_check import OpenApi
from trafficmon.web.config import ServiceConfig
from trafficmon.web.keys import HUB_KEY
from trafficmon.web.live.hub import Hub
from trafficmon.web.live.table import COLUMNS, MOVING, TableStream

TABLE_TOPICS = ["stats", "table"]


async def table_client(client: TestClient, openapi: OpenApi, **filter_: Any) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect("/ws", headers=AUTH)
    assert (await ws.receive_json(timeout=5))["type"] == "initial"
    message: dict[str, Any] = {"type": "subscribe", "topics": TABLE_TOPICS}
    if filter_:
        message["filter"] = filter_
    await ws.send_json(message)
    reply = await ws.receive_json(timeout=5)
    openapi.check_schema("WsReply", reply)
    assert reply["topics"] == TABLE_TOPICS
    return ws


async def next_table(ws: aiohttp.ClientWebSocketResponse, openapi: OpenApi) -> tuple[int, dict[str, Any]]:
    message = await ws.receive_json(timeout=5)
    openapi.check_schema("WsTick", message)
    return message["seq"], message["data"]["table"]


class Replica:
    """What a browser rebuilds from the stream: handle -> {column: value}."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.seq: int | None = None

    def apply(self, seq: int, part: dict[str, Any]) -> None:
        if part["base"] is None:
            assert part["columns"] == list(COLUMNS) and part["moving"] == list(MOVING)
            self.rows = {}
        else:
            assert part["base"] == self.seq, "a delta must apply on the tick the replica holds"
        for handle, *values in part["add"]:
            self.rows[handle] = dict(zip(COLUMNS, values, strict=True))
        for handle, *values in part["change"]:
            self.rows[handle].update(zip(MOVING, values, strict=True))
        for handle in part["remove"]:
            del self.rows[handle]
        self.seq = seq

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in self.rows.values()}


def expected_rows(snap: Snapshot, **match: Any) -> dict[str, dict[str, Any]]:
    rows = {}
    for conn in snap.connections:
        if all(getattr(conn, k) == v for k, v in match.items()):
            full = conn.to_dict()
            row = {name: full[name] for name in COLUMNS}
            row["upload_speed"] = round(conn.upload_speed)
            row["download_speed"] = round(conn.download_speed)
            row["duration"] = round(conn.duration, 1)
            row["first_seen"] = round(conn.first_seen, 3)
            rows[conn.id] = row
    return rows


def evolve(seq: int, now: float) -> Snapshot:
    """Tick `seq` of a changing host: curl speeds up, firefox's UDP flow ends, a new flow appears."""
    snap = build_snapshot(seq=seq, now=now)
    conns = list(snap.connections)
    if seq >= 3:
        conns[0] = replace(conns[0], download_speed=90_000.4, bytes_received=conns[0].bytes_received + 90_000)
        conns = [c for c in conns if c.id != "c3"]
    if seq >= 4:
        conns = [replace(c, pid=3333, process_name="dnsmasq", attribution="socket") if c.id == "c4" else c
                 for c in conns]  # c4's process found late
        conns.append(connection(7, pid=4444, process="rsync", up=1e6, sent=5_000_000, now=now))
    return replace(snap, connections=tuple(conns))


async def test_keyframe_then_deltas_rebuild_the_full_list(client: TestClient, engine: FakeEngine,
                                                          openapi: OpenApi) -> None:
    ws = await table_client(client, openapi)
    replica = Replica()
    now = time.time()
    sizes = []
    for seq in range(2, 6):
        snap = evolve(seq, now)
        engine.tick(snap)
        got_seq, part = await next_table(ws, openapi)
        assert got_seq == seq
        assert part["total"] == len(snap.connections)
        sizes.append((len(part["add"]), len(part["change"]), len(part["remove"])))
        replica.apply(got_seq, part)
        assert replica.by_id() == expected_rows(snap)
    # keyframe of 5; c1 changed and c3 left; c7 new and c4's fixed columns changed; nothing moved
    assert sizes == [(5, 0, 0), (0, 1, 1), (2, 0, 0), (0, 0, 0)]
    await ws.close()


async def test_filtered_table_and_a_late_joiner_get_keyframes_while_others_get_deltas(
    client: TestClient, engine: FakeEngine, openapi: OpenApi
) -> None:
    hub = client.server.app[HUB_KEY]
    now = time.time()
    first = await table_client(client, openapi)
    curl = await table_client(client, openapi, process="curl")
    engine.tick(evolve(2, now))
    assert (await next_table(first, openapi))[1]["base"] is None
    _, curl_part = await next_table(curl, openapi)
    assert {row[1] for row in curl_part["add"]} == {"c1", "c5"}

    late = await table_client(client, openapi)
    before = hub.frames_built
    engine.tick(evolve(3, now))
    (_, delta), (_, key), (_, curl_delta) = [await next_table(ws, openapi) for ws in (first, late, curl)]
    assert hub.frames_built - before == 3  # the shared delta, the late joiner's keyframe, curl's delta
    assert delta["base"] == 2 and len(delta["add"]) == 0
    assert key["base"] is None and len(key["add"]) == 4
    assert curl_delta["base"] == 2 and [row[0] for row in curl_delta["change"]] == [curl_part["add"][0][0]]
    for ws in (first, late, curl):
        await ws.close()


async def test_busiest_rows_only_and_the_total_says_how_many_matched(
    make_client: Any, engine: FakeEngine, openapi: OpenApi
) -> None:
    client = await make_client(ws_max_connections=3)
    ws = await table_client(client, openapi)
    engine.tick(build_snapshot(seq=2, extra=10))
    _, part = await next_table(ws, openapi)
    assert [row[1] for row in part["add"]] == ["c1", "c2", "c3"]
    assert part["total"] == 15
    await ws.close()


def test_a_fresh_stream_starts_with_a_keyframe() -> None:
    snap = build_snapshot(seq=7)
    stream = TableStream()
    first = stream.advance(7, snap.connections, len(snap.connections))
    assert first == stream.keyframe()
    assert first["base"] is None and len(first["add"]) == 5


class StuckSocket:
    """A WebSocket whose peer stopped reading after the first frame: later sends wait forever."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.release = asyncio.Event()

    async def send_frame(self, frame: bytes, _opcode: Any) -> None:
        self.frames.append(frame)
        await self.release.wait()


class Transport:
    def get_extra_info(self, _name: str) -> None:
        return None


async def test_a_client_whose_update_was_replaced_gets_a_keyframe(engine: FakeEngine) -> None:
    hub = Hub(ServiceConfig(), engine, dict)
    hub.attach(asyncio.get_running_loop())
    socket = StuckSocket()
    client = hub.connect(socket, Transport())  # type: ignore[arg-type]
    hub.subscribe(client, replace(client.subscription, topics=frozenset(TABLE_TOPICS)))
    await asyncio.sleep(0)  # the writer takes the initial frame and stalls on it
    now = time.time()
    hub.publish(evolve(2, now))
    assert not client.needs_keyframe and client.update_pending
    hub.publish(evolve(3, now))  # replaces tick 2's unsent frame: tick 3 must be a keyframe
    assert client.skipped == 1
    socket.release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    last = json.loads(socket.frames[-1])
    assert last["seq"] == 3
    assert last["data"]["table"]["base"] is None
    await client.finish()
