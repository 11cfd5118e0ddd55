"""Offline analysis: a pcap/pcapng file through the same parser the live capture uses.

A capture file has no sockets behind it, so flows are reported between their
two endpoints (both directions in one row) rather than as local/remote.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from capture.flows import format_endpoint, format_ip, protocol_name
from capture.parse import NON_IP, Parser
from capture.pcapfile import PcapSource


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
    frames: int = 0
    bytes: int = 0
    malformed: int = 0
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
    protocols: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    try:
        while frames := source.read():
            for buf, off, caplen, wirelen, _pkttype in frames:
                report.frames += 1
                report.bytes += wirelen
                k = parser.parse(buf, off, caplen, source.linktype)
                if k is None:
                    continue
                proto, src, sport, dst, dport = k
                forward = (src, sport) <= (dst, dport)
                a, b = ((src, sport), (dst, dport)) if forward else ((dst, dport), (src, sport))
                key = (proto, a, b)
                f = flows.get(key)
                if f is None:
                    f = flows[key] = FlowTotal(protocol_name(proto), _endpoint(proto, *a), _endpoint(proto, *b))
                if forward:
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
    lines = [f"{report.frames} frames, {report.bytes} bytes, {report.malformed} malformed", "", "protocol   packets        bytes"]
    for name, (packets, nbytes) in report.protocols.items():
        lines.append(f"{name:<10} {packets:>8} {nbytes:>12}")
    lines += ["", f"top {min(top, len(report.flows))} of {len(report.flows)} flows by bytes",
              f"{'protocol':<8} {'endpoint a':<46} {'endpoint b':<46} {'a->b bytes':>12} {'b->a bytes':>12}"]
    for f in report.flows[:top]:
        lines.append(f"{f.protocol:<8} {f.a:<46} {f.b:<46} {f.bytes_a_to_b:>12} {f.bytes_b_to_a:>12}")
    return "\n".join(lines)
