"""What `capture.parse.Parser.parse` costs per frame, on a realistic mix.

The capture path has well under 3 µs of CPU per packet in total, most of it in
the system call and the objects it creates; this shows how much of that budget
the parser itself takes, overall and per kind of frame, so a change to the
parser can be judged by a number rather than a guess.

Run: .venv/bin/python bench/parse.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Python puts this script's directory first on the path, where
# bench/capture.py would shadow the `capture` package: the repo root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Packet

from trafficmon.capture.parse import LINKTYPE_ETHERNET, Parser

FRAMES = 100_000
TEMPLATES = 500
RUNS = 5
SNAPLEN = 128

# (share of the traffic, builder of one frame). Payload sizes alternate
# between full-sized data segments and bare ACKs / small datagrams, the two
# shapes real traffic is made of; the snap length cuts the big ones as the
# kernel would.
Builder = Callable[[random.Random], Packet]
MIX: dict[str, tuple[float, Builder]] = {
    "ipv4 tcp": (
        0.55,
        lambda r: (
            _ether()
            / IP(src=_v4(r), dst=_v4(r))
            / TCP(sport=r.randrange(1024, 65536), dport=443)
            / _payload(r)
        ),
    ),
    "ipv4 udp": (
        0.15,
        lambda r: (
            _ether()
            / IP(src=_v4(r), dst=_v4(r))
            / UDP(sport=r.randrange(1024, 65536), dport=53)
            / _payload(r)
        ),
    ),
    "ipv6 tcp": (
        0.20,
        lambda r: (
            _ether()
            / IPv6(src=_v6(r), dst=_v6(r))
            / TCP(sport=r.randrange(1024, 65536), dport=443)
            / _payload(r)
        ),
    ),
    "ipv6 udp": (
        0.07,
        lambda r: (
            _ether()
            / IPv6(src=_v6(r), dst=_v6(r))
            / UDP(sport=r.randrange(1024, 65536), dport=443)
            / _payload(r)
        ),
    ),
    "vlan ipv4 tcp": (
        0.03,
        lambda r: (
            _ether()
            / Dot1Q(vlan=r.randrange(1, 4095))
            / IP(src=_v4(r), dst=_v4(r))
            / TCP(dport=22)
            / _payload(r)
        ),
    ),
}


def _ether() -> Ether:
    """Explicit addresses: without them scapy asks the host's ARP/ND tables."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _v4(r: random.Random) -> str:
    return f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"


def _v6(r: random.Random) -> str:
    return f"2001:db8:{r.randrange(65536):x}::{r.randrange(1, 65536):x}"


def _payload(r: random.Random) -> bytes:
    return bytes(1400) if r.random() < 0.5 else b""


def build(kind: str | None, count: int, rng: random.Random) -> list[bytes]:
    """`count` frames of one kind (or of the whole mix), cut to the snap length.

    A few hundred distinct frames are built with scapy and repeated, shuffled:
    enough variety that nothing is served from one hot cache line, without
    spending a minute in scapy.
    """
    kinds = [kind] if kind else list(MIX)
    weights = [MIX[k][0] for k in kinds]
    templates = [bytes(MIX[k][1](rng))[:SNAPLEN] for k in rng.choices(kinds, weights, k=TEMPLATES)]
    frames = [templates[i % len(templates)] for i in range(count)]
    rng.shuffle(frames)
    return frames


def ns_per_parse(frames: list[bytes]) -> float:
    """Median over RUNS of the time per frame of a plain capture-style loop."""
    samples = []
    for _ in range(RUNS):
        parse = Parser().parse
        start = time.perf_counter_ns()
        for frame in frames:
            parse(frame, 0, len(frame), LINKTYPE_ETHERNET)
        samples.append((time.perf_counter_ns() - start) / len(frames))
    return statistics.median(samples)


def ns_per_parse_in_place(frames: list[bytes]) -> float:
    """The same frames read at their offsets in one bytearray, as from a receive buffer or ring."""
    ring = bytearray(b"".join(frames))
    spans = []
    off = 0
    for frame in frames:
        spans.append((off, len(frame)))
        off += len(frame)
    samples = []
    for _ in range(RUNS):
        parse = Parser().parse
        start = time.perf_counter_ns()
        for off, caplen in spans:
            parse(ring, off, caplen, LINKTYPE_ETHERNET)
        samples.append((time.perf_counter_ns() - start) / len(frames))
    return statistics.median(samples)


def ns_per_loop(frames: list[bytes]) -> float:
    """The same loop calling a no-op, so the parser's own share can be read off."""

    def nothing(buf: bytes, off: int, caplen: int, linktype: int) -> None:
        return None

    samples = []
    for _ in range(RUNS):
        start = time.perf_counter_ns()
        for frame in frames:
            nothing(frame, 0, len(frame), LINKTYPE_ETHERNET)
        samples.append((time.perf_counter_ns() - start) / len(frames))
    return statistics.median(samples)


def main() -> None:
    rng = random.Random(2)
    mixed = build(None, FRAMES, rng)
    python = sys.version.split()[0]
    print(f"Python {python}, {FRAMES} frames, snap length {SNAPLEN}, median of {RUNS} runs")
    print(f"{'mix':<16}{ns_per_parse(mixed):8.0f} ns/parse")
    print(f"{'mix, one buffer':<16}{ns_per_parse_in_place(mixed):8.0f} ns/parse")
    for kind in MIX:
        print(f"{kind:<16}{ns_per_parse(build(kind, FRAMES, rng)):8.0f} ns/parse")
    empty = ns_per_loop(mixed)
    print(f"{'(empty call)':<16}{empty:8.0f} ns/call (the loop and call overhead included above)")


if __name__ == "__main__":
    main()
