"""Offline analysis: a pcap/pcapng file through the same parser the live capture uses.

A capture file has no sockets behind it, so flows are reported between their
two endpoints (both directions in one row) rather than as local/remote. Where
the file says which way a frame went (a Linux cooked capture's packet type,
a pcapng packet's direction flag), the capturing host's end of a flow is
endpoint a, and the report adds up what it sent and received.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from socket import PACKET_HOST, PACKET_OUTGOING

from trafficmon.capture.flows import format_endpoint, format_ip, protocol_name
from trafficmon.capture.parse import NON_IP, Parser
from trafficmon.capture.pcapfile import PcapSource


@dataclass
class FlowTotal:
    protocol: str
    a: str
    b: str
    bytes_a_to_b: int = 0
    bytes_b_to_a: int = 0
    packets_a_to_b: int = 0
    packets_b_to_a: int = 0

    @property
    def bytes(self) -> int:
        return self.bytes_a_to_b + self.bytes_b_to_a

    @property
    def packets(self) -> int:
        return self.packets_a_to_b + self.packets_b_to_a


@dataclass
class ReplayReport:
    """Totals of one file; `bytes_sent`/`bytes_received` cover only frames whose direction it recorded."""

    frames: int = 0
    bytes: int = 0
    malformed: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    flows: list[FlowTotal] = field(default_factory=list)
    protocols: dict[str, list[int]] = field(default_factory=dict)


def _endpoint(proto: int, addr: bytes, port: int) -> str:
    if proto == NON_IP:
        return f"ethertype 0x{port:04x}"
    return format_endpoint(addr, port) if proto in (6, 17, 132, 136) else format_ip(addr)


def replay(path: str | os.PathLike[str]) -> ReplayReport:
    """Per-flow and per-protocol totals of every frame in the file (wire lengths)."""
    source = PcapSource(path)
    parser = Parser()
    report = ReplayReport()
    flows: dict[tuple, FlowTotal] = {}
    # The a end of each flow: the host's own end when the first frame's direction was known.
    a_ends: dict[tuple, tuple[bytes, int]] = {}
    protocols: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    try:
        while frames := source.read():
            for buf, off, caplen, wirelen, pkttype in frames:
                report.frames += 1
                report.bytes += wirelen
                k = parser.parse(buf, off, caplen, source.linktype)
                if k is None:
                    continue
                if parser.last_pkttype >= 0:  # a cooked capture's header says; it beats the file's flag
                    pkttype = parser.last_pkttype
                if pkttype == PACKET_OUTGOING:
                    report.bytes_sent += wirelen
                elif pkttype == PACKET_HOST:
                    report.bytes_received += wirelen
                proto, src, sport, dst, dport = k
                lower, upper = sorted(((src, sport), (dst, dport)))
                key = (proto, lower, upper)
                f = flows.get(key)
                if f is None:
                    a, b = lower, upper
                    if pkttype == PACKET_OUTGOING:
                        a, b = (src, sport), (dst, dport)
                    elif pkttype == PACKET_HOST:
                        a, b = (dst, dport), (src, sport)
                    a_ends[key] = a
                    f = flows[key] = FlowTotal(protocol_name(proto), _endpoint(proto, *a), _endpoint(proto, *b))
                if (src, sport) == a_ends[key]:
                    f.bytes_a_to_b += wirelen
                    f.packets_a_to_b += 1
                else:
                    f.bytes_b_to_a += wirelen
                    f.packets_b_to_a += 1
                p = protocols[f.protocol]
                p[0] += 1
                p[1] += wirelen
    finally:
        source.close()
    report.malformed = parser.malformed
    report.flows = sorted(flows.values(), key=lambda f: f.bytes, reverse=True)
    report.protocols = dict(sorted(protocols.items(), key=lambda kv: kv[1][1], reverse=True))
    return report


def format_report(report: ReplayReport, top: int = 20) -> str:
    lines = [f"{report.frames} frames, {report.bytes} bytes, {report.malformed} malformed"]
    if report.bytes_sent or report.bytes_received:
        lines.append(f"this host sent {report.bytes_sent} bytes, received {report.bytes_received} bytes")
    lines += ["", "protocol   packets        bytes"]
    for name, (packets, nbytes) in report.protocols.items():
        lines.append(f"{name:<10} {packets:>8} {nbytes:>12}")
    lines += ["", f"top {min(top, len(report.flows))} of {len(report.flows)} flows by bytes",
              f"{'protocol':<8} {'endpoint a':<46} {'endpoint b':<46} {'a->b bytes':>12} {'b->a bytes':>12}"]
    for f in report.flows[:top]:
        lines.append(f"{f.protocol:<8} {f.a:<46} {f.b:<46} {f.bytes_a_to_b:>12} {f.bytes_b_to_a:>12}")
    return "\n".join(lines)
