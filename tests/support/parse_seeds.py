"""Seed inputs for the parser fuzzer (`tests.support.parse_fuzz`): real frame layouts, and how an input is laid out.

An input is one byte choosing the link type (so a mutation of it hands the
same bytes to another decoder) and the frame. Kept apart from the fuzz target,
which must instrument `capture.parse` before anything imports it: this module
imports it plainly, for the test and the bench that write the corpus.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from trafficmon.capture.parse import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW

LINKTYPES = (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, 0)
"""What the first byte of an input selects (modulo their number); 0 is a link type the parser does not know."""


def encode(linktype: int, frame: bytes) -> bytes:
    return bytes([LINKTYPES.index(linktype)]) + frame


def decode(data: bytes) -> tuple[int, bytes]:
    if not data:
        return 0, b""
    return LINKTYPES[data[0] % len(LINKTYPES)], data[1:]


def seed_frames() -> list[tuple[int, bytes]]:
    """(linktype, frame) of every link layer and header chain the parser walks, built by scapy."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR, fragment
    from scapy.layers.inet6 import (
        ICMPv6EchoRequest,
        IPv6,
        IPv6ExtHdrDestOpt,
        IPv6ExtHdrHopByHop,
        IPv6ExtHdrRouting,
        IPv6ExtHdrFragment,
        fragment6,
    )
    from scapy.layers.l2 import ARP, LLC, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Dot3, Ether
    from scapy.packet import Raw

    v4, v6 = ("192.0.2.10", "198.51.100.20"), ("2001:db8::10", "2001:db8:ffff::20")
    # AH (scapy's needs its ipsec layer's crypto): next header UDP, length 4 (24 bytes), SPI, sequence, ICV.
    authentication_header = bytes([17, 4, 0, 0]) + (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes(12)
    ip4 = [
        IP(src=v4[0], dst=v4[1]) / TCP(sport=40123, dport=443) / (b"t" * 40),
        IP(src=v4[0], dst=v4[1]) / UDP(sport=5353, dport=53) / (b"u" * 30),
        IP(src=v4[0], dst=v4[1]) / ICMP(id=7) / (b"p" * 8),
        IP(src=v4[0], dst=v4[1], options=[IPOption_RR()]) / TCP(sport=1, dport=2),
        IP(src=v4[0], dst=v4[1], proto=47) / (b"g" * 20),
        *fragment(IP(src=v4[0], dst=v4[1], id=4321) / UDP(sport=40123, dport=443) / (b"f" * 120), fragsize=48),
    ]
    ip6 = [
        IPv6(src=v6[0], dst=v6[1]) / TCP(sport=40123, dport=443) / (b"t" * 40),
        IPv6(src=v6[0], dst=v6[1]) / UDP(sport=5353, dport=53),
        IPv6(src=v6[0], dst=v6[1]) / ICMPv6EchoRequest(id=7),
        IPv6(src=v6[0], dst=v6[1]) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt()
        / TCP(sport=1, dport=2),
        IPv6(src=v6[0], dst=v6[1], nh=51) / Raw(authentication_header) / UDP(sport=3, dport=4),
        *fragment6(IPv6(src=v6[0], dst=v6[1]) / IPv6ExtHdrFragment(id=99) / UDP(sport=5, dport=6)
                   / (b"f" * 200), 100),
    ]
    mac = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    links = [
        (LINKTYPE_ETHERNET, lambda l3, et: Ether(type=et, **mac) / l3),
        (LINKTYPE_ETHERNET, lambda l3, et: Ether(**mac) / Dot1Q(vlan=100, type=et) / l3),
        (LINKTYPE_ETHERNET, lambda l3, et: Ether(**mac) / Dot1AD(vlan=200) / Dot1Q(vlan=100, type=et) / l3),
        (LINKTYPE_LINUX_SLL, lambda l3, et: CookedLinux(pkttype=4, proto=et) / l3),
        (LINKTYPE_LINUX_SLL2, lambda l3, et: CookedLinuxV2(pkttype=0, proto=et) / l3),
        (LINKTYPE_RAW, lambda l3, et: l3),
    ]
    l3 = [(packet, 0x0800) for packet in ip4] + [(packet, 0x86DD) for packet in ip6]
    frames = [(linktype, bytes(wrap(packet, ethertype))) for linktype, wrap in links for packet, ethertype in l3]
    frames.append((LINKTYPE_ETHERNET, bytes(Ether(**mac) / ARP(hwsrc=mac["src"], psrc=v4[0], pdst=v4[1]))))
    frames.append((LINKTYPE_ETHERNET, bytes(Dot3(**mac) / LLC() / (b"l" * 20))))
    return frames


def pcap_frames(path: Path) -> list[tuple[int, bytes]]:
    """(linktype, frame) of every record of a pcap or pcapng file, through the replay's reader."""
    from trafficmon.capture.pcapfile import PcapSource

    source = PcapSource(path)
    frames: list[tuple[int, bytes]] = []
    try:
        while batch := source.read():
            frames.extend((source.linktype, data[off:off + caplen]) for data, off, caplen, _, _ in batch)
    finally:
        source.close()
    return frames


def seed_corpus(directory: Path, frames: Iterable[tuple[int, bytes]]) -> int:
    """Write each frame of a known link type as one corpus file; how many distinct inputs were written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = set()
    for linktype, frame in frames:
        if linktype not in LINKTYPES:
            continue
        data = encode(linktype, frame)
        name = hashlib.sha1(data).hexdigest()
        (directory / name).write_bytes(data)
        written.add(name)
    return len(written)
