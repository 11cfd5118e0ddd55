"""Per-tick flow deltas -> connection records, process aggregates and unknown buckets.

The sniffer only adds bytes into a dict; everything that needs time, owners or
history happens here, once per tick, in the tick thread. Bytes counted while a
flow had no owner sit in the unknown bucket of its transport and move to the
process when one is found, so no byte is dropped or counted twice.
"""

from __future__ import annotations

import heapq
import socket
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from trafficmon.capture.attribution import Attribution, FlowKey
from trafficmon.capture.model import Connection, Owner, ProcessStats, UnknownBucket, Usage
from trafficmon.capture.parse import NON_IP
from trafficmon.capture.rates import RateWindow
from trafficmon.capture.slots import IFACE, IN_B, IN_P, LOCAL_B, LOCAL_P, OUT_B, OUT_P


_PROTOCOL_NAMES = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6", 136: "UDPLite", 132: "SCTP", 47: "GRE", 50: "ESP"}
_SOCKET_TYPES = {6: "SOCK_STREAM", 17: "SOCK_DGRAM"}
_CLOSED_TCP = {"TIME_WAIT", "CLOSE", "CLOSED"}
OVERFLOW = b""
"""The addresses of the one flow per protocol that a tick's new flows beyond the sniffer's bound share.

Its bytes count (in the unknown bucket of its transport, as no socket is
ever found for it); it is not listed as a connection, having no endpoints.
Non-IP flows have no addresses either, but a protocol of NON_IP."""
BYTES_PER_FLOW = 3200
"""What one more flow adds to the service's resident memory, as measured by bench/flows.py.

Its connection state and speed window, its published record and the text in
it, its attribution entry, and its share of what the web layer builds per
tick; tests/test_flow_bound.py checks it against a real service (within 25 %).
A memory bound (EngineConfig.flow_memory_bytes) becomes a flow count with it."""


def protocol_name(proto: int) -> str:
    if proto == NON_IP:
        return "non-IP"
    return _PROTOCOL_NAMES.get(proto, f"IP-{proto}")


def transport_name(proto: int) -> str:
    return protocol_name(proto).lower()


def socket_type(proto: int) -> str:
    """A connection's `protocol` as the live monitor (seed A) reported it: its socket type.

    Its clients compare against these three values, so every other protocol is
    SOCK_RAW; the precise name is the connection's `transport`.
    """
    return _SOCKET_TYPES.get(proto, "SOCK_RAW")


def format_ip(addr: bytes) -> str:
    if len(addr) == 4:
        return socket.inet_ntop(socket.AF_INET, addr)
    if len(addr) == 16:
        return socket.inet_ntop(socket.AF_INET6, addr)
    return ""


def format_endpoint(addr: bytes, port: int) -> str:
    ip = format_ip(addr)
    return f"[{ip}]:{port}" if len(addr) == 16 else f"{ip}:{port}"


@dataclass(slots=True)
class _Conn:
    key: FlowKey
    iface: str
    first_seen: float
    last_seen: float
    last_active: float
    rate: RateWindow
    sent: int = 0
    received: int = 0
    packets_sent: int = 0
    packets_received: int = 0
    tick_sent: int = 0
    tick_received: int = 0
    unknown_sent: int = 0
    unknown_received: int = 0
    owner: Owner | None = None
    state: str = "UNKNOWN"
    how: str = "none"
    closed_at: float | None = None
    shown: Connection | None = None
    """The record last published, handed out again while nothing in it moved (see `_shown`)."""
    shown_as: tuple | None = None
    names: tuple[str, str, str, str, str, str] | None = None
    """id, local and remote as text, socket type, transport and family: made once, the key never changes."""


@dataclass(slots=True)
class _Acc:
    """Cumulative bytes and speeds of one process or unknown bucket: over the speed and the average window."""

    rate: RateWindow
    average: RateWindow
    sent: int = 0
    received: int = 0
    tick_sent: int = 0
    tick_received: int = 0
    last_active: float = 0.0
    owner: Owner | None = None
    connections: int = 0


@dataclass
class TickResult:
    connections: tuple[Connection, ...]
    processes: tuple[ProcessStats, ...]
    unknown: tuple[UnknownBucket, ...]
    usage: tuple[Usage, ...]
    bytes_attributed: int
    bytes_unknown: int


@dataclass
class Tracker:
    """All live connection state; used by the tick thread only."""

    speed_window: float
    linger: float
    idle_timeout: float
    average_window: float
    """Seconds the processes' and unknown buckets' `average_*` speeds are over; connections have none."""
    conns: dict[FlowKey, _Conn] = field(default_factory=dict)
    processes: dict[int, _Acc] = field(default_factory=dict)
    unknown: dict[str, _Acc] = field(default_factory=dict)
    bytes_attributed: int = 0
    bytes_unknown: int = 0
    names: Callable[[bytes], str | None] | None = None
    """The remote's reverse-DNS name, from a cache that never waits (`capture.names`); None: no names."""
    socket_gone_after: float = 3.0
    """Seconds a quiet TCP flow whose socket the kernel no longer lists keeps its state before it reads CLOSED."""
    flow_limit: int | None = None
    """Flows kept at most (None: no bound); beyond, the least valuable are folded (`_fold_excess`)."""
    folded: int = 0
    """Flows folded since the start."""
    overflow_packets: int = 0
    """Packets of new flows the sniffer had no room for in their tick (see OVERFLOW), since the start."""

    def tick(self, deltas: dict[FlowKey, list], dt: float, wall: float, mono: float,
             attribution: Attribution, states: dict[FlowKey, str]) -> TickResult:
        usage: defaultdict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for key, e in deltas.items():
            c = self.conns.get(key)
            if c is None:
                c = self.conns[key] = _Conn(key, e[IFACE], wall, wall, mono, RateWindow(self.speed_window))
            sent = e[OUT_B] + e[LOCAL_B]
            c.sent += sent
            c.received += e[IN_B]
            c.packets_sent += e[OUT_P] + e[LOCAL_P]
            c.packets_received += e[IN_P]
            c.tick_sent += sent
            c.tick_received += e[IN_B]
            c.last_seen, c.last_active, c.iface, c.closed_at = wall, mono, e[IFACE], None
            if key[1] == OVERFLOW and key[0] != NON_IP:
                self.overflow_packets += e[OUT_P] + e[IN_P] + e[LOCAL_P]
            if c.owner is None:
                self._adopt(c, attribution, usage)
            acc = self._acc_of(c)
            acc.sent += sent
            acc.received += e[IN_B]
            acc.tick_sent += sent
            acc.tick_received += e[IN_B]
            acc.last_active = mono
            if c.owner is None:
                c.unknown_sent += sent
                c.unknown_received += e[IN_B]
                self.bytes_unknown += sent + e[IN_B]
            else:
                self.bytes_attributed += sent + e[IN_B]
            if e[OUT_B] or e[IN_B]:
                u = usage[_usage_key(c)]
                u[0] += e[OUT_B]
                u[1] += e[IN_B]
        self._fold_excess()

        retry: list[FlowKey] = []
        gone: list[FlowKey] = []
        for key, c in self.conns.items():
            c.rate.add(dt, c.tick_sent, c.tick_received)
            c.tick_sent = c.tick_received = 0
            if c.owner is None and key[0] != NON_IP and key[1] != OVERFLOW:
                self._adopt(c, attribution, usage)
                if c.owner is None and mono - c.last_active < self.idle_timeout:
                    retry.append(key)
            self._update_state(c, states, wall, mono)
            if c.closed_at is not None and wall - c.closed_at >= self.linger:
                gone.append(key)
        for key in gone:
            del self.conns[key]
        if retry:
            attribution.retry(retry)
        attribution.expire(set(self.conns))
        return TickResult(
            connections=tuple(
                _shown(c, self.names(c.key[3]) if self.names else None)
                for c in self.conns.values() if c.key[0] != NON_IP and c.key[1] != OVERFLOW
            ),
            processes=self._publish_processes(dt, mono),
            unknown=self._publish_unknown(dt),
            usage=tuple(
                Usage(name, cmdline, pid, remote, transport, s, r)
                for (name, cmdline, pid, remote, transport), (s, r) in usage.items() if s or r
            ),
            bytes_attributed=self.bytes_attributed,
            bytes_unknown=self.bytes_unknown,
        )

    def _fold_excess(self) -> None:
        """Forget the flows beyond `flow_limit`, closed ones first, then one- or two-packet ones, then the quietest.

        Folding loses no byte: a flow's bytes are in its process's (or its
        transport's unknown bucket's) totals and in the tick's usage the moment
        they are counted; only its own record goes. A folded flow that moves
        again comes back as a new one. The order keeps what an operator is
        looking at in a flood: a scan's single packets go before the idle SSH
        session that was there first.
        """
        if self.flow_limit is None:
            return
        excess = len(self.conns) - self.flow_limit
        if excess <= 0:
            return
        conns = self.conns
        for key in heapq.nsmallest(excess, conns, key=lambda k: _fold_order(conns[k])):
            del conns[key]
        self.folded += excess

    def _acc_of(self, c: _Conn) -> _Acc:
        if c.owner is None:
            t = transport_name(c.key[0])
            acc = self.unknown.get(t)
            if acc is None:
                acc = self.unknown[t] = self._new_acc(None)
            return acc
        acc = self.processes.get(c.owner.pid)
        if acc is None or acc.owner != c.owner:
            acc = self.processes[c.owner.pid] = self._new_acc(c.owner)
        return acc

    def _new_acc(self, owner: Owner | None) -> _Acc:
        return _Acc(RateWindow(self.speed_window), RateWindow(self.average_window), owner=owner)

    def _adopt(self, c: _Conn, attribution: Attribution, usage: defaultdict[tuple, list[int]]) -> None:
        """Give `c` its owner if one was found, moving its unknown bytes along."""
        found = attribution.owner(c.key)
        if found is None:
            return
        moved_s, moved_r = c.unknown_sent, c.unknown_received
        if moved_s or moved_r:
            unknown = self._acc_of(c)
            unknown.sent -= moved_s
            unknown.received -= moved_r
            u = usage[_usage_key(c)]
            u[0] -= moved_s
            u[1] -= moved_r
        c.owner, c.state, c.how = found.owner, found.state, found.how
        c.unknown_sent = c.unknown_received = 0
        if moved_s or moved_r:
            proc = self._acc_of(c)
            proc.sent += moved_s
            proc.received += moved_r
            u = usage[_usage_key(c)]
            u[0] += moved_s
            u[1] += moved_r
            self.bytes_unknown -= moved_s + moved_r
            self.bytes_attributed += moved_s + moved_r

    def _update_state(self, c: _Conn, states: dict[FlowKey, str], wall: float, mono: float) -> None:
        proto = c.key[0]
        if proto == socket.IPPROTO_TCP:
            state = states.get(c.key)
            if state is not None:
                c.state = state
            elif c.owner is not None and mono - c.last_active > self.socket_gone_after:
                c.state = "CLOSED"
            if c.state in _CLOSED_TCP and c.closed_at is None:
                c.closed_at = wall
        elif c.owner is not None and c.state == "UNKNOWN":
            c.state = "NONE"
        if c.closed_at is None and mono - c.last_active >= self.idle_timeout:
            c.closed_at = wall

    def _publish_processes(self, dt: float, mono: float) -> tuple[ProcessStats, ...]:
        """Every process with a listed connection or recent bytes.

        `connections` counts open ones only; a process whose connections all
        closed stays (with its bytes) as long as any of them is still listed,
        and at least `linger` after its last byte, so that no listed
        connection points at a process that is not.
        """
        counts: defaultdict[int, int] = defaultdict(int)
        listed: set[int] = set()
        for c in self.conns.values():
            if c.owner is not None:
                listed.add(c.owner.pid)
                if c.closed_at is None:
                    counts[c.owner.pid] += 1
        out: list[ProcessStats] = []
        for pid, acc in list(self.processes.items()):
            _add_tick(acc, dt)
            if pid not in listed and acc.rate.idle and mono - acc.last_active > self.linger:
                del self.processes[pid]
                continue
            o = acc.owner
            assert o is not None
            out.append(ProcessStats(pid, o.name, o.cmdline, o.username, counts[pid],
                                    acc.rate.upload, acc.rate.download, acc.average.upload, acc.average.download,
                                    acc.sent, acc.received))
        return tuple(out)

    def _publish_unknown(self, dt: float) -> tuple[UnknownBucket, ...]:
        out: list[UnknownBucket] = []
        for transport, acc in sorted(self.unknown.items()):
            _add_tick(acc, dt)
            out.append(UnknownBucket(transport, acc.rate.upload, acc.rate.download,
                                     acc.average.upload, acc.average.download, acc.sent, acc.received))
        return tuple(out)


def _fold_order(c: _Conn) -> tuple[bool, bool, float, int]:
    return (c.closed_at is None, c.packets_sent + c.packets_received > 2, c.last_active, c.sent + c.received)


def _add_tick(acc: _Acc, dt: float) -> None:
    """Close `acc`'s tick: what it moved goes into both its windows."""
    acc.rate.add(dt, acc.tick_sent, acc.tick_received)
    acc.average.add(dt, acc.tick_sent, acc.tick_received)
    acc.tick_sent = acc.tick_received = 0


def _usage_key(c: _Conn) -> tuple:
    t = transport_name(c.key[0])
    remote = format_ip(c.key[3])
    if c.owner is None:
        return ("unknown", "", None, remote, t)
    return (c.owner.name, c.owner.cmdline, c.owner.pid, remote, t)


def _shown(c: _Conn, remote_name: str | None) -> Connection:
    """`c`'s record for this tick: the last one again when nothing in it moved.

    After a flood most flows are idle, and making 100,000 records a tick (text
    addresses and all) held the interpreter for most of a second, every tick;
    comparing what a record shows costs a small part of that.
    """
    upload, download = c.rate.upload, c.rate.download
    shows = (c.last_seen, c.sent, c.received, upload, download, c.state, c.closed_at is None, c.owner, c.how,
             c.iface, remote_name)
    if c.shown is None or shows != c.shown_as:
        c.shown, c.shown_as = _publish(c, upload, download, remote_name), shows
    return c.shown


def _names(c: _Conn) -> tuple[str, str, str, str, str, str]:
    if c.names is None:
        proto, lip, lport, rip, rport = c.key
        has_ports = proto in (6, 17, 132, 136)
        local = format_endpoint(lip, lport) if has_ports else format_ip(lip)
        remote = format_endpoint(rip, rport) if has_ports else format_ip(rip)
        transport = transport_name(proto)
        family = "ipv6" if len(lip) == 16 else "ipv4"
        c.names = (f"{transport}-{local}-{remote}", local, remote, socket_type(proto), transport, family)
    return c.names


def _publish(c: _Conn, upload: float, download: float, remote_name: str | None) -> Connection:
    o = c.owner
    key, local, remote, protocol, transport, family = _names(c)
    return Connection(
        id=key,
        local_addr=local,
        remote_addr=remote,
        protocol=protocol,
        state=c.state,
        process_name=o.name if o else "unknown",
        pid=o.pid if o else None,
        upload_speed=upload,
        download_speed=download,
        duration=max(0.0, c.last_seen - c.first_seen),
        bytes_sent=c.sent,
        bytes_received=c.received,
        transport=transport,
        family=family,
        interface=c.iface,
        packets_sent=c.packets_sent,
        packets_received=c.packets_received,
        cmdline=o.cmdline if o else "",
        username=o.username if o else "",
        first_seen=c.first_seen,
        last_seen=c.last_seen,
        closed=c.closed_at is not None,
        attribution=c.how,
        remote_name=remote_name,
    )
