"""The capture namespace's interfaces, their kernel counters and the host's own addresses.

Everything here is read so that it answers for the network namespace of the
calling thread (`/proc/thread-self/net`, ioctl and getifaddrs on fresh
sockets), because the engine's threads live in the namespace they capture.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from typing import NamedTuple

import psutil

from trafficmon.capture import rtnetlink
from trafficmon.capture.errors import CaptureError

SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
_IFREQ = struct.Struct("16sH14x")


class InterfaceInfo(NamedTuple):
    name: str
    up: bool
    loopback: bool


class KernelCounters(NamedTuple):
    rx_bytes: int
    rx_packets: int
    tx_bytes: int
    tx_packets: int


def list_interfaces() -> list[InterfaceInfo]:
    out: list[InterfaceInfo] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            try:
                res = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, _IFREQ.pack(name.encode(), 0))
            except OSError:
                continue
            flags = _IFREQ.unpack(res)[1]
            out.append(InterfaceInfo(name, bool(flags & IFF_UP), bool(flags & IFF_LOOPBACK)))
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


class CounterReader:
    """The kernel's per-interface byte counters, read from /proc/thread-self/net/dev.

    The file is opened once (it stays bound to the namespace it was opened in)
    and re-read from the start on every call.
    """

    def __init__(self) -> None:
        self._file = open("/proc/thread-self/net/dev", "rb")

    def read(self) -> dict[str, KernelCounters]:
        self._file.seek(0)
        out: dict[str, KernelCounters] = {}
        for line in self._file.read().decode().splitlines()[2:]:
            name, _, rest = line.partition(":")
            f = rest.split()
            if len(f) >= 10:
                out[name.strip()] = KernelCounters(int(f[0]), int(f[1]), int(f[8]), int(f[9]))
        return out

    def close(self) -> None:
        self._file.close()


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
