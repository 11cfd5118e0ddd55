"""Unit tests of `capture.parse`: frames built by scapy, keys checked against them.

scapy is an independent encoder, so every expected key below comes from the
addresses and ports a frame was built with, never from the parser itself. The
fuzz tests feed exact-length `bytes`, on which any read past the end of the
captured frame raises, so "never raises" also proves "never reads past
off+caplen".
"""

from __future__ import annotations

import mmap
import random
import socket
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR, fragment
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
    fragment6,
)
from scapy.layers.l2 import ARP, GRE, LLC, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Dot3, Ether
from scapy.layers.sctp import SCTP
from scapy.packet import Packet, Raw

from trafficmon.capture.parse import (
    FRAGMENT_TABLE_SIZE,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    MAX_IPV6_EXTENSION_HEADERS,
    MAX_VLAN_TAGS,
    NON_IP,
    FlowKey,
    Parser,
)

MAC_SRC, MAC_DST = "02:00:00:00:00:01", "02:00:00:00:00:02"
ADDRESSES = {"ipv4": ("192.0.2.10", "198.51.100.20"), "ipv6": ("2001:db8::10", "2001:db8:ffff::20")}
ETHERTYPES = {"ipv4": 0x0800, "ipv6": 0x86DD}
CLIENT_PORT, SERVER_PORT = 40123, 443
ECHO_ID = 0x1D2B
PKTTYPE_OUTGOING = 4
PKTTYPE_HOST = 0
ETH, SLL, SLL2, RAW = LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW
LINKTYPES = (ETH, SLL, SLL2, RAW)


def ether(**fields: Any) -> Packet:
    """Ethernet with fixed addresses: without them scapy consults the host's ARP/ND tables."""
    return Ether(src=MAC_SRC, dst=MAC_DST, **fields)


def packed(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)


def ends(family: str, direction: str) -> tuple[str, int, str, int]:
    """(src, sport, dst, dport) of a client/server exchange, either way round."""
    client, server = ADDRESSES[family]
    if direction == "client->server":
        return client, CLIENT_PORT, server, SERVER_PORT
    return server, SERVER_PORT, client, CLIENT_PORT


def ip_header(family: str, src: str, dst: str, proto: int | None = None, **fields: Any) -> Packet:
    if proto is not None:
        fields["proto" if family == "ipv4" else "nh"] = proto
    return IP(src=src, dst=dst, **fields) if family == "ipv4" else IPv6(src=src, dst=dst, **fields)


def key(proto: int, src: str, sport: int, dst: str, dport: int) -> FlowKey:
    return proto, packed(src), sport, packed(dst), dport


def portless(flow: FlowKey, proto: int | None = None) -> FlowKey:
    """The key a frame of `flow` gets when its ports are missing."""
    return flow[0] if proto is None else proto, flow[1], 0, flow[3], 0


def parse_one(frame: bytes, linktype: int = ETH) -> tuple[FlowKey | None, Parser]:
    parser = Parser()
    return parser.parse(frame, 0, len(frame), linktype), parser


class Link(NamedTuple):
    """One way a network-layer packet reaches the parser."""

    linktype: int
    pkttype: int  # what a cooked capture carries, -1 for link types without one
    wrap: Callable[[Packet, int], Packet]  # (packet, its ethertype) -> frame

    def frame(self, l3: Packet, family: str) -> bytes:
        return bytes(self.wrap(l3, ETHERTYPES[family]))


LINKS: dict[str, Link] = {
    "ethernet": Link(ETH, -1, lambda l3, ethertype: ether(type=ethertype) / l3),
    "802.1q": Link(ETH, -1, lambda l3, ethertype: ether() / Dot1Q(vlan=100, type=ethertype) / l3),
    "802.1ad qinq": Link(
        ETH, -1, lambda l3, et: ether() / Dot1AD(vlan=200) / Dot1Q(vlan=100, type=et) / l3
    ),
    "0x9100 qinq": Link(
        ETH,
        -1,
        lambda l3, et: ether(type=0x9100) / Dot1Q(vlan=300) / Dot1Q(vlan=100, type=et) / l3,
    ),
    "sll": Link(
        SLL, PKTTYPE_OUTGOING, lambda l3, et: CookedLinux(pkttype=PKTTYPE_OUTGOING, proto=et) / l3
    ),
    "sll vlan": Link(
        SLL,
        PKTTYPE_HOST,
        lambda l3, et: CookedLinux(pkttype=PKTTYPE_HOST, proto=0x8100) / Dot1Q(type=et) / l3,
    ),
    "sll2": Link(
        SLL2,
        PKTTYPE_OUTGOING,
        lambda l3, et: CookedLinuxV2(pkttype=PKTTYPE_OUTGOING, proto=et) / l3,
    ),
    "raw": Link(RAW, -1, lambda l3, et: l3),
}


@pytest.mark.parametrize("direction", ["client->server", "server->client"])
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("link", list(LINKS))
def test_every_link_layer_gives_the_key_and_packet_type(
    link: str, family: str, direction: str
) -> None:
    src, sport, dst, dport = ends(family, direction)
    linktype, pkttype, _ = LINKS[link]
    frame = LINKS[link].frame(ip_header(family, src, dst) / TCP(sport=sport, dport=dport), family)

    parser = Parser()
    assert parser.parse(frame, 0, len(frame), linktype) == key(6, src, sport, dst, dport)
    assert parser.last_pkttype == pkttype
    assert (parser.malformed, parser.truncated) == (0, 0)


# Transports with ports, built by scapy where it has a layer for them. UDP-Lite
# has none; its header starts with the ports like UDP's.
PORT_TRANSPORTS: dict[str, tuple[int, Callable[[int, int], Packet]]] = {
    "tcp": (
        6,
        lambda sport, dport: TCP(sport=sport, dport=dport, flags="PA") / Raw(b"GET / HTTP/1.1\r\n"),
    ),
    "udp": (17, lambda sport, dport: UDP(sport=sport, dport=dport) / Raw(b"query")),
    "sctp": (132, lambda sport, dport: SCTP(sport=sport, dport=dport)),
    "udp-lite": (136, lambda sport, dport: Raw(struct.pack("!HHHH", sport, dport, 8, 0))),
}


@pytest.mark.parametrize("direction", ["client->server", "server->client"])
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("transport", list(PORT_TRANSPORTS))
def test_transport_ports(transport: str, family: str, direction: str) -> None:
    proto, build = PORT_TRANSPORTS[transport]
    src, sport, dst, dport = ends(family, direction)
    frame = bytes(ether() / ip_header(family, src, dst, proto) / build(sport, dport))

    assert parse_one(frame)[0] == key(proto, src, sport, dst, dport)


@pytest.mark.parametrize(
    ("family", "message", "proto", "ports"),
    [
        ("ipv4", ICMP(type="echo-request", id=ECHO_ID, seq=1), 1, ECHO_ID),
        ("ipv4", ICMP(type="echo-reply", id=ECHO_ID, seq=1), 1, ECHO_ID),
        (
            "ipv4",
            ICMP(type="dest-unreach", code=3) / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(),
            1,
            0,
        ),
        ("ipv6", ICMPv6EchoRequest(id=ECHO_ID, seq=1), 58, ECHO_ID),
        ("ipv6", ICMPv6EchoReply(id=ECHO_ID, seq=1), 58, ECHO_ID),
        ("ipv6", ICMPv6ND_NS(tgt="2001:db8::1"), 58, 0),
    ],
    ids=[
        "echo-request",
        "echo-reply",
        "unreachable",
        "echo6-request",
        "echo6-reply",
        "neighbour-solicit",
    ],
)
def test_icmp_echo_identifier_is_both_ports(
    family: str, message: Packet, proto: int, ports: int
) -> None:
    src, dst = ADDRESSES[family]
    frame = bytes(ether() / ip_header(family, src, dst) / message)

    assert parse_one(frame)[0] == key(proto, src, ports, dst, ports)


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_other_protocols_are_keyed_by_number_without_ports(family: str) -> None:
    src, dst = ADDRESSES[family]
    frame = bytes(ether() / ip_header(family, src, dst, 47) / GRE() / Raw(bytes(24)))

    assert parse_one(frame)[0] == key(47, src, 0, dst, 0)


def test_ipv4_options_are_skipped_by_header_length() -> None:
    src, sport, dst, dport = ends("ipv4", "client->server")
    header = IP(src=src, dst=dst, options=[IPOption_RR(routers=["192.0.2.99"] * 9)])
    frame = bytes(ether() / header / UDP(sport=sport, dport=dport))
    assert frame[14] == 0x4F  # the longest header IPv4 allows

    assert parse_one(frame)[0] == key(17, src, sport, dst, dport)


@pytest.mark.parametrize(
    ("frame", "linktype", "ethertype"),
    [
        (
            bytes(ether() / ARP(psrc="192.0.2.1", pdst="192.0.2.2", hwsrc=MAC_SRC)),
            ETH,
            0x0806,
        ),
        (
            bytes(ether() / Dot1Q(vlan=5) / ARP(psrc="192.0.2.1", pdst="192.0.2.2", hwsrc=MAC_SRC)),
            ETH,
            0x0806,
        ),
        (bytes(ether(type=0x88CC) / Raw(bytes(40))), ETH, 0x88CC),
        (bytes(Dot3(src=MAC_SRC, dst=MAC_DST) / LLC() / Raw(b"spanning tree")), ETH, 0),
        (
            bytes(
                CookedLinux(proto=0x0806) / ARP(psrc="192.0.2.1", pdst="192.0.2.2", hwsrc=MAC_SRC)
            ),
            SLL,
            0x0806,
        ),
        (bytes(CookedLinuxV2(proto=0x0004) / LLC() / Raw(b"802.2")), SLL2, 0),
    ],
    ids=["arp", "vlan-arp", "lldp", "802.3", "sll-arp", "sll2-802.2"],
)
def test_non_ip_frames_get_the_non_ip_key(frame: bytes, linktype: int, ethertype: int) -> None:
    result, parser = parse_one(frame, linktype)

    assert result == (NON_IP, b"", ethertype, b"", 0)
    assert (parser.malformed, parser.truncated) == (0, 0)


def _ah(next_header: int) -> bytes:
    """An IPv6 Authentication Header with a 12-byte ICV: 24 bytes, length field 4."""
    return struct.pack("!BBHII", next_header, 4, 0, 0x1000, 1) + bytes(12)


def _ipv6_with(chain: Packet, nh: int | None = None) -> Packet:
    """IPv6 in front of a chain; scapy picks the next header unless it is raw bytes."""
    src, dst = ADDRESSES["ipv6"]
    return ip_header("ipv6", src, dst, nh) / chain


SPORT, DPORT = CLIENT_PORT, SERVER_PORT
HBH, ROUTING, DEST = IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt
# An IPv6 packet with extension headers, the transport found behind them and
# its source port (the destination port is DPORT when there are ports at all).
EXTENSION_CHAINS: list[tuple[str, Callable[[], Packet], int, int]] = [
    ("hop-by-hop", lambda: _ipv6_with(HBH() / TCP(sport=SPORT, dport=DPORT)), 6, SPORT),
    (
        "long hop-by-hop",
        lambda: _ipv6_with(HBH(options=[PadN(optdata=bytes(60))]) / TCP(sport=SPORT, dport=DPORT)),
        6,
        SPORT,
    ),
    (
        "routing",
        lambda: _ipv6_with(ROUTING(addresses=["2001:db8::99"]) / UDP(sport=SPORT, dport=DPORT)),
        17,
        SPORT,
    ),
    ("destination options", lambda: _ipv6_with(DEST() / UDP(sport=SPORT, dport=DPORT)), 17, SPORT),
    (
        "hbh, routing, dest opts",
        lambda: _ipv6_with(
            HBH() / ROUTING(addresses=["2001:db8::99"]) / DEST() / TCP(sport=SPORT, dport=DPORT)
        ),
        6,
        SPORT,
    ),
    ("ah", lambda: _ipv6_with(Raw(_ah(6) + bytes(TCP(sport=SPORT, dport=DPORT))), nh=51), 6, SPORT),
    (
        "hbh, ah",
        lambda: _ipv6_with(HBH(nh=51) / Raw(_ah(17) + bytes(UDP(sport=SPORT, dport=DPORT)))),
        17,
        SPORT,
    ),
    ("esp", lambda: _ipv6_with(Raw(struct.pack("!II", 0x1000, 1) + bytes(32)), nh=50), 50, 0),
    ("no next header", lambda: _ipv6_with(DEST(nh=59) / Raw(bytes(8))), 59, 0),
    (
        "atomic fragment",
        lambda: _ipv6_with(IPv6ExtHdrFragment(id=9) / TCP(sport=SPORT, dport=DPORT)),
        6,
        SPORT,
    ),
    (
        "the most headers allowed",
        lambda: _ipv6_with(_dest_opts(MAX_IPV6_EXTENSION_HEADERS) / TCP(sport=SPORT, dport=DPORT)),
        6,
        SPORT,
    ),
]


def _dest_opts(count: int) -> Packet:
    chain = IPv6ExtHdrDestOpt()
    for _ in range(count - 1):
        chain = chain / IPv6ExtHdrDestOpt()
    return chain


@pytest.mark.parametrize(
    ("chain", "proto", "sport"),
    [c[1:] for c in EXTENSION_CHAINS],
    ids=[c[0] for c in EXTENSION_CHAINS],
)
def test_ipv6_extension_headers_are_walked_to_the_transport(
    chain: Callable[[], Packet], proto: int, sport: int
) -> None:
    src, dst = ADDRESSES["ipv6"]
    dport = DPORT if sport else 0

    result, parser = parse_one(bytes(ether() / chain()))

    assert result == key(proto, src, sport, dst, dport)
    assert (parser.malformed, parser.truncated) == (0, 0)


def test_too_many_ipv6_extension_headers_are_malformed() -> None:
    result, parser = parse_one(
        bytes(ether() / _ipv6_with(_dest_opts(MAX_IPV6_EXTENSION_HEADERS + 1) / TCP()))
    )

    assert result is None
    assert parser.malformed == 1


def test_too_many_vlan_tags_are_malformed() -> None:
    tags = Dot1Q(vlan=1)
    for vlan in range(2, MAX_VLAN_TAGS + 2):
        tags = tags / Dot1Q(vlan=vlan)
    frame = bytes(ether() / tags / IP(src="192.0.2.1", dst="192.0.2.2") / TCP())

    result, parser = parse_one(frame)

    assert result is None
    assert parser.malformed == 1


# --- fragments -------------------------------------------------------------


def _ipv4_fragments(ident: int = 4321, proto_layer: Packet | None = None) -> list[bytes]:
    src, sport, dst, dport = ends("ipv4", "client->server")
    layer = proto_layer if proto_layer is not None else UDP(sport=sport, dport=dport)
    frames = fragment(IP(src=src, dst=dst, id=ident) / layer / Raw(bytes(3000)), fragsize=1000)
    return [bytes(ether() / f) for f in frames]


def _ipv6_fragments(chain_after_fragment: Packet) -> list[bytes]:
    src, dst = ADDRESSES["ipv6"]
    packet = (
        IPv6(src=src, dst=dst)
        / IPv6ExtHdrFragment(id=0xDEADBEEF)
        / chain_after_fragment
        / Raw(bytes(3000))
    )
    return [bytes(ether() / f) for f in fragment6(packet, 1280)]


# name: (the fragments, the key of every one of them, and the protocol a
# later fragment reports when its first was not seen: the fragment header's
# own next header, which for IPv6 may name an extension header).
FRAGMENTED: dict[str, tuple[Callable[[], list[bytes]], FlowKey, int]] = {
    "ipv4 udp": (lambda: _ipv4_fragments(), key(17, *ends("ipv4", "client->server")), 17),
    "ipv4 tcp": (
        lambda: _ipv4_fragments(proto_layer=TCP(sport=CLIENT_PORT, dport=SERVER_PORT)),
        key(6, *ends("ipv4", "client->server")),
        6,
    ),
    "ipv4 ping": (
        lambda: _ipv4_fragments(proto_layer=ICMP(id=ECHO_ID)),
        key(1, ADDRESSES["ipv4"][0], ECHO_ID, ADDRESSES["ipv4"][1], ECHO_ID),
        1,
    ),
    "ipv6 udp": (
        lambda: _ipv6_fragments(UDP(sport=CLIENT_PORT, dport=SERVER_PORT)),
        key(17, *ends("ipv6", "client->server")),
        17,
    ),
    "ipv6 dest opts + tcp": (
        lambda: _ipv6_fragments(IPv6ExtHdrDestOpt() / TCP(sport=CLIENT_PORT, dport=SERVER_PORT)),
        key(6, *ends("ipv6", "client->server")),
        60,
    ),
}


@pytest.mark.parametrize("name", list(FRAGMENTED))
def test_every_fragment_counts_for_the_flow_of_the_first(name: str) -> None:
    build, expected, unseen_proto = FRAGMENTED[name]
    frames = build()
    assert len(frames) >= 3
    parser = Parser()

    assert [parser.parse(f, 0, len(f), ETH) for f in frames] == [expected] * len(frames)
    # The last fragment dropped the entry: a straggler no longer finds ports.
    assert parser.parse(frames[1], 0, len(frames[1]), ETH) == portless(expected, unseen_proto)
    assert (parser.malformed, parser.truncated) == (0, 0)


@pytest.mark.parametrize("name", list(FRAGMENTED))
def test_fragments_before_their_first_get_no_ports(name: str) -> None:
    build, expected, unseen_proto = FRAGMENTED[name]
    first, *later = build()
    parser = Parser()

    before = [parser.parse(f, 0, len(f), ETH) for f in later[:-1]]
    assert before == [portless(expected, unseen_proto)] * len(before)
    assert parser.parse(first, 0, len(first), ETH) == expected
    assert parser.parse(later[-1], 0, len(later[-1]), ETH) == expected


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_the_smallest_fragment_offset_is_a_later_fragment(family: str) -> None:
    """At offset 8 the bytes after the IP header are data, even when they
    look like a UDP header: the ports come from the (unseen) first fragment."""
    src, dst = ADDRESSES[family]
    data = struct.pack("!HHHH", 53, 53, 8, 0)
    datagram: Packet
    if family == "ipv4":
        datagram = IP(src=src, dst=dst, proto=17, flags="MF", frag=1) / Raw(data)
    else:
        datagram = (
            IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(nh=17, offset=1, m=1, id=5) / Raw(data)
        )

    assert parse_one(bytes(ether() / datagram))[0] == key(17, src, 0, dst, 0)


def _with_ipv4_id(frame: bytes, ident: int) -> bytes:
    patched = bytearray(frame)
    struct.pack_into("!H", patched, 14 + 4, ident)
    return bytes(patched)


def test_fragment_table_is_bounded_and_evicts_the_oldest() -> None:
    first, middle, *_ = _ipv4_fragments(ident=0)
    expected = key(17, *ends("ipv4", "client->server"))
    parser = Parser()

    for ident in range(FRAGMENT_TABLE_SIZE + 1):
        frame = _with_ipv4_id(first, ident)
        assert parser.parse(frame, 0, len(frame), ETH) == expected

    def later(ident: int) -> FlowKey | None:
        frame = _with_ipv4_id(middle, ident)
        return parser.parse(frame, 0, len(frame), ETH)

    assert later(0) == portless(expected)  # evicted by the 1025th
    assert later(1) == expected
    assert later(FRAGMENT_TABLE_SIZE) == expected


def test_a_repeated_first_fragment_is_kept_as_the_newest() -> None:
    first, middle, *_ = _ipv4_fragments(ident=0)
    parser = Parser(fragment_table_size=3)
    for ident in (0, 1, 2, 0, 3):  # the retransmitted 0 makes 1 the oldest
        frame = _with_ipv4_id(first, ident)
        parser.parse(frame, 0, len(frame), ETH)

    expected = key(17, *ends("ipv4", "client->server"))
    later = [_with_ipv4_id(middle, ident) for ident in range(4)]

    results = [parser.parse(frame, 0, len(frame), ETH) for frame in later]

    assert results == [expected, portless(expected), expected, expected]


def test_fragments_without_ports_take_no_room_in_the_table() -> None:
    udp_first, udp_middle, *_ = _ipv4_fragments(ident=1)
    gre_first = _ipv4_fragments(ident=2, proto_layer=GRE())[0]
    parser = Parser(fragment_table_size=1)

    for frame in (udp_first, gre_first):
        parser.parse(frame, 0, len(frame), ETH)

    assert parser.parse(udp_middle, 0, len(udp_middle), ETH) == key(
        17, *ends("ipv4", "client->server")
    )


# --- truncation and malformed frames -----------------------------------------


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("link", list(LINKS))
def test_a_frame_cut_at_the_snap_length_keeps_its_key(link: str, family: str) -> None:
    src, sport, dst, dport = ends(family, "server->client")
    layers = ip_header(family, src, dst) / TCP(sport=sport, dport=dport) / Raw(bytes(1400))
    frame = LINKS[link].frame(layers, family)
    assert len(frame) > 1400

    result, parser = parse_one(frame[:128], LINKS[link].linktype)

    assert result == key(6, src, sport, dst, dport)
    assert (parser.malformed, parser.truncated) == (0, 0)


# Where the transport header starts in an Ethernet frame of each family, and
# what the key keeps when the capture stops inside it.
L4_START = {"ipv4": 14 + 20, "ipv6": 14 + 40}


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize(
    ("layer", "proto", "cut_inside", "ports_needed"),
    [
        (TCP(sport=CLIENT_PORT, dport=SERVER_PORT), 6, 2, 4),
        (UDP(sport=CLIENT_PORT, dport=SERVER_PORT), 17, 3, 4),
        (SCTP(sport=CLIENT_PORT, dport=SERVER_PORT), 132, 1, 4),
    ],
    ids=["tcp", "udp", "sctp"],
)
def test_a_transport_header_cut_before_its_ports_gives_ports_0(
    family: str, layer: Packet, proto: int, cut_inside: int, ports_needed: int
) -> None:
    src, dst = ADDRESSES[family]
    frame = bytes(ether() / ip_header(family, src, dst, proto) / layer / Raw(bytes(100)))
    start = L4_START[family]
    parser = Parser()

    assert parser.parse(frame, 0, start + cut_inside, ETH) == key(proto, src, 0, dst, 0)
    assert (parser.malformed, parser.truncated) == (0, 1)
    # Cut later inside the header the ports are all there: nothing is missing.
    assert parser.parse(frame, 0, start + ports_needed, ETH) == key(
        proto, src, CLIENT_PORT, dst, SERVER_PORT
    )
    assert (parser.malformed, parser.truncated) == (0, 1)


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_an_icmp_header_cut_short_gives_ports_0(family: str) -> None:
    src, dst = ADDRESSES[family]
    message = ICMP(id=ECHO_ID) if family == "ipv4" else ICMPv6EchoRequest(id=ECHO_ID)
    proto = 1 if family == "ipv4" else 58
    frame = bytes(ether() / ip_header(family, src, dst) / message)
    parser = Parser()

    assert parser.parse(frame, 0, L4_START[family] + 7, ETH) == key(proto, src, 0, dst, 0)
    assert parser.truncated == 1
    assert parser.parse(frame, 0, L4_START[family] + 8, ETH) == key(
        proto, src, ECHO_ID, dst, ECHO_ID
    )
    assert parser.truncated == 1


def _tcp_frame(family: str, link: str = "ethernet", **ip_fields: int) -> bytes:
    src, sport, dst, dport = ends(family, "client->server")
    layers = ip_header(family, src, dst, **ip_fields) / TCP(sport=sport, dport=dport)
    return LINKS[link].frame(layers, family)


_OPTIONS = bytes(ether() / IP(src="192.0.2.1", dst="192.0.2.2", options=[IPOption_RR()]) / TCP())
_LONG_HBH = bytes(ether() / _ipv6_with(HBH(options=[PadN(optdata=bytes(60))]) / TCP()))
MALFORMED: dict[str, tuple[bytes, int]] = {
    "empty": (b"", ETH),
    "ethernet cut": (_tcp_frame("ipv4")[:13], ETH),
    "ipv4 cut at its start": (_tcp_frame("ipv4")[:14], ETH),
    "ipv4 cut inside": (_tcp_frame("ipv4")[: 14 + 19], ETH),
    "ipv4 cut inside options": (_OPTIONS[: 14 + 22], ETH),
    "ipv6 cut inside": (_tcp_frame("ipv6")[: 14 + 39], ETH),
    "ipv6 cut inside an extension header": (_LONG_HBH[: 14 + 40 + 30], ETH),
    "ipv6 extension header longer than the capture": (
        bytes(ether() / _ipv6_with(IPv6ExtHdrDestOpt(len=200) / Raw(bytes(200)))),
        ETH,
    ),
    "802.1q tag cut": (_tcp_frame("ipv4", "802.1q")[:16], ETH),
    "sll cut": (_tcp_frame("ipv4", "sll")[:15], SLL),
    "sll2 cut": (_tcp_frame("ipv4", "sll2")[:19], SLL2),
    "sll ipv4 cut": (_tcp_frame("ipv4", "sll")[: 16 + 12], SLL),
    "raw empty": (b"", RAW),
    "raw ipv4 cut": (_tcp_frame("ipv4", "raw")[:19], RAW),
    "raw version 5": (b"\x50" + _tcp_frame("ipv4", "raw")[1:], RAW),
    "ipv4 ethertype, version 6": (_tcp_frame("ipv4")[:14] + b"\x65" + _tcp_frame("ipv4")[15:], ETH),
    "ipv6 ethertype, version 4": (_tcp_frame("ipv6")[:14] + b"\x40" + _tcp_frame("ipv6")[15:], ETH),
    "ipv4 header length 16": (_tcp_frame("ipv4")[:14] + b"\x44" + _tcp_frame("ipv4")[15:], ETH),
    "ipv4 total length below header": (_tcp_frame("ipv4", len=12), ETH),
    "unknown link type": (_tcp_frame("ipv4"), 9999),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_frames_give_none_and_are_counted(name: str) -> None:
    frame, linktype = MALFORMED[name]

    result, parser = parse_one(frame, linktype)

    assert result is None
    assert (parser.malformed, parser.truncated) == (1, 0)


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_padding_after_the_datagram_is_not_read_as_ports(family: str) -> None:
    """A datagram shorter than its frame (Ethernet pads to 60 bytes) ends at
    its own length: bytes after it are padding, whatever they look like."""
    src, dst = ADDRESSES[family]
    datagram = ip_header(family, src, dst, 6) / Raw(b"\x01\xbb")  # two bytes of a TCP header
    frame = bytes(ether() / datagram) + struct.pack("!HH", 80, 8080) * 4

    result, parser = parse_one(frame)

    assert result == key(6, src, 0, dst, 0)
    assert (parser.malformed, parser.truncated) == (0, 1)


def test_offloaded_ipv4_with_total_length_0_uses_the_capture() -> None:
    """Segmentation offload hands AF_PACKET super-sized packets with total length 0."""
    src, sport, dst, dport = ends("ipv4", "client->server")

    result, parser = parse_one(_tcp_frame("ipv4", len=0))

    assert result == key(6, src, sport, dst, dport)
    assert parser.malformed == 0


def test_last_pkttype_follows_each_frame() -> None:
    cooked = _tcp_frame("ipv4", "sll")
    plain = _tcp_frame("ipv4")
    parser = Parser()

    parser.parse(cooked, 0, len(cooked), SLL)
    assert parser.last_pkttype == PKTTYPE_OUTGOING
    parser.parse(plain, 0, len(plain), ETH)
    assert parser.last_pkttype == -1
    parser.parse(cooked, 0, len(cooked), SLL)
    parser.parse(cooked, 0, 10, SLL)
    assert parser.last_pkttype == -1


# --- offsets and buffer types ------------------------------------------------

SAMPLES: dict[str, tuple[bytes, int, FlowKey]] = {
    f"{link} {family}": (
        _tcp_frame(family, link),
        LINKS[link].linktype,
        key(6, *ends(family, "client->server")),
    )
    for link in LINKS
    for family in ("ipv4", "ipv6")
}


def _as(kind: str, data: bytes) -> bytes | bytearray | memoryview | mmap.mmap:
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(bytearray(data))
    ring = mmap.mmap(-1, len(data))
    ring.write(data)
    return ring


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "mmap"])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_frame_inside_a_larger_buffer_is_read_at_its_offset(name: str, kind: str) -> None:
    frame, linktype, expected = SAMPLES[name]
    other, _, _ = SAMPLES["ethernet ipv6" if "ipv4" in name else "ethernet ipv4"]
    buf = _as(kind, b"\xff" * 37 + frame + other)

    result = Parser().parse(buf, 37, len(frame), linktype)

    assert result == expected
    assert type(result[1]) is bytes and type(result[3]) is bytes


@pytest.mark.parametrize("name", ["ethernet ipv4", "ethernet ipv6", "raw ipv4", "sll2 ipv6"])
def test_nothing_past_off_plus_caplen_is_read(name: str) -> None:
    """The bytes after the cut are the frame's own, so reading them would
    complete the ports: only honouring the cut gives ports 0."""
    frame, linktype, expected = SAMPLES[name]
    cut = len(frame) - 20 + 3  # three bytes into the TCP header
    parser = Parser()

    result = parser.parse(_as("memoryview", b"\x00" * 11 + frame), 11, cut, linktype)

    assert result == portless(expected)
    assert parser.truncated == 1
    assert parser.parse(frame, 0, cut - 20, linktype) is None  # now inside the IP header
    assert parser.malformed == 1


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_caplen_beyond_the_buffer_is_clamped_to_it(name: str) -> None:
    frame, linktype, expected = SAMPLES[name]
    short = frame[: len(frame) - 20 + 2]  # the buffer ends inside the ports
    parser = Parser()

    assert parser.parse(frame, 0, len(frame) + 1000, linktype) == expected
    assert parser.parse(short, 0, len(frame), linktype) == portless(expected)
    assert (parser.malformed, parser.truncated) == (0, 1)


def test_a_negative_offset_is_malformed() -> None:
    frame, linktype, _ = SAMPLES["ethernet ipv4"]
    parser = Parser()

    assert parser.parse(frame, -len(frame), len(frame), linktype) is None
    assert parser.malformed == 1


# --- never raises ------------------------------------------------------------


def _check(
    parser: Parser, buf: bytes | bytearray | memoryview, caplen: int, linktype: int
) -> FlowKey | None:
    """Parse and check that the result and the counters tell one consistent story."""
    malformed, truncated = parser.malformed, parser.truncated
    result = parser.parse(buf, 0, caplen, linktype)
    if result is None:
        assert (parser.malformed, parser.truncated) == (malformed + 1, truncated)
        return None
    assert parser.malformed == malformed and parser.truncated - truncated in (0, 1)
    proto, src, sport, dst, dport = result
    if proto == NON_IP:
        assert (src, dst, dport) == (b"", b"", 0) and (sport == 0 or 0x600 <= sport <= 0xFFFF)
    else:
        assert 0 <= proto <= 255 and len(src) == len(dst) and len(src) in (4, 16)
        assert (
            type(src) is bytes
            and type(dst) is bytes
            and 0 <= sport <= 0xFFFF
            and 0 <= dport <= 0xFFFF
        )
    return result


@pytest.mark.parametrize("linktype", [*LINKTYPES, 0])
def test_random_bytes_never_raise(linktype: int) -> None:
    rng = random.Random(linktype)
    parser = Parser()
    for i in range(20_000):
        data = rng.randbytes(rng.choice((rng.randrange(0, 24), rng.randrange(0, 200))))
        if linktype == RAW and data and i % 2:  # make the version nibble plausible half the time
            data = bytes([rng.choice((0x45, 0x4F, 0x60))]) + data[1:]
        buf = data if i % 3 else memoryview(bytearray(data))
        _check(parser, buf, len(data), linktype)
    assert parser.malformed > 0


def _fuzz_seeds(linktype: int) -> list[bytes]:
    """Valid frames of one link type reaching every branch: fragments,
    extension headers, ICMP, options, VLAN tags, non-IP."""
    l3_packets = [
        *[IP(f[14:]) for f in _ipv4_fragments()],
        *[IPv6(f[14:]) for f in _ipv6_fragments(IPv6ExtHdrDestOpt() / UDP(sport=1, dport=2))],
        *[chain() for _, chain, _, _ in EXTENSION_CHAINS],
        IP(src="192.0.2.1", dst="192.0.2.2", options=[IPOption_RR()]) / TCP(),
        IP(src="192.0.2.1", dst="192.0.2.2") / ICMP(id=7),
        IPv6(src="::1", dst="::2") / ICMPv6EchoReply(id=7),
    ]
    seeds = [
        link.frame(packet, "ipv4" if isinstance(packet, IP) else "ipv6")
        for link in LINKS.values()
        if link.linktype == linktype
        for packet in l3_packets
    ]
    if linktype == ETH:
        seeds.append(
            bytes(ether() / Dot1Q() / ARP(hwsrc=MAC_SRC, psrc="192.0.2.1", pdst="192.0.2.2"))
        )
    return seeds


@pytest.mark.parametrize("linktype", LINKTYPES)
def test_truncated_and_mutated_valid_frames_never_raise(linktype: int) -> None:
    rng = random.Random(linktype * 7)
    seeds = _fuzz_seeds(linktype)
    parser = Parser()
    for _ in range(20_000):
        frame = bytearray(rng.choice(seeds))
        for _flip in range(rng.randrange(0, 4)):
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        cut = bytes(frame[: rng.randrange(len(frame) + 1)])
        _check(parser, cut, len(cut), linktype)
    assert parser.malformed > 0 and parser.truncated > 0


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_cut_of_a_valid_frame_keeps_what_it_can(name: str) -> None:
    """Cut anywhere: None until the IP header is complete, then the
    addresses, and the ports once their four bytes are in."""
    frame, linktype, expected = SAMPLES[name]
    header_end = len(frame) - 20  # the TCP header is the last 20 bytes
    parser = Parser()

    for cut in range(len(frame) + 1):
        result = _check(parser, frame[:cut], cut, linktype)
        if cut < header_end:
            assert result is None, cut
        elif cut < header_end + 4:
            assert result == portless(expected), cut
        else:
            assert result == expected, cut
