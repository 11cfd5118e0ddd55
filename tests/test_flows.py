"""The tick-side accounting: owners found late, unknown buckets, linger, usage records."""

from __future__ import annotations

import socket

from capture.attribution import FlowKey, Resolution
from capture.flows import Tracker
from capture.model import Owner

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
    return Tracker(speed_window=1.0, linger=5.0, idle_timeout=30.0), FakeAttribution()


def test_attributed_flow_publishes_seed_fields_and_speeds():
    t, attr = make()
    attr.owners[KEY] = Resolution(OWNER, "ESTABLISHED")
    r = t.tick({KEY: entry(out_b=1000, out_p=2, in_b=50_000, in_p=40)}, 1.0, 100.0, 10.0, attr, {})
    (c,) = r.connections
    assert (c.pid, c.process_name, c.state, c.protocol) == (4242, "curl", "ESTABLISHED", "TCP")
    assert (c.local_addr, c.remote_addr) == ("198.18.0.1:40000", "198.18.0.2:443")
    assert (c.bytes_sent, c.bytes_received, c.packets_sent, c.packets_received) == (1000, 50_000, 2, 40)
    assert (c.upload_speed, c.download_speed) == (1000.0, 50_000.0)
    (p,) = r.processes
    assert (p.pid, p.connections, p.bytes_received) == (4242, 1, 50_000)
    assert r.usage[0].process == "curl" and r.usage[0].bytes_received == 50_000
    assert (r.bytes_attributed, r.bytes_unknown) == (51_000, 0)


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
