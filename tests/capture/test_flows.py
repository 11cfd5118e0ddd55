"""The tick-side accounting: owners found late, unknown buckets, linger, usage records, coverage."""

from __future__ import annotations

import socket

import pytest

from trafficmon.capture.attribution import FlowKey, Resolution
from trafficmon.capture.coverage import CoverageWindow
from trafficmon.capture.flows import OVERFLOW, Tracker
from trafficmon.capture.model import Owner

A = socket.inet_aton("198.18.0.1")
B = socket.inet_aton("198.18.0.2")
KEY: FlowKey = (6, A, 40000, B, 443)
UDP_KEY: FlowKey = (17, A, 5353, B, 53)
OWNER = Owner(pid=4242, name="curl", cmdline="curl https://example", username="alice")


class FakeAttribution:
    """Stands in for the resolver thread at the seam the tracker uses."""

    def __init__(self) -> None:
        self.owners: dict[FlowKey, Resolution] = {}
        self.retried: list[FlowKey] = []

    def owner(self, key: FlowKey) -> Resolution | None:
        return self.owners.get(key)

    def retry(self, keys) -> None:
        self.retried.extend(keys)

    def expire(self, active) -> None:
        pass


def entry(out_b=0, out_p=0, in_b=0, in_p=0, local_b=0, local_p=0, iface="tma") -> list:
    return [out_b, out_p, in_b, in_p, local_b, local_p, iface]


def make() -> tuple[Tracker, FakeAttribution]:
    return Tracker(speed_window=1.0, linger=5.0, idle_timeout=30.0, average_window=3.0), FakeAttribution()


def test_attributed_flow_publishes_seed_fields_and_speeds():
    t, attr = make()
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    r = t.tick({KEY: entry(out_b=1000, out_p=2, in_b=50_000, in_p=40)}, 1.0, 100.0, 10.0, attr, {})
    (c,) = r.connections
    assert (c.pid, c.process_name, c.state, c.protocol, c.transport) == (
        4242, "curl", "ESTABLISHED", "SOCK_STREAM", "tcp")
    assert (c.local_addr, c.remote_addr) == ("198.18.0.1:40000", "198.18.0.2:443")
    assert (c.bytes_sent, c.bytes_received, c.packets_sent, c.packets_received) == (1000, 50_000, 2, 40)
    assert (c.upload_speed, c.download_speed) == (1000.0, 50_000.0)
    (p,) = r.processes
    assert (p.pid, p.connections, p.bytes_received) == (4242, 1, 50_000)
    assert r.usage[0].process == "curl" and r.usage[0].bytes_received == 50_000
    assert (r.bytes_attributed, r.bytes_unknown) == (51_000, 0)


@pytest.mark.parametrize(
    ("proto", "protocol", "transport"),
    [(6, "SOCK_STREAM", "tcp"), (17, "SOCK_DGRAM", "udp"), (58, "SOCK_RAW", "icmpv6"), (1, "SOCK_RAW", "icmp"),
     (132, "SOCK_RAW", "sctp"), (136, "SOCK_RAW", "udplite"), (47, "SOCK_RAW", "gre"), (99, "SOCK_RAW", "ip-99")],
)
def test_protocol_is_the_seed_socket_type_and_transport_the_precise_name(proto: int, protocol: str, transport: str):
    t, attr = make()
    r = t.tick({(proto, A, 0, B, 0): entry(out_b=100, out_p=1)}, 1.0, 100.0, 10.0, attr, {})
    (c,) = r.connections
    assert (c.protocol, c.transport) == (protocol, transport)
    assert c.id.startswith(transport + "-")


def test_remote_name_comes_from_the_names_cache_for_the_remote_address():
    asked: list[bytes] = []

    def names(ip: bytes) -> str | None:
        asked.append(ip)
        return "b.example" if ip == B else None

    attr = FakeAttribution()
    plain = Tracker(speed_window=1.0, linger=5.0, idle_timeout=30.0, average_window=3.0)
    assert plain.tick({KEY: entry(in_b=10)}, 1.0, 100.0, 10.0, attr, {}).connections[0].remote_name is None
    named = Tracker(speed_window=1.0, linger=5.0, idle_timeout=30.0, average_window=3.0, names=names)
    for n in range(2):
        (c,) = named.tick({KEY: entry(in_b=10)} if n == 0 else {}, 1.0, 100.0 + n, 10.0 + n, attr, {}).connections
        assert c.remote_name == "b.example"
    assert asked == [B, B], "asked once per tick per connection, for its remote address"


def test_bytes_move_from_unknown_to_the_owner_found_later():
    t, attr = make()
    first = t.tick({KEY: entry(in_b=10_000, in_p=8)}, 1.0, 100.0, 10.0, attr, {})
    assert first.unknown[0].transport == "tcp"
    assert first.unknown[0].bytes_received == 10_000
    assert first.connections[0].pid is None
    assert KEY in attr.retried
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    second = t.tick({KEY: entry(in_b=5_000, in_p=4)}, 1.0, 101.0, 11.0, attr, {})
    assert second.unknown[0].bytes_received == 0
    (p,) = second.processes
    assert p.bytes_received == 15_000
    moves = {(u.process, u.bytes_received) for u in second.usage}
    assert moves == {("unknown", -10_000), ("curl", 15_000)}
    assert (second.bytes_attributed, second.bytes_unknown) == (15_000, 0)


def test_quiet_connection_reads_zero_then_closes_and_leaves_after_linger():
    t, attr = make()
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    t.tick({KEY: entry(in_b=1000, in_p=1)}, 1.0, 100.0, 10.0, attr, {KEY: "ESTABLISHED"})
    quiet = t.tick({}, 1.0, 101.0, 11.0, attr, {KEY: "ESTABLISHED"})
    assert quiet.connections[0].download_speed == 0
    closed = t.tick({}, 1.0, 102.0, 12.0, attr, {KEY: "TIME_WAIT"})
    assert closed.connections[0].closed and closed.connections[0].state == "TIME_WAIT"
    still = t.tick({}, 1.0, 106.0, 16.0, attr, {})
    assert len(still.connections) == 1
    gone = t.tick({}, 1.0, 107.5, 17.5, attr, {})
    assert gone.connections == ()
    assert gone.processes == () or gone.processes[0].bytes_received == 1000


def test_udp_flow_closes_after_idle_timeout():
    t, attr = make()
    t.tick({UDP_KEY: entry(out_b=80, out_p=1)}, 1.0, 100.0, 10.0, attr, {})
    assert t.tick({}, 1.0, 129.0, 39.0, attr, {}).connections[0].closed is False
    assert t.tick({}, 1.0, 131.0, 41.0, attr, {}).connections[0].closed is True


def test_local_bytes_count_on_the_connection_but_not_in_usage():
    t, attr = make()
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    r = t.tick({KEY: entry(local_b=700, local_p=1)}, 1.0, 100.0, 10.0, attr, {})
    assert r.connections[0].bytes_sent == 700
    assert r.usage == ()


def test_process_stays_while_any_of_its_connections_is_listed():
    """A closed connection lingers with its pid: its process entry must not leave before it does."""
    t, attr = make()
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    t.tick({KEY: entry(in_b=1000, in_p=1)}, 1.0, 100.0, 10.0, attr, {KEY: "ESTABLISHED"})
    t.tick({}, 1.0, 104.0, 14.0, attr, {KEY: "TIME_WAIT"})  # closed 4 s after its last byte
    lingering = t.tick({}, 1.0, 108.0, 18.0, attr, {})  # past linger since the last byte, not since the close
    assert [c.pid for c in lingering.connections] == [4242]
    assert [(p.pid, p.connections, p.bytes_received) for p in lingering.processes] == [(4242, 0, 1000)]
    gone = t.tick({}, 1.0, 109.5, 19.5, attr, {})
    assert (gone.connections, gone.processes) == ((), ())


def test_coverage_pairs_late_frames_with_the_tick_that_counted_them():
    """Frames the kernel counted at the end of one tick are read in the next: coverage stays 1.0
    when that tick leaves the window, while a real shortfall leaves with its tick."""
    cover = CoverageWindow(3).add
    assert cover(0, 0) is None
    assert cover(600, 1000) == 0.6  # a burst: 400 bytes still in the ring at the tick
    assert cover(400, 0) == 1.0
    assert cover(0, 0) == 1.0
    assert cover(100, 100) == 1.0  # the burst's tick left the window; its late frames did not dangle
    assert cover(90, 100) == pytest.approx(190 / 200)  # a real loss of 10 bytes...
    assert cover(100, 100) == pytest.approx(290 / 300)
    assert cover(100, 100) == pytest.approx(290 / 300)
    assert cover(100, 100) == 1.0  # ...leaves the window with its tick


def test_an_idle_flow_keeps_its_record_and_one_that_moves_gets_a_new_one():
    """Records are made again only when a figure in them moved (100,000 idle flows after a flood)."""
    t, attr = make()
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    t.tick({KEY: entry(out_b=1000, out_p=1), UDP_KEY: entry(in_b=300, in_p=1)}, 1.0, 100.0, 10.0, attr, {})
    draining = t.tick({}, 1.0, 101.0, 11.0, attr, {})  # the speed window slides past the bytes
    quiet = t.tick({}, 1.0, 102.0, 12.0, attr, {})
    assert [c.upload_speed + c.download_speed for c in draining.connections] == [0.0, 0.0]
    assert all(a is b for a, b in zip(draining.connections, quiet.connections, strict=True))

    moved = t.tick({KEY: entry(in_b=500, in_p=1)}, 1.0, 103.0, 13.0, attr, {})
    tcp, udp = moved.connections
    assert tcp is not quiet.connections[0] and udp is quiet.connections[1]
    assert (tcp.bytes_sent, tcp.bytes_received, tcp.download_speed, tcp.last_seen) == (1000, 500, 500.0, 103.0)
    attr.owners[UDP_KEY] = Resolution(OWNER, "NONE")  # found late: same bytes, another owner
    found = t.tick({}, 1.0, 104.0, 14.0, attr, {})
    assert found.connections[1] is not udp and (found.connections[1].pid, found.connections[1].bytes_received) == (
        4242, 300)


def udp(port: int) -> FlowKey:
    return (17, A, port, B, 53)


def test_a_flow_table_at_its_limit_folds_closed_then_small_then_quiet_flows_and_keeps_every_byte():
    t, attr = make()
    t.flow_limit = 3
    ssh, done, scan = KEY, (6, A, 40001, B, 443), udp(1)
    attr.owners[ssh] = Resolution(OWNER, "ESTABLISHED")
    attr.owners[done] = Resolution(OWNER, "ESTABLISHED")
    t.tick({ssh: entry(out_b=500, out_p=5, in_b=700, in_p=5), done: entry(in_b=100, in_p=3)}, 1.0, 100.0, 10.0, attr, {})
    t.tick({scan: entry(in_b=60, in_p=1)}, 1.0, 101.0, 11.0, attr, {done: "TIME_WAIT"})
    assert {c.id for c in t.tick({}, 1.0, 102.0, 12.0, attr, {}).connections} == {
        "tcp-198.18.0.1:40000-198.18.0.2:443", "tcp-198.18.0.1:40001-198.18.0.2:443", "udp-198.18.0.1:1-198.18.0.2:53"}

    flood = {udp(port): entry(in_b=60, in_p=1) for port in range(2, 102)}
    r = t.tick(flood, 1.0, 103.0, 13.0, attr, {})

    assert len(t.conns) == 3 and t.folded == 100
    kept = {c.id for c in r.connections}
    assert "tcp-198.18.0.1:40000-198.18.0.2:443" in kept, "the long-lived connection outlives a scan's single packets"
    assert "tcp-198.18.0.1:40001-198.18.0.2:443" not in kept, "the closed one went first"
    (p,) = r.processes
    assert (p.bytes_sent, p.bytes_received) == (500, 800), "the folded closed flow's bytes stay with its process"
    (u,) = r.unknown
    assert u.bytes_received == 101 * 60, "the folded unknown flows' bytes stay in the unknown bucket"
    assert r.bytes_attributed + r.bytes_unknown == 1300 + 101 * 60
    assert sum(x.bytes_received for x in r.usage) == 100 * 60, "this tick's usage books every flow of the flood"


def test_a_folded_flow_that_moves_again_comes_back_as_a_new_one():
    t, attr = make()
    t.flow_limit = 1
    t.tick({udp(1): entry(out_b=10, out_p=1)}, 1.0, 100.0, 10.0, attr, {})
    t.tick({udp(2): entry(out_b=20, out_p=1)}, 1.0, 101.0, 11.0, attr, {})
    assert list(t.conns) == [udp(2)] and t.folded == 1
    (c,) = t.tick({udp(1): entry(out_b=30, out_p=1)}, 1.0, 102.0, 12.0, attr, {}).connections
    assert (c.local_addr, c.bytes_sent, c.first_seen) == ("198.18.0.1:1", 30, 102.0)
    assert t.folded == 2 and t.bytes_unknown == 60


def test_no_limit_folds_nothing():
    t, attr = make()
    r = t.tick({udp(port): entry(in_b=1, in_p=1) for port in range(1000)}, 1.0, 100.0, 10.0, attr, {})
    assert len(r.connections) == 1000 and t.folded == 0


def test_the_overflow_flow_counts_as_unknown_and_is_not_listed():
    t, attr = make()
    overflow = (17, OVERFLOW, 0, OVERFLOW, 0)
    r = t.tick({overflow: entry(in_b=600, in_p=10), UDP_KEY: entry(out_b=5, out_p=1)}, 1.0, 100.0, 10.0, attr, {})
    assert [c.local_addr for c in r.connections] == ["198.18.0.1:5353"]
    (u,) = r.unknown
    assert (u.transport, u.bytes_received, t.overflow_packets) == ("udp", 600, 10)
    t.tick({}, 1.0, 101.0, 11.0, attr, {})
    assert overflow not in attr.retried, "no socket is ever looked for it"


def test_processes_and_unknown_buckets_also_read_the_average_window():
    """Beside the speed window (1 s here), every aggregate reads the average window (3 s): exact on ticks of 1 s."""
    t, attr = make()
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    moved = [(3000, 30), (0, 0), (600, 6), (0, 0)]
    speeds = []
    for n, (tcp_in, udp_out) in enumerate(moved):
        deltas = {KEY: entry(in_b=tcp_in, in_p=1), UDP_KEY: entry(out_b=udp_out, out_p=1)} if tcp_in else {}
        r = t.tick(deltas, 1.0, 100.0 + n, 10.0 + n, attr, {KEY: "ESTABLISHED"})
        (p,) = r.processes
        (u,) = r.unknown
        speeds.append(((p.download_speed, p.average_download_speed, p.average_upload_speed),
                       (u.upload_speed, u.average_upload_speed, u.average_download_speed)))
    assert speeds == [
        ((3000.0, 3000.0, 0.0), (30.0, 30.0, 0.0)),  # one second seen: both over it
        ((0.0, 1500.0, 0.0), (0.0, 15.0, 0.0)),
        ((600.0, 1200.0, 0.0), (6.0, 12.0, 0.0)),  # (3000 + 0 + 600) / 3
        ((0.0, 200.0, 0.0), (0.0, 2.0, 0.0)),  # the first tick left the window
    ]
    assert all(not hasattr(c, "average_download_speed") for c in r.connections), "connections have one window"
