"""The flow table's memory bound, under the real service: what a flow costs, and a flood folded with no byte lost.

The service's resident memory is read from /proc before and after a UDP flood
(one datagram to each of many destinations, tests.capture.test_flood's sender): with
room for every flow, it grows by `BYTES_PER_FLOW` a flow (within 25 %), the
figure that turns FLOW_MEMORY_BYTES into a flow count; with a bound of
16 MiB, a 100,000-flow flood grows it by no more than the bound allows, the
table holds no more flows than that, a TCP connection opened before the flood
is still listed with its process, and the captured bytes are the veth's own
count, every one of them attributed or in an unknown bucket.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from trafficmon.capture.flows import BYTES_PER_FLOW
from tests.support.hosts import Link
from tests.support.peers import start_peer, wait_line
from tests.support.flood import FLOOD, resident
from tests.support.service import get, start_service, stop_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.netns

MIB = 1024 * 1024
BOUND = 16 * MIB
SETTLED = 3.0
"""Seconds after the flood for the last of it to be ticked in, its speeds to decay and the records to be rebuilt."""


def flood(link: Link, peers: list, flows: int, first_port: int = 10_000) -> None:
    """One datagram to each of `flows` destinations (half on the peer's IPv4 address, half on its IPv6 one)."""
    sender = link.a.python(FLOOD, link.b.ipv4, link.b.ipv6, str(first_port), str(first_port + flows // 2),
                           stdout=subprocess.PIPE, text=True)
    peers.append(sender)
    assert sender.stdout is not None and sender.stdout.readline() == "sent\n"
    assert sender.wait(timeout=30) == 0


def settle(url: str, flows: int) -> dict:
    """Wait until the capture has seen the flood's frames; its health section then."""
    wait_until(lambda: get(f"{url}health")["capture"],
               lambda c: c["flows"] + c["flows_folded"] + c["overflow_packets"] >= flows, 30,
               f"the service saw all {flows} flows", interval=0.5)
    time.sleep(SETTLED)
    return get(f"{url}health")["capture"]


def test_a_flow_costs_the_service_bytes_per_flow(link: Link, tmp_path: Path, peers):
    flows = 30_000
    proc, url = start_service(link, tmp_path / "data", "--update-interval", "1")
    try:
        time.sleep(SETTLED)
        before = resident(proc.pid)
        flood(link, peers, flows)
        capture = settle(url, flows)
        grown = resident(proc.pid) - before
        assert capture["flows_folded"] == capture["overflow_packets"] == 0
        per_flow = grown / capture["flows"]
        print(f"{capture['flows']} flows: resident memory +{grown / MIB:.1f} MiB, {per_flow:.0f} B a flow")
        assert per_flow == pytest.approx(BYTES_PER_FLOW, rel=0.25)
    finally:
        stop_service(proc)


@pytest.mark.parametrize("bursts", [1, 4])
def test_a_flood_past_the_bound_is_folded_with_no_byte_lost(link: Link, tmp_path: Path, peers, bursts: int):
    """In one burst, or in four more than a tick apart: the later ones meet a full table."""
    flows = 100_000
    limit = BOUND // BYTES_PER_FLOW
    peers.append(server := start_peer(link.b, "tcp-server", link.b.ipv4, "5030"))
    wait_line(server)
    proc, url = start_service(link, tmp_path / "data", "--update-interval", "1", "--flow-memory-bytes", str(BOUND))
    try:
        peers.append(client := start_peer(link.a, "tcp-client", link.b.ipv4, "5030", "u", "200000"))
        wait_line(client)
        time.sleep(SETTLED)
        before = resident(proc.pid)
        kernel_before = link.a.counters()["tx_bytes"]
        captured_before = get(f"{url}api/stats")["total_bytes_sent"]

        for burst in range(bursts):
            flood(link, peers, flows // bursts, first_port=10_000 + burst * flows // bursts // 2)
            time.sleep(1.5 if burst + 1 < bursts else 0)  # past the next tick
        capture = settle(url, flows)
        grown = resident(proc.pid) - before
        print(f"flows {capture['flows']} of {capture['flow_limit']}, folded {capture['flows_folded']}, "
              f"overflowed packets {capture['overflow_packets']}; resident memory +{grown / MIB:.1f} MiB")

        assert capture["flow_limit"] == limit
        assert capture["flows"] <= limit
        assert capture["flows"] + capture["flows_folded"] + capture["overflow_packets"] >= flows
        assert grown <= 1.25 * BOUND, f"the service grew by {grown / MIB:.1f} MiB under a {BOUND // MIB} MiB bound"
        mine = get(f"{url}api/connections?pid={client.pid}")["connections"]
        assert [c["remote_addr"] for c in mine] == [f"{link.b.ipv4}:5030"], "the connection from before the flood stays"

        stats = get(f"{url}api/stats")
        moved = link.a.counters()["tx_bytes"] - kernel_before
        assert stats["total_bytes_sent"] - captured_before == pytest.approx(moved, rel=0.005)
        counted = stats["total_bytes_sent"] + stats["total_bytes_received"] + stats["local_bytes"]
        print(capture["bytes_attributed"], capture["bytes_unknown"], counted, stats)
        assert capture["bytes_attributed"] + capture["bytes_unknown"] == counted
    finally:
        stop_service(proc)
