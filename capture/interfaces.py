"""The capture namespace's interfaces and the host's own addresses.

Everything here is read so that it answers for the network namespace of the
calling thread (ioctl, rtnetlink and getifaddrs on fresh sockets), because the
engine's threads live in the namespace they capture. The interfaces' kernel
counters are `capture.netdev`'s.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

import psutil

from trafficmon.capture import rtnetlink
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.ifreq import interface_flags


class InterfaceInfo(NamedTuple):
    name: str
    up: bool
    loopback: bool


def list_interfaces() -> list[InterfaceInfo]:
    out: list[InterfaceInfo] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            try:
                flags = interface_flags(s, name)
            except OSError:
                continue
            out.append(InterfaceInfo(name, flags.up, flags.loopback))
    return out


def default_interfaces() -> list[str]:
    """What is captured when nothing is named: every interface up and not loopback, but container plumbing.

    Plumbing is a bridge (kind "bridge"), and a veth that is a bridge's port
    or carries no default route: the host ends of containers' veth pairs.
    Their traffic also crosses the uplink, so capturing them would show it
    twice; they are captured when named. Kept: hardware interfaces (a bridge's
    physical port included: it is the uplink), tunnels (wireguard, tun, ipip,
    gre...: their traffic is the host's own before it is encapsulated), and a
    container's own eth0 (a veth carrying its namespace's default route).
    Kinds and routes come from rtnetlink, for the calling thread's namespace.
    """
    try:
        found = rtnetlink.links()
        routed = rtnetlink.default_route_interfaces()
    except OSError as exc:
        raise CaptureError(f"cannot list the interfaces over rtnetlink: {exc.strerror or exc}") from exc
    return sorted(link.name for link in found if link.up and not link.loopback and not _plumbing(link, routed))


def _plumbing(link: rtnetlink.Link, routed: frozenset[int]) -> bool:
    """A bridge, or a veth that is a bridge port or carries no default route (see default_interfaces)."""
    if link.kind == "bridge":
        return True
    return link.kind == "veth" and (link.master != 0 or link.index not in routed)


def local_addresses() -> frozenset[bytes]:
    """Packed addresses (4 or 16 bytes) of every interface, for telling direction."""
    out: set[bytes] = set()
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    out.add(socket.inet_pton(a.family, a.address.split("%", 1)[0]))
                except OSError:
                    continue
    return frozenset(out)
