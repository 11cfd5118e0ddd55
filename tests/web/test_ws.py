"""The WebSocket feed: initial, updates per tick, ping/pong, subscribe with a filter, alerts, limits."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType
from aiohttp.test_utils import TestClient

from trafficmon.state import ThresholdEvent
from tests.web.conftest import AUTH, MakeAccountant, MakeClient
from tests.web.fakes import FakeEngine, build_snapshot
from tests.web.openapi_check import OpenApi
from trafficmon.web.keys import HUB_KEY
from trafficmon.web.views import period_json
from tests.support.web import RECEIVE_TIMEOUT, connect, receive


async def test_initial_message(client: TestClient, openapi: OpenApi) -> None:
    ws = await connect(client)
    message = await receive(ws, openapi)
    assert message["type"] == "initial"
    assert message["seq"] == 1
    assert list(message["data"]) == ["connections", "stats", "traffic"]
    assert [c["id"] for c in message["data"]["connections"]] == ["c1", "c2", "c3", "c4", "c5"]
    assert message["data"]["stats"]["total_download_speed"] == 70_700.0
    period = await (await client.get("/data", headers=AUTH)).json()
    assert message["data"]["traffic"] == period  # the billing period, as GET /data answers it
    assert (period["start"], period["outbound"], period["level"]) == ("2024-01-01T00:00:00+00:00", 0, "ok")
    await ws.close()


async def test_traffic_carries_the_cap_in_bytes(
    make_client: MakeClient, make_accountant: MakeAccountant, openapi: OpenApi
) -> None:
    client = await make_client(accountant=make_accountant(cap_gb=1.5))
    ws = await connect(client)
    traffic = (await receive(ws, openapi))["data"]["traffic"]
    assert traffic["cap"] == traffic["cap_bytes"] == 1_500_000_000
    await ws.close()


async def test_updates_arrive_at_the_tick_interval(client: TestClient, engine: FakeEngine,
                                                   openapi: OpenApi) -> None:
    ws = await connect(client)
    assert (await receive(ws, openapi))["type"] == "initial"
    # Validating each message against the OpenAPI schema takes tens of ms on a busy
    # machine; a tick shorter than that would make this reader the slow client.
    interval = 0.3
    engine.run(lambda seq: build_snapshot(seq=seq + 1), interval=interval, count=6)
    arrivals = []
    for expected in range(2, 8):
        message = await receive(ws, openapi)
        arrivals.append(time.monotonic())
        assert (message["type"], message["seq"]) == ("update", expected)
        assert message["data"]["stats"]["seq"] == expected
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(interval, abs=0.1)
    assert max(gaps) < 3 * interval
    await ws.close()


async def test_connections_per_message_are_bounded_to_the_busiest(
    make_client: MakeClient, engine: FakeEngine, openapi: OpenApi
) -> None:
    client = await make_client(ws_max_connections=3)
    ws = await connect(client)
    initial = await receive(ws, openapi)
    assert [c["id"] for c in initial["data"]["connections"]] == ["c1", "c2", "c3"]  # 50.1k, 23k, 1.2k B/s
    assert initial["data"]["stats"]["active_connections"] == 4
    await ws.close()


async def test_ping_pong(client: TestClient, openapi: OpenApi) -> None:
    ws = await connect(client)
    await receive(ws, openapi)
    for _ in range(3):
        await ws.send_json({"type": "ping"})
        assert await receive(ws, openapi) == {"type": "pong"}
    await ws.close()


async def test_subscribe_with_a_filter(client: TestClient, engine: FakeEngine, openapi: OpenApi) -> None:
    ws = await connect(client)
    await receive(ws, openapi)
    await ws.send_json({"type": "subscribe", "topics": ["processes", "connections"], "filter": {"process": "curl"}})
    assert await receive(ws, openapi) == {
        "type": "subscribed",
        "topics": ["connections", "processes"],
        "filter": {"process": "curl"},
    }
    engine.tick(build_snapshot(seq=2))
    update = await receive(ws, openapi)
    assert update["filter"] == {"process": "curl"}
    assert list(update["data"]) == ["connections", "processes"]
    assert [c["id"] for c in update["data"]["connections"]] == ["c1", "c5"]
    assert [p["pid"] for p in update["data"]["processes"]] == [1234]

    await ws.send_json({"type": "subscribe", "topics": ["connections"], "filter": {"pid": 2222, "protocol": "UDP"}})
    assert (await receive(ws, openapi))["filter"] == {"pid": 2222, "protocol": "udp"}
    engine.tick(build_snapshot(seq=3))
    assert [c["id"] for c in (await receive(ws, openapi))["data"]["connections"]] == ["c3"]

    await ws.send_json({"type": "subscribe", "topics": ["connections"], "filter": {"protocol": "SOCK_DGRAM"}})
    assert (await receive(ws, openapi))["filter"] == {"protocol": "sock_dgram"}
    engine.tick(build_snapshot(seq=4))
    assert [c["id"] for c in (await receive(ws, openapi))["data"]["connections"]] == ["c3", "c4"]
    await ws.close()


async def test_subscribe_to_every_topic(client: TestClient, engine: FakeEngine, openapi: OpenApi) -> None:
    ws = await connect(client)
    await receive(ws, openapi)
    topics = ["connections", "stats", "traffic", "processes", "interfaces", "capture", "alerts"]
    await ws.send_json({"type": "subscribe", "topics": topics})
    assert (await receive(ws, openapi))["topics"] == topics
    engine.tick(build_snapshot(seq=2))
    data = (await receive(ws, openapi))["data"]
    assert list(data) == topics[:-1]
    assert [i["name"] for i in data["interfaces"]] == ["eth0", "wlan0"]
    # The longer window's speeds beside the speed window's, in every record that has both.
    assert (data["stats"]["average_upload_speed"], data["stats"]["average_download_speed"]) == (3_084.0, 65_000.0)
    assert [p["average_download_speed"] for p in data["processes"]] == [40_000.0, 25_000.0]
    assert [i["average_download_speed"] for i in data["interfaces"]] == [65_000.0, 0.0]
    assert data["capture"]["kernel_drops"] == 3
    assert data["capture"]["problems"] == []
    await ws.close()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "subscribe", "topics": ["weather"]}, "unknown topic(s): weather; known: connections, stats"),
        ({"type": "subscribe", "topics": []}, "topics must be a non-empty list of topic names"),
        ({"type": "subscribe", "topics": "stats"}, "topics must be a non-empty list of topic names"),
        ({"type": "subscribe", "filter": {"pid": "x"}}, "pid must be a whole number"),
        ({"type": "subscribe", "filter": {"pid": True}}, "pid must be a whole number"),
        ({"type": "subscribe", "filter": {"user": "bob"}}, "unknown filter field(s): user"),
        ({"type": "subscribe", "filter": [1]}, "filter must be an object"),
        ({"type": "subscribe", "extra": 1}, "unknown subscribe field(s): extra"),
        ({"type": "dance"}, "unknown message type 'dance'; known: ping, subscribe"),
        ({"kind": "ping"}, 'message must be a JSON object with a string "type"'),
        ([1, 2], 'message must be a JSON object with a string "type"'),
    ],
)
async def test_bad_messages_get_an_error_and_change_nothing(
    client: TestClient, engine: FakeEngine, openapi: OpenApi, message: Any, error: str
) -> None:
    ws = await connect(client)
    await receive(ws, openapi)
    await ws.send_json(message)
    reply = await receive(ws, openapi)
    assert reply["type"] == "error"
    assert error in reply["error"]
    engine.tick(build_snapshot(seq=2))
    update = await receive(ws, openapi)
    assert list(update["data"]) == ["connections", "stats", "traffic"]
    assert "filter" not in update
    await ws.close()


async def test_not_json_and_binary_are_errors(client: TestClient, openapi: OpenApi) -> None:
    ws = await connect(client)
    await receive(ws, openapi)
    await ws.send_str("{not json")
    assert await receive(ws, openapi) == {"type": "error", "error": "the message is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}
    await ws.send_bytes(b"\x00\x01")
    assert await receive(ws, openapi) == {
        "type": "error",
        "error": "binary messages are not supported; send JSON text",
    }
    await ws.close()


async def test_alert_reaches_subscribers_of_alerts_only(client: TestClient, openapi: OpenApi) -> None:
    default = await connect(client)
    quiet = await connect(client)
    await receive(default, openapi)
    await receive(quiet, openapi)
    await quiet.send_json({"type": "subscribe", "topics": ["stats"]})
    await receive(quiet, openapi)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    alert = period_json.alert(ThresholdEvent("warning", start, 812, 1000, start + timedelta(days=3)))
    client.server.app[HUB_KEY].publish_alert(alert)
    assert await receive(default, openapi) == {"type": "alert", "data": alert}
    await quiet.send_json({"type": "ping"})
    assert await receive(quiet, openapi) == {"type": "pong"}  # no alert queued before it
    await default.close()
    await quiet.close()


async def test_one_serialisation_per_distinct_subscription(client: TestClient, engine: FakeEngine,
                                                           openapi: OpenApi) -> None:
    hub = client.server.app[HUB_KEY]
    sockets = [await connect(client) for _ in range(5)]
    for ws in sockets:
        await receive(ws, openapi)
    await sockets[0].send_json({"type": "subscribe", "filter": {"pid": 1234}})
    await receive(sockets[0], openapi)
    before = hub.frames_built
    engine.tick(build_snapshot(seq=2))
    frames = [await sockets[i].receive_str(timeout=RECEIVE_TIMEOUT) for i in range(5)]
    assert hub.frames_built - before == 2  # the default one, shared by four clients, and the filtered one
    assert len(set(frames[1:])) == 1
    assert frames[0] != frames[1]
    for ws in sockets:
        await ws.close()


async def test_ticks_are_coalesced_into_the_loop(client: TestClient, openapi: OpenApi) -> None:
    hub = client.server.app[HUB_KEY]
    ws = await connect(client)
    await receive(ws, openapi)
    ticks = hub.ticks
    for seq in (2, 3, 4):
        hub.on_tick(build_snapshot(seq=seq))  # three ticks before the loop gets to run
    assert (await receive(ws, openapi))["seq"] == 4
    assert hub.ticks == ticks + 1
    await ws.close()


async def test_oversized_client_message_closes_with_1009(make_client: MakeClient, openapi: OpenApi) -> None:
    client = await make_client(ws_max_msg_size=1024)
    ws = await connect(client)
    await receive(ws, openapi)
    await ws.send_str('{"type": "ping", "pad": "' + "x" * 2000 + '"}')
    message = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert message.type is WSMsgType.CLOSE
    assert message.data == WSCloseCode.MESSAGE_TOO_BIG


async def test_client_limit(make_client: MakeClient, openapi: OpenApi) -> None:
    client = await make_client(ws_max_clients=2)
    first, second = await connect(client), await connect(client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(client)
    assert caught.value.status == 503
    await first.close()
    for _ in range(50):
        if len(client.server.app[HUB_KEY].clients) < 2:
            break
        await asyncio.sleep(0.02)
    third = await connect(client)
    assert (await receive(third, openapi))["type"] == "initial"
    await second.close()
    await third.close()


async def test_plain_get_on_ws_is_400_json(client: TestClient) -> None:
    response = await client.get("/ws", headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"error": "this endpoint only speaks WebSocket (send an Upgrade request)"}


async def test_shutdown_closes_with_going_away(client: TestClient, openapi: OpenApi) -> None:
    ws = await connect(client)
    await receive(ws, openapi)
    await client.server.app.shutdown()
    message = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert message.type is WSMsgType.CLOSE
    assert message.data == WSCloseCode.GOING_AWAY
    assert message.extra == "server shutting down"


async def test_each_app_subscribes_once_and_unsubscribes_when_it_stops(
    engine: FakeEngine, make_client: MakeClient
) -> None:
    client = await make_client()
    assert engine.subscribers == 2  # the hub and the accountant, not once per WebSocket client
    await client.close()
    assert engine.subscribers == 0
