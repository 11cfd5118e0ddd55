"""Frames -> flow entries: which way each frame went, which flow and interface slot it counts in.

The sniffer thread's hot loop (bench/capture.py measures it): one pass over a
batch of frames under the engine's flow lock, adding wire bytes and packets
into the tick's flow dict and the interface's counters. Direction comes from
the packet type the kernel gives and the host's local addresses: a frame to
or from a local address is the host's own (loopback's receiving copy is
counted once, when sent); one between two other hosts (bridged, routed,
promiscuous) is forwarded traffic, counted on the interface only. Flows are
keyed from the host's side: (proto, local address, local port, remote
address, remote port).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from trafficmon.capture.attribution import FlowKey
from trafficmon.capture.flows import OVERFLOW
from trafficmon.capture.parse import NON_IP
from trafficmon.capture.slots import BAD_B, BAD_P, FWD_B, FWD_P, IN_B, LOCAL_B, LOOP_IN_B, LOOP_IN_P, OUT_B, new_flow
from trafficmon.capture.sources import PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING

Frame = tuple[bytes, int, int, int, int]
"""(buffer, offset, captured length, wire length, packet type), as a `FrameSource` reads them."""


def count_frames(
    frames: Sequence[Frame],
    parse: Callable[[bytes, int, int, int], tuple | None],
    linktype: int,
    local: frozenset[bytes],
    ifc: list[int],
    iface: str,
    flows: dict[FlowKey, list],
    most: int,
    room: int,
) -> list[FlowKey]:
    """Count `frames` into `flows` and the interface's counters `ifc`; the keys of the flows it added.

    Beyond `most` distinct flows in the dict, or `room` new ones added by
    this call, a new flow's bytes go to its protocol's overflow flow, so a
    flood cannot grow the dict (or the flow table) past its bound.
    """
    new: list[FlowKey] = []
    for buf, off, caplen, wirelen, pkttype in frames:
        k = parse(buf, off, caplen, linktype)
        if k is None:
            ifc[BAD_B] += wirelen
            ifc[BAD_P] += 1
            continue
        proto, src, sport, dst, dport = k
        if pkttype == PACKET_OUTGOING:
            if dst in local:
                slot = LOCAL_B
            elif src in local or proto == NON_IP:
                slot = OUT_B
            else:
                ifc[FWD_B] += wirelen
                ifc[FWD_P] += 1
                continue
            key = k
        elif pkttype == PACKET_OTHERHOST:
            ifc[FWD_B] += wirelen
            ifc[FWD_P] += 1
            continue
        elif dst in local:
            if src in local:  # the receiving copy of loopback traffic, counted when sent
                ifc[LOOP_IN_B] += wirelen
                ifc[LOOP_IN_P] += 1
                continue
            slot = IN_B
            key = (proto, dst, dport, src, sport)
        elif src in local:
            slot = OUT_B
            key = k
        elif proto == NON_IP:
            slot = IN_B  # keyed by ethertype alone: both directions of ARP share one flow
            key = k
        elif pkttype in (PACKET_BROADCAST, PACKET_MULTICAST):
            slot = IN_B
            key = (proto, dst, dport, src, sport)
        else:
            ifc[FWD_B] += wirelen
            ifc[FWD_P] += 1
            continue
        e = flows.get(key)
        if e is None:
            if len(flows) >= most or len(new) >= room:
                key = (proto, OVERFLOW, 0, OVERFLOW, 0)
                e = flows.get(key)
            if e is None:
                e = flows[key] = new_flow(iface)
                new.append(key)
        e[slot] += wirelen
        e[slot + 1] += 1
        ifc[slot] += wirelen
        ifc[slot + 1] += 1
    return new
