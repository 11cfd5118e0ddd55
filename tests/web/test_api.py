"""The live JSON API against the real app: values, query options, bad input, and the OpenAPI shapes."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import AUTH
from trafficmon.capture.model import Snapshot
from tests.web.fakes import FakeEngine, build_snapshot, connection
from tests.web.openapi_check import OpenApi


async def get_json(client: TestClient, openapi: OpenApi, url: str, *, doc_path: str | None = None,
                   status: int = 200) -> dict:
    """GET with auth, check the status and validate the body against the document."""
    response = await client.get(url, headers=AUTH)
    body = await response.json()
    assert response.status == status, body
    openapi.check_response(doc_path or url.split("?")[0], "get", status, body)
    return body


async def test_health_reports_capture_and_uptime(client: TestClient, openapi: OpenApi) -> None:
    body = await get_json(client, openapi, "/health")
    assert body["status"] == "healthy"
    assert body["reason"] is None
    assert (body["capture"]["problems"], body["capture"]["level"]) == ([], "ok")
    assert body["active_connections"] == 4  # five listed, one closed
    assert body["uptime"] == pytest.approx(100.0)
    assert body["capture"]["interfaces"] == ["eth0", "wlan0"]
    assert body["capture"]["kernel_drops"] == 3
    assert body["capture"]["coverage"] == pytest.approx(0.97)


async def test_health_needs_no_auth(client: TestClient, openapi: OpenApi) -> None:
    response = await client.get("/health")
    assert response.status == 200
    openapi.check_response("/health", "get", 200, await response.json())


async def test_health_is_503_with_the_reason_when_capture_is_down(
    client: TestClient, engine: FakeEngine, openapi: OpenApi
) -> None:
    engine.tick(build_snapshot(seq=2, running=False, errors=("eth0: socket closed (ENETDOWN)",)))
    body = await get_json(client, openapi, "/health", status=503)
    assert body["status"] == "unhealthy"
    assert body["reason"] == "eth0: socket closed (ENETDOWN)"
    assert (body["capture"]["running"], body["capture"]["level"]) == (False, "down")
    assert (await get_json(client, openapi, "/api/capture"))["level"] == "down"


async def test_health_is_503_when_ticks_stop(client: TestClient, engine: FakeEngine, openapi: OpenApi) -> None:
    engine.tick(build_snapshot(seq=2, now=time.time() - 60))
    body = await get_json(client, openapi, "/health", status=503)
    assert body["status"] == "unhealthy"
    assert body["reason"].startswith("no capture tick for 60 s")
    assert body["capture"]["level"] == "down"
    assert (await get_json(client, openapi, "/api/capture"))["level"] == "ok", "as of its own tick it was fine"


def degraded_capture(seq: int, **changes: object) -> Snapshot:
    snap = build_snapshot(seq=seq)
    return replace(snap, health=replace(snap.health, **changes))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"coverage": 0.5}, "coverage is 50.0 % of the kernel's byte count (below 97 %): frames are being lost"),
        ({"coverage": 0.9699}, "coverage is 97.0 % of the kernel's byte count (below 97 %)"),
        ({"last_drop": -9.5}, "the kernel dropped frames in the last 10 s (3 since the start)"),
        ({"errors": ("wlan0: interface is down",)}, "wlan0: interface is down"),
    ],
)
async def test_health_is_degraded_while_capture_serves_but_loses_frames(
    client: TestClient, engine: FakeEngine, openapi: OpenApi, changes: dict, problem: str
) -> None:
    snap = degraded_capture(2, **changes)
    if "last_drop" in changes:  # seconds before the tick
        snap = replace(snap, health=replace(snap.health, last_drop=snap.timestamp + changes["last_drop"]))
    engine.tick(snap)
    body = await get_json(client, openapi, "/health")
    assert body["status"] == "degraded"
    assert body["reason"].startswith(problem)
    assert body["capture"]["problems"][0].startswith(problem)
    live = await get_json(client, openapi, "/api/capture")
    assert live["problems"] == body["capture"]["problems"], "one definition for /health and the dashboard"
    assert live["level"] == body["capture"]["level"] == "degraded"


async def test_drops_older_than_ten_seconds_and_full_coverage_are_healthy(
    client: TestClient, engine: FakeEngine, openapi: OpenApi
) -> None:
    snap = degraded_capture(2, coverage=0.97)
    engine.tick(replace(snap, health=replace(snap.health, last_drop=snap.timestamp - 10.0)))
    body = await get_json(client, openapi, "/health")
    assert (body["status"], body["reason"], body["capture"]["problems"]) == ("healthy", None, [])


async def test_stats_values(client: TestClient, openapi: OpenApi) -> None:
    body = await get_json(client, openapi, "/api/stats")
    assert body["total_upload_speed"] == 3_610.0
    assert body["total_download_speed"] == 70_700.0
    assert (body["average_upload_speed"], body["average_download_speed"]) == (3_084.0, 65_000.0)
    assert body["active_connections"] == 4
    assert body["total_bytes_sent"] == 96_800
    assert body["total_bytes_received"] == 2_306_700
    assert body["uptime"] == pytest.approx(100.0)
    assert body["unknown_bytes_sent"] == 300
    assert body["processes"] == 2
    assert body["interfaces"] == ["eth0", "wlan0"]
    assert body["seq"] == 1


async def test_connections_all(client: TestClient, openapi: OpenApi) -> None:
    body = await get_json(client, openapi, "/api/connections")
    assert body["count"] == body["total"] == 5
    assert [c["id"] for c in body["connections"]] == ["c1", "c2", "c3", "c4", "c5"]
    curl = body["connections"][0]
    assert (curl["process_name"], curl["pid"], curl["download_speed"]) == ("curl", 1234, 50_000.0)
    assert not any(key.startswith("average_") for c in body["connections"] for key in c), \
        "connections have the speed window's speeds only"
    assert curl["local_addr"] == "192.0.2.1:40001"
    assert curl["remote_addr"] == "198.51.100.2:443"
    assert curl["bytes_received"] == 1_500_000
    assert [c["remote_name"] for c in body["connections"]] == ["cdn.example.net", None, None, None, None]
    assert [(c["protocol"], c["transport"]) for c in body["connections"][1:4]] == [
        ("SOCK_STREAM", "tcp"), ("SOCK_DGRAM", "udp"), ("SOCK_DGRAM", "udp")
    ]


@pytest.mark.parametrize(
    ("protocol", "ids"),
    [("SOCK_RAW", ["c1", "c2"]), ("icmpv6", ["c1"]), ("ICMPv6", ["c1"]), ("sctp", ["c2"]),
     ("sock_stream", ["c3"]), ("TCP", ["c3"]), ("SOCK_DGRAM", [])],
)
async def test_protocol_filter_takes_the_seed_socket_type_or_the_precise_name(
    client: TestClient, engine: FakeEngine, openapi: OpenApi, protocol: str, ids: list[str]
) -> None:
    conns = (
        connection(1, pid=10, process="ping", protocol="icmpv6"),
        connection(2, pid=11, process="sctpd", protocol="sctp"),
        connection(3, pid=12, process="curl"),
    )
    engine.tick(replace(build_snapshot(seq=2), connections=conns))
    body = await get_json(client, openapi, f"/api/connections?protocol={protocol}")
    assert [c["id"] for c in body["connections"]] == ids
    assert all(c["protocol"] == "SOCK_RAW" for c in body["connections"] if c["transport"] != "tcp")


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("pid=1234", ["c1", "c5"]),
        ("pid=2222&protocol=udp", ["c3"]),
        ("process=FireFox", ["c2", "c3"]),
        ("protocol=udp", ["c3", "c4"]),
        ("protocol=TCP", ["c1", "c2", "c5"]),
        ("protocol=SOCK_STREAM", ["c1", "c2", "c5"]),
        ("protocol=sock_dgram", ["c3", "c4"]),
        ("pid=2222&protocol=SOCK_DGRAM", ["c3"]),
        ("protocol=SOCK_RAW", []),
        ("sort=download_speed", ["c1", "c2", "c3", "c4", "c5"]),
        ("sort=upload_speed&order=asc", ["c5", "c4", "c1", "c3", "c2"]),
        ("sort=bytes_sent&limit=2", ["c2", "c3"]),
        ("sort=bytes_received&order=asc&limit=1", ["c4"]),
        ("sort=packets_received", ["c1", "c2", "c3", "c4", "c5"]),
        ("sort=duration&order=desc", ["c2", "c1", "c3", "c4", "c5"]),
        ("sort=packets_sent&order=desc&limit=3", ["c2", "c3", "c1"]),
        ("process=curl&sort=bytes_received&order=asc", ["c5", "c1"]),
        ("pid=99999", []),
        ("protocol=sctp", []),
        ("limit=2", ["c1", "c2"]),
    ],
)
async def test_connections_query_options(client: TestClient, openapi: OpenApi, query: str, ids: list[str]) -> None:
    body = await get_json(client, openapi, f"/api/connections?{query}")
    assert [c["id"] for c in body["connections"]] == ids
    assert body["count"] == len(ids)


async def test_connections_total_counts_matches_before_limit(client: TestClient, openapi: OpenApi) -> None:
    body = await get_json(client, openapi, "/api/connections?protocol=tcp&limit=1")
    assert (body["count"], body["total"]) == (1, 3)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("pid=abc", "pid must be a whole number"),
        ("pid=-1", "pid must be a whole number"),
        ("pid=1.5", "pid must be a whole number"),
        ("pid=", "pid must be a whole number"),
        ("pid=99999999999", "pid must be between 0 and"),
        ("pid=1&pid=2", "pid given more than once"),
        ("process=", "process must be a non-empty"),
        ("process=" + "x" * 300, "process must be at most 256"),
        ("protocol=tcp/udp", "protocol must be a protocol name such as tcp, udp, icmpv6, SOCK_STREAM"),
        ("protocol=" + "x" * 17, "protocol must be a protocol name"),
        ("sort=remote_addr", "sort must be one of upload_speed, download_speed"),
        ("sort=", "sort must be one of"),
        ("order=up", "order must be asc or desc"),
        ("limit=0", "limit must be a whole number between 1 and 10000"),
        ("limit=10001", "limit must be a whole number between 1 and 10000"),
        ("limit=ten", "limit must be a whole number between 1 and 10000"),
        ("limit=-5", "limit must be a whole number between 1 and 10000"),
        ("colour=red", "unknown query parameter(s): colour"),
    ],
)
async def test_connections_bad_query(client: TestClient, openapi: OpenApi, query: str, message: str) -> None:
    body = await get_json(client, openapi, f"/api/connections?{query}", doc_path="/api/connections", status=400)
    assert message in body["error"]


async def test_limit_bound_is_a_setting(make_client, openapi: OpenApi) -> None:
    client = await make_client(max_connections_limit=3)
    body = await get_json(client, openapi, "/api/connections?limit=4", doc_path="/api/connections", status=400)
    assert body["error"] == "limit must be a whole number between 1 and 3"
    body = await get_json(client, openapi, "/api/connections?limit=3", doc_path="/api/connections")
    assert body["count"] == 3


async def test_without_limit_the_answer_is_still_bounded(make_client, engine: FakeEngine,
                                                          openapi: OpenApi) -> None:
    engine.tick(build_snapshot(seq=2, extra=20))
    client = await make_client(max_connections_limit=10)
    body = await get_json(client, openapi, "/api/connections")
    assert (body["count"], body["total"]) == (10, 25)
    assert [c["id"] for c in body["connections"]][:5] == ["c1", "c2", "c3", "c4", "c5"]


async def test_bad_query_changes_nothing(client: TestClient, openapi: OpenApi) -> None:
    before = await get_json(client, openapi, "/api/connections")
    await get_json(client, openapi, "/api/connections?limit=0", doc_path="/api/connections", status=400)
    assert await get_json(client, openapi, "/api/connections") == before


async def test_processes(client: TestClient, openapi: OpenApi) -> None:
    body = await get_json(client, openapi, "/api/processes?sort=download_speed")
    assert [p["name"] for p in body["processes"]] == ["curl", "firefox"]
    assert body["processes"][1]["connections"] == 2
    assert body["processes"][1]["upload_speed"] == 3_500.0
    speeds = [(p["average_upload_speed"], p["average_download_speed"]) for p in body["processes"]]
    assert speeds == [(80.0, 40_000.0), (3_000.0, 25_000.0)]
    assert body["unknown"] == [
        {"transport": "udp", "upload_speed": 10.0, "download_speed": 0.0, "average_upload_speed": 4.0,
         "average_download_speed": 0.0, "bytes_sent": 300, "bytes_received": 0}
    ]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("pid=2222", ["firefox"]),
        ("process=CURL", ["curl"]),
        ("sort=upload_speed&order=desc&limit=1", ["firefox"]),
        ("sort=bytes_received&order=asc", ["firefox", "curl"]),
        ("sort=connections&order=asc", ["curl", "firefox"]),
    ],
)
async def test_processes_query_options(client: TestClient, openapi: OpenApi, query: str, names: list[str]) -> None:
    body = await get_json(client, openapi, f"/api/processes?{query}")
    assert [p["name"] for p in body["processes"]] == names


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("protocol=tcp", "unknown query parameter(s): protocol"),
        ("sort=duration", "sort must be one of upload_speed, download_speed, bytes_sent, bytes_received, connections"),
        ("limit=0", "limit must be"),
        ("pid=x", "pid must be a whole number"),
    ],
)
async def test_processes_bad_query(client: TestClient, openapi: OpenApi, query: str, message: str) -> None:
    body = await get_json(client, openapi, f"/api/processes?{query}", doc_path="/api/processes", status=400)
    assert message in body["error"]


async def test_bandwidth_history(client: TestClient, openapi: OpenApi, engine: FakeEngine) -> None:
    body = await get_json(client, openapi, "/api/bandwidth-history")
    assert body["count"] == 3
    assert [(p["upload"], p["download"]) for p in body["history"]] == [(0.0, 0.0), (1000.0, 20000.0), (2000.0, 40000.0)]
    assert body["history"][2]["timestamp"] == pytest.approx(engine.snapshot().timestamp - 1)


async def test_capture(client: TestClient, openapi: OpenApi) -> None:
    body = await get_json(client, openapi, "/api/capture")
    assert body["running"] is True
    assert (body["packets"], body["malformed"], body["bytes_unknown"]) == (2601, 2, 300)
    assert body["seq"] == 1


async def test_interfaces(client: TestClient, openapi: OpenApi) -> None:
    body = await get_json(client, openapi, "/api/interfaces")
    assert body["count"] == 2
    eth0, wlan0 = body["interfaces"]
    assert (eth0["name"], eth0["bytes_received"], eth0["kernel_bytes_received"]) == ("eth0", 2_306_700, 2_400_000)
    assert (eth0["download_speed"], eth0["average_download_speed"]) == (70_700.0, 65_000.0)
    assert (wlan0["up"], wlan0["error"]) == (False, "interface is down")


@pytest.mark.parametrize("path", ["/health", "/api/stats", "/api/capture", "/api/interfaces"])
async def test_endpoints_without_options_refuse_query_parameters(client: TestClient, openapi: OpenApi,
                                                                  path: str) -> None:
    body = await get_json(client, openapi, f"{path}?x=1", doc_path=path, status=400)
    assert body["error"] == "unknown query parameter(s): x; this endpoint takes none"


async def test_responses_follow_the_latest_tick(client: TestClient, engine: FakeEngine, openapi: OpenApi) -> None:
    engine.tick(build_snapshot(seq=7, extra=2))
    stats = await get_json(client, openapi, "/api/stats")
    assert (stats["seq"], stats["active_connections"]) == (7, 6)
    connections = await get_json(client, openapi, "/api/connections?process=bulk")
    assert [c["pid"] for c in connections["connections"]] == [5000, 5001]
