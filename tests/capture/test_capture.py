"""The engine against real traffic between test namespaces, from processes of known PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
from trafficmon.capture.model import Snapshot
from tests.support.engines import kernel_delta, process, settled, wait_for
from tests.support.hosts import Host, Link
from tests.support.peers import start_peer, wait_line
from tests.support.waiting import wait_until

pytestmark = pytest.mark.netns

def make_engine(host: Host, **kw) -> Engine:
    cfg = EngineConfig(interfaces=(host.iface,), netns=host.netns, update_interval=0.25,
                       speed_window=0.5, linger=1.0, **kw)
    return Engine(cfg)


@pytest.fixture
def engine_a(link: Link) -> Iterator[Engine]:
    eng = make_engine(link.a)
    eng.start()
    yield eng
    eng.stop()


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("mode", ["d", "u"])
def test_tcp_bulk_transfer_lands_on_the_client_process(link: Link, engine_a: Engine, peers, family: str, mode: str):
    server_ip = link.b.ipv4 if family == "ipv4" else link.b.ipv6
    peers.append(start_peer(link.b, "tcp-server", server_ip, "5001"))
    wait_line(peers[0])
    before = link.a.counters()
    payload = 8_000_000
    client = start_peer(link.a, "tcp-client", server_ip, "5001", mode, str(payload))
    peers.append(client)
    report = json.loads(wait_line(client))
    snap = settled(engine_a)
    moved = kernel_delta(before, link.a.counters())

    proc = process(snap, client.pid)
    assert proc.name.startswith("python")
    bulk, ack = (proc.bytes_received, proc.bytes_sent) if mode == "d" else (proc.bytes_sent, proc.bytes_received)
    kernel_bulk = moved["rx_bytes"] if mode == "d" else moved["tx_bytes"]
    assert bulk >= report["payload"]
    assert bulk == pytest.approx(kernel_bulk, rel=0.01)
    assert ack < bulk * 0.05
    conns = [c for c in snap.connections if c.pid == client.pid]
    assert len(conns) == 1
    assert conns[0].family == family
    assert (conns[0].protocol, conns[0].transport) == ("SOCK_STREAM", "tcp")
    assert conns[0].local_addr.endswith(f":{report['ports'][0]}")
    assert snap.health.kernel_drops == 0
    iface = snap.interfaces[0]
    assert iface.bytes_received + iface.bytes_sent == pytest.approx(moved["rx_bytes"] + moved["tx_bytes"], rel=0.01)


def test_speeds_are_real_while_traffic_flows_and_zero_after(link: Link, engine_a: Engine, peers):
    peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5002"))
    wait_line(peers[0])
    client = start_peer(link.a, "tcp-client", link.b.ipv4, "5002", "d", str(400_000_000))
    peers.append(client)
    busy = wait_for(engine_a, lambda s: any(p.pid == client.pid and p.download_speed > 1e6 for p in s.processes), 30)
    conn = next(c for c in busy.connections if c.pid == client.pid)
    assert conn.download_speed > 1e6
    assert busy.totals.download_speed > 1e6
    wait_line(client)
    quiet = wait_for(engine_a, lambda s: all(c.download_speed == 0 for c in s.connections if c.pid == client.pid), 5)
    assert process(quiet, client.pid).bytes_received >= 400_000_000
    peak = max(h.download for h in quiet.history)
    assert peak > 1e6
    assert quiet.history[-1].download < peak / 100  # only stray frames (FIN, neighbour discovery) left


def test_udp_exchange_counts_every_datagram(link: Link, engine_a: Engine, peers):
    peers.append(start_peer(link.b, "udp-echo", link.b.ipv4, "5003"))
    wait_line(peers[0])
    count, size = 300, 1000
    client = start_peer(link.a, "udp-client", link.b.ipv4, "5003", str(count), str(size))
    peers.append(client)
    report = json.loads(wait_line(client))
    assert report["echoed"] == count
    snap = settled(engine_a)
    frame = size + 8 + 20 + 14
    proc = process(snap, client.pid)
    assert (proc.bytes_sent, proc.bytes_received) == (count * frame, count * frame)
    conn = next(c for c in snap.connections if c.pid == client.pid)
    assert (conn.packets_sent, conn.packets_received) == (count, count)
    assert (conn.protocol, conn.transport) == ("SOCK_DGRAM", "udp")
    assert conn.remote_addr == f"{link.b.ipv4}:5003"


def test_server_with_several_clients(link: Link, peers):
    server = start_peer(link.b, "tcp-server", link.b.ipv6, "5004")
    peers.append(server)
    wait_line(server)
    eng = make_engine(link.b)
    eng.start()
    try:
        payload, n = 2_000_000, 4
        client = start_peer(link.a, "tcp-client", link.b.ipv6, "5004", "d", str(payload), str(n))
        peers.append(client)
        wait_line(client)
        snap = settled(eng)
    finally:
        eng.stop()
    proc = process(snap, server.pid)
    assert proc.connections == n
    assert proc.bytes_sent >= n * payload
    conns = [c for c in snap.connections if c.pid == server.pid]
    assert len(conns) == n
    assert all(c.local_addr == f"[{link.b.ipv6}]:5004" for c in conns)
    assert {c.remote_addr.rsplit(":", 1)[0] for c in conns} == {f"[{link.a.ipv6}]"}


def test_short_lived_downloads_are_attributed(link: Link, engine_a: Engine, peers, tmp_path: Path):
    (tmp_path / "blob").write_bytes(os.urandom(200_000))
    server = link.b.popen(sys.executable, "-m", "http.server", "--bind", link.b.ipv4, "8000",
                          cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peers.append(server)
    probe = f"import socket; socket.create_connection(('{link.b.ipv4}', 8000), 1)"
    wait_until(lambda: link.a.run("python3", "-c", probe, check=False).returncode, lambda rc: rc == 0, 10,
               "the http server came up", interval=0.1)
    time.sleep(1.0)
    settled(engine_a)
    start = engine_a.snapshot()
    client = start_peer(link.a, "http-get", f"http://{link.b.ipv4}:8000/blob", "100")
    peers.append(client)
    assert json.loads(wait_line(client, timeout=120))["bytes"] == 100 * 200_000

    def share(snap: Snapshot) -> float:
        received = snap.totals.bytes_received - start.totals.bytes_received
        mine = [p.bytes_received for p in snap.processes if p.pid == client.pid]
        return mine[0] / received if mine and received >= 100 * 200_000 else 0.0

    # Flows whose sockets closed before the first look-up are retried: allow a few ticks.
    snap = wait_for(engine_a, lambda s: share(s) >= 0.95, timeout=10)
    assert share(snap) <= 1.0


def test_unknown_bytes_are_kept_and_reported(link: Link, engine_a: Engine, peers):
    """Traffic with no local socket (a packet to a closed port) lands in 'unknown', not nowhere."""
    sender = link.b.python(
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for _ in range(50): s.sendto(b'z' * 500, ('{link.a.ipv4}', 9))\n"
    )
    peers.append(sender)
    sender.wait(timeout=10)
    snap = settled(engine_a)
    udp = [u for u in snap.unknown if u.transport == "udp"]
    assert udp and udp[0].bytes_received == 50 * (500 + 8 + 20 + 14)
    assert snap.health.bytes_unknown >= 50 * (500 + 8 + 20 + 14)


def test_missing_interface_is_a_clear_error(link: Link):
    from trafficmon.capture.errors import CaptureError

    eng = Engine(EngineConfig(interfaces=("nosuch0",), netns=link.a.netns))
    with pytest.raises(CaptureError, match="nosuch0"):
        eng.start()


def test_stop_returns_within_a_second_even_mid_transfer(link: Link, peers):
    peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5005"))
    wait_line(peers[0])
    eng = make_engine(link.a)
    eng.start()
    client = start_peer(link.a, "tcp-client", link.b.ipv4, "5005", "d", str(2_000_000_000))
    peers.append(client)
    wait_for(eng, lambda s: s.totals.download_speed > 1e6, 30)
    began = time.monotonic()
    eng.stop()
    assert time.monotonic() - began < 1.0


def test_snapshot_names_the_captured_interfaces_before_the_first_tick(link: Link):
    eng = Engine(EngineConfig(interfaces=(link.a.iface,), netns=link.a.netns, update_interval=30.0))
    eng.start()
    try:
        snap = eng.snapshot()
        assert snap.seq == 0
        assert snap.health.running
        assert snap.health.interfaces == (link.a.iface,)
    finally:
        eng.stop()
