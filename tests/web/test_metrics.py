"""/metrics parsed as Prometheus text, with values from the snapshot and bounded process labels."""

from __future__ import annotations

import dataclasses

from aiohttp.test_utils import TestClient, make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from trafficmon.capture.model import ProcessStats
from tests.web.conftest import AUTH, MakeClient
from tests.web.fakes import FakeEngine, build_snapshot
from trafficmon.web.config import ServiceConfig
from trafficmon.web.live.hub import Hub
from trafficmon.web.metrics.live import NamedProcesses, build_registry, text_handler, top_processes


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}, via prometheus_client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def scrape(client: TestClient) -> dict:
    response = await client.get("/metrics", headers=AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(await response.text())


async def test_interface_counters_node_exporter_style(client: TestClient) -> None:
    values = await scrape(client)
    assert values[("trafficmon_network_transmit_bytes_total", (("device", "eth0"),))] == 96_800
    assert values[("trafficmon_network_receive_bytes_total", (("device", "eth0"),))] == 2_306_700
    assert values[("trafficmon_network_receive_packets_total", (("device", "eth0"),))] == 2_100
    assert values[("trafficmon_network_kernel_receive_bytes_total", (("device", "eth0"),))] == 2_400_000
    assert values[("trafficmon_network_receive_speed_bytes_per_second", (("device", "eth0"),))] == 70_700.0
    assert values[("trafficmon_network_transmit_average_speed_bytes_per_second", (("device", "eth0"),))] == 3_084.0
    assert values[("trafficmon_network_receive_average_speed_bytes_per_second", (("device", "eth0"),))] == 65_000.0
    assert values[("trafficmon_network_up", (("device", "eth0"),))] == 1.0
    assert values[("trafficmon_network_up", (("device", "wlan0"),))] == 0.0


async def test_capture_health(client: TestClient) -> None:
    values = await scrape(client)
    assert values[("trafficmon_capture_up", ())] == 1.0
    assert [values[("trafficmon_capture_level", (("level", level),))] for level in ("ok", "degraded", "down")] == [
        1.0, 0.0, 0.0]
    assert values[("trafficmon_capture_packets_total", ())] == 2_601
    assert values[("trafficmon_capture_kernel_drops_total", ())] == 3
    assert values[("trafficmon_capture_malformed_frames_total", ())] == 2
    assert values[("trafficmon_capture_unknown_bytes_total", ())] == 300
    assert values[("trafficmon_capture_coverage_ratio", ())] == 0.97
    assert values[("trafficmon_capture_flows", ())] == 40_672
    assert values[("trafficmon_capture_flow_limit", ())] == 40_672
    assert values[("trafficmon_capture_flows_folded_total", ())] == 1_234
    assert values[("trafficmon_capture_overflow_packets_total", ())] == 56
    assert values[("trafficmon_connections", ())] == 4
    assert values[("trafficmon_build_info", (("version", "0.1.0"),))] == 1.0


async def test_processes_by_name_with_unknown(client: TestClient) -> None:
    values = await scrape(client)
    assert values[("trafficmon_process_receive_speed_bytes_per_second", (("process", "curl"),))] == 50_000.0
    assert values[("trafficmon_process_transmit_speed_bytes_per_second", (("process", "firefox"),))] == 3_500.0
    assert values[("trafficmon_process_connections", (("process", "firefox"),))] == 2
    assert values[("trafficmon_process_transmit_speed_bytes_per_second", (("process", "unknown"),))] == 10.0
    assert values[("trafficmon_process_receive_average_speed_bytes_per_second", (("process", "curl"),))] == 40_000.0
    assert values[("trafficmon_process_transmit_average_speed_bytes_per_second", (("process", "firefox"),))] == 3_000.0
    assert values[("trafficmon_process_transmit_average_speed_bytes_per_second", (("process", "unknown"),))] == 4.0


async def test_process_labels_are_bounded(make_client: MakeClient, engine: FakeEngine) -> None:
    many = tuple(
        ProcessStats(100 + i, f"worker{i}", "", "bob", 1, float(i), 0.0, 2.0 * i, 0.0, i, 0) for i in range(50)
    )
    engine.tick(dataclasses.replace(build_snapshot(seq=2), processes=many))
    client = await make_client(metrics_top_processes=3)
    values = await scrape(client)
    names = {
        dict(labels)["process"]
        for name, labels in values
        if name == "trafficmon_process_transmit_speed_bytes_per_second"
    }
    assert names == {"worker49", "worker48", "worker47", "other", "unknown"}
    other = values[("trafficmon_process_transmit_speed_bytes_per_second", (("process", "other"),))]
    assert other == sum(range(47))
    other_average = values[("trafficmon_process_transmit_average_speed_bytes_per_second", (("process", "other"),))]
    assert other_average == 2 * sum(range(47))


def test_top_processes_merges_pids_of_one_name() -> None:
    snap = dataclasses.replace(
        build_snapshot(),
        processes=(
            ProcessStats(1, "nginx", "", "www", 3, 10.0, 100.0, 12.0, 80.0, 0, 0),
            ProcessStats(2, "nginx", "", "www", 2, 5.0, 50.0, 6.0, 40.0, 0, 0),
            ProcessStats(3, "sshd", "", "root", 1, 1.0, 1.0, 3.0, 0.5, 0, 0),
        ),
    )
    assert top_processes(snap, 1) == [NamedProcesses("nginx", 15.0, 150.0, 18.0, 120.0, 5),
                                      NamedProcesses("other", 1.0, 1.0, 3.0, 0.5, 1)]


async def test_websocket_counters(client: TestClient) -> None:
    ws = await client.ws_connect("/ws", headers=AUTH)
    await ws.receive_json()
    values = await scrape(client)
    assert values[("trafficmon_websocket_clients", ())] == 1
    assert values[("trafficmon_websocket_evicted_clients_total", ())] == 0
    await ws.close()


async def test_text_handler_fallback_serves_the_same_metrics(engine: FakeEngine) -> None:
    """For prometheus-client versions without the aiohttp handler."""
    hub = Hub(ServiceConfig(), engine, dict)
    handler = text_handler(build_registry(engine, hub, 10))
    response = await handler(make_mocked_request("GET", "/metrics"))
    values = samples(response.body.decode())
    assert values[("trafficmon_capture_packets_total", ())] == 2_601
    assert values[("trafficmon_network_up", (("device", "eth0"),))] == 1.0
