"""The engine on the cases issue 2 names beyond plain transfers, with real processes in test namespaces.

Wildcard and dual-stack servers, processes that exit, forwarded and loopback
traffic, capture loss and recovery, missing privilege, coverage against the
kernel's counters, and bytes that move from "unknown" to a process found late.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from trafficmon.capture.attribution import Attribution
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
from trafficmon.capture.model import Connection, Snapshot, Usage
from trafficmon.capture.netns import entered
from tests.support.hosts import PEER_NAME, Link, Routed, join, resolver_jail, routed_link
from tests.support.engines import kernel_delta, process, settled, wait_for
from tests.support.peers import ROOT, start_peer, wait_line
pytestmark = pytest.mark.netns


ETH, IPV4, IPV6, UDP, TCP = 14, 20, 40, 8, 20
ARP = ETH + 28


def udp_frame(size: int, family: str) -> int:
    return ETH + (IPV4 if family == "ipv4" else IPV6) + UDP + size


def launch(running: list[Engine], netns: str, *interfaces: str, **settings: Any) -> Engine:
    """Start an engine in `netns` on `interfaces` (none: the default ones), ticking fast.

    Quarter-second ticks, half-second speed windows and a one-second linger
    let a test see every change within a second or two.
    """
    fast: dict[str, Any] = {"update_interval": 0.25, "speed_window": 0.5, "linger": 1.0}
    eng = Engine(EngineConfig(interfaces=interfaces, netns=netns, **{**fast, **settings}))
    eng.start()
    running.append(eng)
    return eng


def owned(snap: Snapshot, pid: int) -> list[Connection]:
    return [c for c in snap.connections if c.pid == pid]


# -- servers ---------------------------------------------------------------


@pytest.mark.parametrize(("wildcard", "family"), [("0.0.0.0", "ipv4"), ("::", "ipv6"), ("::", "ipv4")])
def test_unconnected_wildcard_udp_server_owns_every_client_flow(link: Link, peers, running, wildcard: str, family: str):
    """One unbound-address, unconnected UDP socket answers several clients: all its flows are its own.

    ("::", "ipv4") is the dual-stack case: IPv4 clients reach an IPv6 socket.
    """
    server = start_peer(link.b, "udp-echo", wildcard, "5301")
    peers.append(server)
    wait_line(server)
    eng = launch(running, link.b.netns, link.b.iface)
    target = link.b.ipv4 if family == "ipv4" else link.b.ipv6
    count, size = 100, 700
    clients = [start_peer(link.a, "udp-client", target, "5301", str(count), str(size)) for _ in range(3)]
    peers.extend(clients)
    reports = [json.loads(wait_line(c)) for c in clients]
    assert all(r["echoed"] == count for r in reports)
    snap = settled(eng)

    frame = udp_frame(size, family)
    proc = process(snap, server.pid)
    assert (proc.bytes_received, proc.bytes_sent) == (3 * count * frame, 3 * count * frame)
    assert proc.connections == 3
    conns = owned(snap, server.pid)
    shown = f"[{target}]:5301" if family == "ipv6" else f"{target}:5301"
    assert {c.local_addr for c in conns} == {shown}
    assert sorted(int(c.remote_addr.rsplit(":", 1)[1]) for c in conns) == sorted(r["port"] for r in reports)
    assert all((c.packets_received, c.packets_sent, c.attribution) == (count, count, "socket") for c in conns)
    assert all(u.bytes_received == 0 for u in snap.unknown if u.transport == "udp")


def test_dual_stack_tcp_server_owns_its_ipv4_clients(link: Link, peers, running):
    """An AF_INET6 socket on :: with IPV6_V6ONLY=0 accepts IPv4 clients (IPv4-mapped on the socket)."""
    server = start_peer(link.b, "tcp-server", "::", "5302")
    peers.append(server)
    wait_line(server)
    eng = launch(running, link.b.netns, link.b.iface)
    before = link.b.counters()
    payload, n = 3_000_000, 3
    client = start_peer(link.a, "tcp-client", link.b.ipv4, "5302", "d", str(payload), str(n))
    peers.append(client)
    report = json.loads(wait_line(client))
    snap = settled(eng)
    moved = kernel_delta(before, link.b.counters())

    proc = process(snap, server.pid)
    assert proc.connections == n
    assert proc.bytes_sent >= n * payload
    assert proc.bytes_sent == pytest.approx(moved["tx_bytes"], rel=0.01)
    conns = owned(snap, server.pid)
    assert {c.local_addr for c in conns} == {f"{link.b.ipv4}:5302"}
    assert sorted(int(c.remote_addr.rsplit(":", 1)[1]) for c in conns) == sorted(report["ports"])
    assert [(c.family, c.protocol, c.attribution) for c in conns] == [("ipv4", "SOCK_STREAM", "socket")] * n


# -- processes that exit ----------------------------------------------------


def test_exited_process_keeps_its_bytes_until_linger_and_owns_late_packets(link: Link, peers, running):
    """After the process exits its connection closes, lingers, leaves; the process entry goes with it.

    Then segments on the same 4-tuple arrive (what a peer's retransmissions
    look like): the resolver still remembers whose flow it was.
    """
    server = start_peer(link.b, "tcp-server", link.b.ipv4, "5303")
    peers.append(server)
    wait_line(server)
    linger = 1.5
    eng = launch(running, link.a.netns, link.a.iface, linger=linger)
    payload = 2_000_000
    client = start_peer(link.a, "tcp-client", link.b.ipv4, "5303", "d", str(payload))
    peers.append(client)
    port = json.loads(wait_line(client))["ports"][0]
    local = f"{link.a.ipv4}:{port}"
    alive = settled(eng)
    received = process(alive, client.pid).bytes_received
    assert received >= payload

    seen: list[Snapshot] = []
    eng.subscribe(seen.append)
    assert client.stdin is not None
    client.stdin.close()  # the client closes its socket and exits
    assert client.wait(timeout=10) == 0
    gone = wait_for(eng, lambda s: not any(c.local_addr == local for c in s.connections)
                    and not any(p.pid == client.pid for p in s.processes))

    listed = [s for s in seen if any(c.local_addr == local for c in s.connections)]
    assert listed, "the connection left without being shown closed"
    for snap in listed:  # the process entry stays, bytes and all (plus the peer's FIN after the exit)
        conn = next(c for c in snap.connections if c.local_addr == local)
        proc = process(snap, client.pid)
        assert (proc.bytes_received, proc.bytes_sent) == (conn.bytes_received, conn.bytes_sent)
        assert received <= proc.bytes_received <= received + 200
    closed = [s for s in listed if next(c for c in s.connections if c.local_addr == local).closed]
    assert closed, "the connection was never shown closed"
    conn = next(c for c in closed[-1].connections if c.local_addr == local)
    assert (conn.pid, conn.download_speed) == (client.pid, 0.0)
    left = next(s for s in seen if s.seq == closed[-1].seq + 1)  # the tick it left in...
    assert not any(c.local_addr == local for c in left.connections)
    assert left.timestamp - closed[0].timestamp >= linger  # ...after lingering, closed, for `linger`
    assert gone.totals.bytes_received >= alive.totals.bytes_received >= received

    count, size = 5, 100
    stray = start_peer(link.b, "tcp-stray", link.b.ipv4, "5303", link.a.ipv4, str(port), str(count), str(size))
    peers.append(stray)
    assert json.loads(wait_line(stray))["sent"] == count
    # The connection's TIME_WAIT socket may answer the first with an ACK, which b (no socket left)
    # answers with a RST: a received the stray segments and at most a couple of RSTs besides.
    late = wait_for(eng, lambda s: any(c.local_addr == local and c.packets_received >= count for c in s.connections))
    conn = next(c for c in late.connections if c.local_addr == local)
    assert (conn.pid, conn.attribution) == (client.pid, "socket")
    assert count * (ETH + IPV4 + TCP + size) <= conn.bytes_received <= count * (ETH + IPV4 + TCP + size) + 2 * 54
    proc = process(late, client.pid)
    assert (proc.bytes_received, proc.bytes_sent) == (conn.bytes_received, conn.bytes_sent)
    assert all(u.bytes_received == 0 for u in late.unknown if u.transport == "tcp")


def test_resolver_remembers_an_owner_for_the_keep_time_after_the_flow_left(link: Link):
    """The keep time runs from when the tracker let the flow go, however long ago it was looked up."""
    with entered(link.a.netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((link.a.ipv4, 5399))
    sock.connect((link.b.ipv4, 5399))  # a UDP connect sends nothing
    key = (socket.IPPROTO_UDP, socket.inet_aton(link.a.ipv4), 5399, socket.inet_aton(link.b.ipv4), 5399)
    keep = 0.5
    attr = Attribution(link.a.netns, keep=keep)
    attr.start()
    try:
        attr.submit([key])
        deadline = time.monotonic() + 5
        while attr.owner(key) is None:
            assert time.monotonic() < deadline, "socket never resolved"
            time.sleep(0.01)
        sock.close()
        active_until = time.monotonic() + 2 * keep
        while time.monotonic() < active_until:  # still listed by the tracker, longer than the keep time
            attr.expire({key})
            time.sleep(0.05)
        attr.expire(set())
        found = attr.owner(key)
        assert found is not None and found.owner.pid == os.getpid()
        time.sleep(keep + 0.1)
        attr.expire(set())
        assert attr.owner(key) is None
    finally:
        attr.stop()
        sock.close()


# -- direction ----------------------------------------------------------------


@pytest.fixture
def routed() -> Iterator[Routed]:
    with routed_link() as made:
        yield made


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_forwarded_traffic_is_forwarded_not_upload_or_download(routed: Routed, peers, running, family: str):
    """Engine in the router: a <-> b datagrams cross both its interfaces and are none of its own."""
    ip = (lambda h: h.ipv4) if family == "ipv4" else (lambda h: h.ipv6)
    server = start_peer(routed.b, "udp-echo", ip(routed.b), "5304")
    peers.append(server)
    wait_line(server)
    warm = start_peer(routed.a, "udp-client", ip(routed.b), "5304", "1", "1")  # neighbours resolved before counting
    peers.append(warm)
    assert json.loads(wait_line(warm))["echoed"] == 1
    eng = launch(running, routed.ra.netns, routed.ra.iface, routed.rb.iface)  # veths: named, not default
    start = settled(eng)
    assert set(start.health.interfaces) == {routed.ra.iface, routed.rb.iface}

    count, size = 200, 500
    client = start_peer(routed.a, "udp-client", ip(routed.b), "5304", str(count), str(size))
    peers.append(client)
    assert json.loads(wait_line(client))["echoed"] == count
    snap = settled(eng)

    frame = udp_frame(size, family)
    before = {i.name: i for i in start.interfaces}
    for iface in snap.interfaces:  # each datagram and its echo crossed both interfaces once
        assert iface.forwarded_bytes - before[iface.name].forwarded_bytes == 2 * count * frame
    own = (snap.totals.bytes_sent + snap.totals.bytes_received
           - start.totals.bytes_sent - start.totals.bytes_received)
    assert own < 1000  # the router's own neighbour traffic at most, none of the datagrams
    assert snap.totals.forwarded_bytes - start.totals.forwarded_bytes == 4 * count * frame
    ends = {ip(routed.a), ip(routed.b)}
    assert not [c for c in snap.connections if c.local_addr.rsplit(":", 1)[0].strip("[]") in ends
                or c.remote_addr.rsplit(":", 1)[0].strip("[]") in ends]
    assert snap.processes == ()


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_loopback_traffic_is_local_and_belongs_to_its_sender(link: Link, peers, running, family: str):
    """Engine on `lo`, named: each datagram is counted once, as local, on the process that sent it."""
    loop = "127.0.0.1" if family == "ipv4" else "::1"
    server = start_peer(link.a, "udp-echo", loop, "5305")
    peers.append(server)
    wait_line(server)
    eng = launch(running, link.a.netns, "lo")
    count, size = 150, 600
    client = start_peer(link.a, "udp-client", loop, "5305", str(count), str(size))
    peers.append(client)
    report = json.loads(wait_line(client))
    assert report["echoed"] == count
    snap = settled(eng)

    frame = udp_frame(size, family)
    assert (snap.totals.bytes_sent, snap.totals.bytes_received) == (0, 0)
    assert snap.totals.local_bytes == 2 * count * frame
    assert snap.interfaces[0].local_bytes == 2 * count * frame
    for pid in (client.pid, server.pid):  # each sent `count` datagrams; receiving copies are not counted again
        proc = process(snap, pid)
        assert (proc.bytes_sent, proc.bytes_received) == (count * frame, 0)
        (conn,) = owned(snap, pid)
        assert (conn.packets_sent, conn.packets_received, conn.attribution) == (count, 0, "socket")
    fmt = (lambda p: f"{loop}:{p}") if family == "ipv4" else (lambda p: f"[{loop}]:{p}")
    (mine,) = owned(snap, client.pid)
    assert (mine.local_addr, mine.remote_addr) == (fmt(report["port"]), fmt(5305))
    assert snap.health.coverage is not None and 0.99 <= snap.health.coverage <= 1.01  # both copies captured


def test_arp_both_ways_is_counted_as_non_ip(link: Link, running):
    """The kernel's own ARP request out and its reply in land in the non-IP unknown bucket, both ways.

    That they are one flow, keyed by the ethertype alone, test_engine_seams.py shows on the same frames from memory.
    """
    eng = launch(running, link.a.netns, link.a.iface)
    link.a.run(sys.executable, "-c", "import socket, sys\n"
               "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', (sys.argv[1], 9))", link.b.ipv4)
    snap = settled(eng)
    assert not [c for c in snap.connections if c.transport == "non-ip"], "non-IP flows are not listed"
    (non_ip,) = [u for u in snap.unknown if u.transport == "non-ip"]
    assert non_ip.bytes_sent >= ARP and non_ip.bytes_received >= ARP


# -- capture failure and privilege ------------------------------------------------


def exchange(link: Link, peers, port: str, count: int = 50, size: int = 400) -> subprocess.Popen[str]:
    """A UDP exchange a -> b of known size; returns the client, still alive."""
    server = start_peer(link.b, "udp-echo", link.b.ipv4, port)
    peers.append(server)
    wait_line(server)
    client = start_peer(link.a, "udp-client", link.b.ipv4, port, str(count), str(size))
    peers.append(client)
    assert json.loads(wait_line(client))["echoed"] == count
    return client


def routed_by_default(link: Link) -> None:
    """Give link.a a default route over its veth: a container's own eth0, captured by default."""
    link.a.run("ip", "route", "add", "default", "via", link.b.ipv4)


@pytest.mark.parametrize("named", [False, True], ids=["default-interfaces", "named"])
def test_capture_survives_interface_removal_and_resumes_when_it_returns(
    link: Link, peers, running, named: bool, caplog: pytest.LogCaptureFixture
):
    """The veth is deleted under the engine: health says so, ticks go on; it comes back: capture resumes.

    The re-created interface counts from zero: kernel byte totals and coverage must not go negative or wild.
    The loss is logged once, not on every re-open retry or rescan, and the return once.
    """
    if not named:
        routed_by_default(link)
    eng = launch(running, link.a.netns, *([link.a.iface] if named else []))
    before = settled(eng)
    assert before.health.running and before.health.interfaces == (link.a.iface,)
    kernel_before = before.interfaces[0].kernel_bytes_sent
    seen: list[Snapshot] = []
    eng.subscribe(seen.append)

    caplog.set_level(logging.INFO, logger="trafficmon.capture")
    link.a.run("ip", "link", "del", link.a.iface)
    if named:
        # The first re-open (after 1 s) finds no interface: the error says so, the engine keeps going.
        wait_for(eng, lambda s: any("not found" in e for e in s.health.errors), timeout=5)
    else:
        # Once its error was shown, a vanished default interface is dropped; health says nothing is left.
        wait_for(eng, lambda s: s.health.interfaces == () and any("no interface" in e for e in s.health.errors),
                 timeout=5)
    lost = [s for s in seen if any("down or was removed" in e for e in s.health.errors)]
    assert lost, "the loss itself was never published"
    assert not lost[0].health.running and lost[0].interfaces[0].up is False
    # Re-open retries at 1 and 3 s after the loss (named), rescans every 1.25 s (default): 4 s sees several.
    gone_since = len(seen)
    wait_for(eng, lambda s: len(seen) >= gone_since + 12, timeout=10)
    assert [s.seq for s in seen] == list(range(seen[0].seq, seen[0].seq + len(seen)))  # a snapshot every tick
    said = [r.getMessage() for r in caplog.records if link.a.iface in r.getMessage()]
    assert len(said) == 1 and "capture resumes when it is back" in said[0], said

    join(link.a, link.b)
    if not named:
        routed_by_default(link)
    # Back-off after three failures is 5 s; a default-interface rescan runs every 5 ticks.
    back = wait_for(eng, lambda s: s.health.running and not s.health.errors, timeout=10)
    assert back.health.interfaces == (link.a.iface,)
    said = [r.getMessage() for r in caplog.records if link.a.iface in r.getMessage()]
    assert len(said) == 2 and said[1].startswith(f"capture on {link.a.iface} resumed after "), said
    client = exchange(link, peers, "5306")
    snap = wait_for(eng, lambda s: any(p.pid == client.pid and p.bytes_received == 50 * udp_frame(400, "ipv4")
                                       for p in s.processes))
    assert process(snap, client.pid).bytes_sent == 50 * udp_frame(400, "ipv4")
    snap = settled(eng)
    assert snap.health.coverage is not None and 0.99 <= snap.health.coverage <= 1.01
    new_device = link.a.counters()["tx_bytes"]  # the re-created veth counts from zero
    sent = snap.interfaces[0].kernel_bytes_sent
    if named:  # the same capture: what it counted before, and all the new device has counted
        assert sent == pytest.approx(kernel_before + new_device, abs=200)
    else:  # a new capture of a new interface, counting from when it was first seen
        assert 50 * udp_frame(400, "ipv4") <= sent <= new_device


def test_an_interface_recreated_after_ten_seconds_is_captured_within_a_second(link: Link, running) -> None:
    """The issue's case: the re-open back-off had grown to 10 s, and 9.5 s of traffic went uncaptured.

    The link event of the new interface re-opens the capture at once (at the
    default tick, 1 s); health keeps the gap: which interface, from when to when.
    """
    eng = launch(running, link.a.netns, link.a.iface, update_interval=1.0)
    settled(eng)
    link.a.run("ip", "link", "del", link.a.iface)
    wait_for(eng, lambda s: not s.health.running, timeout=5)
    deleted = time.time()
    gap = wait_for(eng, lambda s: bool(s.health.gaps) and s.health.gaps[-1].end is None).health.gaps[-1]
    assert gap.interface == link.a.iface and gap.start <= deleted
    time.sleep(10 - (time.time() - deleted))
    join(link.a, link.b)
    recreated = time.monotonic()
    back = wait_for(eng, lambda s: s.health.running, timeout=15)
    waited = time.monotonic() - recreated
    assert waited < 1.5, f"capture re-opened {waited:.1f} s after the interface came back"
    closed = [g for g in back.health.gaps if g.interface == link.a.iface and g.end is not None]
    assert len(closed) == 1 and 9.5 < closed[0].end - closed[0].start < 12, closed
    assert "down or was removed" in closed[0].reason or "not found" in closed[0].reason, closed[0].reason
    assert closed[0].to_dict().keys() == {"interface", "start", "end", "reason"}


NON_ROOT = """
import os, sys
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
from trafficmon.capture.errors import CaptureError
engine = Engine(EngineConfig(interfaces=(sys.argv[1],), netns=sys.argv[2] or None))
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
try:
    engine.start()
except CaptureError as exc:
    print(exc)
    sys.exit(2)
engine.stop()
print("started without privilege")
"""


def test_without_cap_net_raw_start_names_the_capability(link: Link):
    """Run as nobody inside the test namespace: opening the packet socket needs CAP_NET_RAW."""
    child = link.a.run(sys.executable, "-c", NON_ROOT, link.a.iface, "", check=False)
    assert child.returncode == 2, child.stdout + child.stderr
    assert "CAP_NET_RAW" in child.stdout and link.a.iface in child.stdout
    assert "Traceback" not in child.stderr


def test_without_cap_sys_admin_entering_the_namespace_names_the_capability(link: Link):
    """Run as nobody outside it: capturing in another namespace needs to enter it first."""
    child = subprocess.run([sys.executable, "-c", NON_ROOT, link.a.iface, link.a.netns], cwd=ROOT,
                           capture_output=True, text=True, timeout=30)
    assert child.returncode == 2, child.stdout + child.stderr
    assert "CAP_SYS_ADMIN" in child.stdout and link.a.netns in child.stdout
    assert "Traceback" not in child.stderr


NAMES = """
import json, os, sys, threading, time
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
iface, netns, remote = sys.argv[1:]
engine = Engine(EngineConfig(interfaces=(iface,), netns=netns, update_interval=0.25, resolve_names=True,
                             resolve_workers=3))
engine.start()
print("started", flush=True)
deadline = time.monotonic() + 20
named = []
while not named and time.monotonic() < deadline:
    time.sleep(0.1)
    named = [c.remote_name for c in engine.snapshot().connections if c.remote_addr.startswith(remote + ":")]
    named = [n for n in named if n]
spaces = {t.name: os.readlink(f"/proc/self/task/{t.native_id}/ns/net") for t in threading.enumerate()}
engine.stop()
print(json.dumps({"named": named, "own": os.readlink("/proc/thread-self/ns/net"), "threads": spaces}))
"""


def test_names_are_looked_up_from_the_callers_namespace_not_the_captured_one(link: Link, peers, tmp_path):
    """The resolver's threads are made by start()'s caller: DNS goes out where the service runs.

    In a resolver jail (`tests.support.hosts.resolver_jail`): its /etc/hosts names the
    peer, and any other query is refused on loopback.
    """
    argv = [sys.executable, "-c", NAMES, link.a.iface, link.a.netns, link.b.ipv4]
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        child = subprocess.Popen(resolver_jail(argv, {link.b.ipv4: PEER_NAME}, tmp_path), cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=stderr)
    peers.append(child)
    assert child.stdout is not None
    assert child.stdout.readline() == "started\n", errors.read_text()
    exchange(link, peers, "5310")
    line = child.stdout.readline()
    assert line, errors.read_text()
    report = json.loads(line)
    assert child.wait(timeout=10) == 0, errors.read_text()
    assert report["named"] and set(report["named"]) == {PEER_NAME}
    threads = report["threads"]
    workers = [name for name in threads if name.startswith("trafficmon-names-")]
    assert len(workers) == 3
    assert all(threads[name] == report["own"] for name in workers), "a resolver thread is in the captured namespace"
    assert threads["trafficmon-sniffer"] != report["own"], "the capture itself runs in the captured namespace"


# -- coverage, truncation --------------------------------------------------------------


def test_coverage_and_kernel_counters_after_a_bulk_transfer(link: Link, peers, running):
    """Captured bytes over the coverage window match the veth's own counters, which the engine reports too."""
    server = start_peer(link.b, "tcp-server", link.b.ipv4, "5307")
    peers.append(server)
    wait_line(server)
    counters = link.a.counters()
    eng = launch(running, link.a.netns, link.a.iface)
    client = start_peer(link.a, "tcp-client", link.b.ipv4, "5307", "d", str(20_000_000))
    peers.append(client)
    wait_line(client)
    snap = settled(eng)
    moved = kernel_delta(counters, link.a.counters())

    assert snap.health.coverage is not None and 0.99 <= snap.health.coverage <= 1.01
    assert snap.health.kernel_drops == 0
    iface = snap.interfaces[0]
    # Only a stray neighbour packet between reading the counters here and in start() could differ.
    assert 0 <= moved["tx_bytes"] - iface.kernel_bytes_sent <= 200
    assert 0 <= moved["rx_bytes"] - iface.kernel_bytes_received <= 200
    assert iface.kernel_bytes_received >= 20_000_000
    assert iface.bytes_received == pytest.approx(iface.kernel_bytes_received, rel=0.01)


def test_frames_cut_inside_the_transport_header_are_counted_as_truncated(link: Link, peers, running):
    """A 36-byte snap length keeps 2 bytes of UDP: the frames count (as port-less flows), `truncated` says so."""
    eng = launch(running, link.a.netns, link.a.iface, snaplen=ETH + IPV4 + 2)
    count, size = 50, 400
    exchange(link, peers, "5308", count, size)
    snap = settled(eng)
    frame = udp_frame(size, "ipv4")
    assert snap.health.truncated == 2 * count
    udp = next(u for u in snap.unknown if u.transport == "udp")
    assert (udp.bytes_sent, udp.bytes_received) == (count * frame, count * frame)


# -- unknown, then found ------------------------------------------------------------------


def test_bytes_move_from_unknown_when_the_socket_appears_later(link: Link, peers, running):
    """Datagrams reach a port before anything is bound there; then a server binds it on the same flow.

    The flow's owner is found only then: everything it put in "unknown" moves
    to the server, and the usage records of the unknown bucket sum to zero.
    """
    eng = launch(running, link.a.netns, link.a.iface)
    usage: list[Usage] = []
    eng.subscribe(lambda s: usage.extend(s.usage))
    count, size = 20, 300
    sender = start_peer(link.b, "udp-rounds", link.a.ipv4, "5309", "5310", str(count), str(size))
    peers.append(sender)
    wait_line(sender)
    assert sender.stdin is not None
    sender.stdin.write("go\n")
    sender.stdin.flush()
    wait_line(sender)
    frame = udp_frame(size, "ipv4")
    early = wait_for(eng, lambda s: any(u.transport == "udp" and u.bytes_received == count * frame
                                        for u in s.unknown))
    assert not [c for c in early.connections if c.local_addr == f"{link.a.ipv4}:5309" and c.pid is not None]

    server = start_peer(link.a, "udp-echo", link.a.ipv4, "5309")
    peers.append(server)
    wait_line(server)
    sender.stdin.write("go\n")
    sender.stdin.flush()
    wait_line(sender)
    snap = wait_for(eng, lambda s: any(p.pid == server.pid and p.bytes_sent == count * frame for p in s.processes)
                    and any(u.transport == "udp" and u.bytes_received == 0 for u in s.unknown))
    proc = process(snap, server.pid)
    assert (proc.bytes_received, proc.bytes_sent) == (2 * count * frame, count * frame)
    (conn,) = owned(snap, server.pid)
    assert (conn.remote_addr, conn.packets_received) == (f"{link.b.ipv4}:5310", 2 * count)

    settled(eng)
    unknown_udp = [u for u in usage if u.pid is None and u.transport == "udp"]
    assert sum(u.bytes_received for u in unknown_udp) == 0
    assert min(u.bytes_received for u in unknown_udp) == -count * frame  # the move itself
    mine = [u for u in usage if u.pid == server.pid]
    assert (sum(u.bytes_received for u in mine), sum(u.bytes_sent for u in mine)) == (2 * count * frame, count * frame)
