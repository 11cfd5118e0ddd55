"""The `trafficmon` command end to end: real capture and real counters in a test namespace, real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hosts import PEER_NAME, Link
from tests.support.peers import start_peer, wait_line
from tests.support.service import get, request, start_service, stop_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.netns

@pytest.fixture
def service(link: Link, tmp_path: Path) -> Iterator[str]:
    """A running trafficmon capturing link.a's veth; yields its base URL."""
    proc, url = start_service(link, tmp_path / "data")
    yield url
    stop_service(proc)


def test_download_shows_up_with_pid_and_speed(link: Link, service: str, peers):
    peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5010"))
    wait_line(peers[0])
    client = start_peer(link.a, "tcp-client", link.b.ipv4, "5010", "d", str(300_000_000))
    peers.append(client)
    conns = wait_until(lambda: get(f"{service}api/connections?pid={client.pid}")["connections"],
                       lambda listed: bool(listed) and listed[0]["download_speed"] > 0, 30,
                       f"a live download for pid {client.pid}", interval=0.2)
    c = conns[0]
    assert c["pid"] == client.pid
    assert c["process_name"].startswith("python")
    assert c["remote_addr"] == f"{link.b.ipv4}:5010"
    assert c["bytes_received"] > 0
    health = get(f"{service}health")
    # Flat out over a veth, capture may trail the kernel's count for a moment: "degraded", with the reason.
    assert health["status"] == ("degraded" if health["capture"]["problems"] else "healthy"), health["reason"]
    assert health["capture"]["interfaces"] == [link.a.iface]

    def named(c: dict) -> bool:
        assert c["remote_name"] in (None, PEER_NAME), "no other name than the resolver's"
        return c["remote_name"] == PEER_NAME

    wait_until(lambda: get(f"{service}api/connections?pid={client.pid}")["connections"][0], named, 10,
               "the peer's reverse-DNS name showed", interval=0.2)


def test_no_names_with_resolve_names_off(link: Link, tmp_path: Path, peers):
    proc, url = start_service(link, tmp_path / "data", "--no-resolve-names")
    try:
        peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5012"))
        wait_line(peers[0])
        client = start_peer(link.a, "tcp-client", link.b.ipv4, "5012", "d", str(300_000_000))
        peers.append(client)
        seen = 0
        deadline = time.monotonic() + 30
        while seen < 6:  # three seconds of ticks: time enough for the resolver, were it on
            conns = get(f"{url}api/connections?pid={client.pid}")["connections"]
            if conns:
                assert conns[0]["remote_name"] is None
                seen += 1
            assert time.monotonic() < deadline, f"no connection for pid {client.pid}"
            time.sleep(0.5)
    finally:
        stop_service(proc)


def test_period_totals_follow_the_namespace_kernel_counters(link: Link, service: str, peers):
    """/data counts the captured namespace's veth (not the host's interfaces) from its kernel counters."""
    size = 20_000_000
    before = get(f"{service}data")
    peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5011"))
    wait_line(peers[0])
    for mode in ("u", "d"):
        client = start_peer(link.a, "tcp-client", link.b.ipv4, "5011", mode, str(size))
        peers.append(client)
        assert json.loads(wait_line(client))["last"] == (1 if mode == "u" else size)
    after = wait_until(lambda: get(f"{service}data"),
                       lambda a: min(a["outbound"] - before["outbound"], a["inbound"] - before["inbound"]) >= size,
                       15, f"the period moved {size} bytes each way", interval=0.2)
    kernel = link.a.counters()
    assert after["outbound"] <= kernel["tx_bytes"] and after["inbound"] <= kernel["rx_bytes"]
    assert after["counted"] == after["outbound"]
    assert get(f"{service}health")["accounting"]["interfaces"] == [link.a.iface]


def test_an_adjustment_survives_a_restart(link: Link, tmp_path: Path):
    data_dir = tmp_path / "data"
    proc, url = start_service(link, data_dir)
    try:
        answer = request(f"{url}adjust", {"mode": "set", "gb": 1.5, "note": "provider's meter"})
        assert answer["period"]["counted"] == 1_500_000_000
    finally:
        stop_service(proc)
    proc, url = start_service(link, data_dir)
    try:
        period = get(f"{url}data")
        assert period["counted"] >= 1_500_000_000
        assert period["offset"] == answer["adjustment"]["new_offset"]
        audit = get(f"{url}api/audit")["audit"]
        assert [(e["mode"], e["bytes"], e["note"]) for e in audit] == [("set", 1_500_000_000, "provider's meter")]
    finally:
        stop_service(proc)
