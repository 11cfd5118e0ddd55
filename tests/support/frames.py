"""An engine fed from memory: frames a test builds with scapy, interfaces and kernel counters it sets.

`MemoryHost` stands in for everything the engine opens and reads (its
`open_source` factory and its `host`, see `capture.host`), so direction,
counting, coverage and re-opening run without root and without a kernel.
Each open makes a new `MemorySource`, whose descriptor (an eventfd) is
readable while pushed frames wait, so the engine's sniffer polls it as it
polls a live ring.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from trafficmon.capture.afpacket import CaptureLost
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.host import Host
from trafficmon.capture.interfaces import InterfaceInfo
from trafficmon.capture.netdev import KernelCounters
from trafficmon.capture.sources import LINKTYPE_ETHERNET, PACKET_HOST, PACKET_OUTGOING, Frame

HOST_MAC, PEER_MAC, BROADCAST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: int) -> bytes:
    """An Ethernet frame of one UDP datagram carrying `payload` bytes."""
    return bytes(Ether(src=HOST_MAC, dst=PEER_MAC) / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport)
                 / Raw(b"x" * payload))


def arp_frame(op: str, sender: str, target: str) -> bytes:
    """An ARP request ("who-has", broadcast) or reply ("is-at") between `sender` and `target`."""
    dst = BROADCAST_MAC if op == "who-has" else PEER_MAC
    return bytes(Ether(src=HOST_MAC, dst=dst) / ARP(op=op, psrc=sender, pdst=target))


def sent(frame: bytes) -> tuple[bytes, int]:
    """`frame` as the kernel hands over one this host sent."""
    return frame, PACKET_OUTGOING


def received(frame: bytes) -> tuple[bytes, int]:
    """`frame` as the kernel hands over one addressed to this host."""
    return frame, PACKET_HOST


class MemorySource:
    """A frame source a test pushes frames into; `lose()` makes it fail as a vanished interface does."""

    def __init__(self, iface: str) -> None:
        self.iface = iface
        self.linktype = LINKTYPE_ETHERNET
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._lock = threading.Lock()
        self._pending: list[Frame] = []
        self._delivered = 0
        self._lost = False
        self._idle = threading.Event()
        self._idle.set()
        self.closed = False

    def push(self, frames: Iterable[tuple[bytes, int]]) -> None:
        """Queue (frame, pkttype) pairs, each as long on the wire as it is."""
        with self._lock:
            self._pending.extend((data, 0, len(data), len(data), pkttype) for data, pkttype in frames)
            self._idle.clear()
            os.eventfd_write(self._fd, 1)

    def lose(self) -> None:
        """Make the next read raise CaptureLost, as a ring does when its interface goes."""
        with self._lock:
            self._lost = True
            os.eventfd_write(self._fd, 1)

    def wait_read(self, timeout: float = 5.0) -> None:
        """Wait until the reader took every frame pushed and came back for more (so it counted them)."""
        if not self._idle.wait(timeout):
            raise AssertionError(f"the engine did not read the frames pushed to {self.iface} within {timeout:g} s")

    def fileno(self) -> int:
        return self._fd

    def read(self) -> list[Frame]:
        """What was pushed; the descriptor stays readable after a batch, so the reader comes back for []."""
        with self._lock:
            if self._lost:
                raise CaptureLost(f"interface {self.iface!r} is down or was removed")
            batch, self._pending = self._pending, []
            if not batch:
                try:
                    os.eventfd_read(self._fd)
                except BlockingIOError:
                    pass
                self._idle.set()
            self._delivered += len(batch)
            return batch

    def stats(self) -> tuple[int, int]:
        delivered, self._delivered = self._delivered, 0
        return delivered, 0

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                os.close(self._fd)


class MemoryHost:
    """Interfaces, the host's addresses and the kernel's counters, as a test sets them; sources per open."""

    def __init__(self, interfaces: Iterable[str], addresses: Iterable[str]) -> None:
        self.names = list(interfaces)
        self._addresses = frozenset(_packed(a) for a in addresses)
        self.kernel: dict[str, KernelCounters] = {name: KernelCounters(0, 0, 0, 0) for name in self.names}
        self.opened: dict[str, list[MemorySource]] = {name: [] for name in self.names}
        self.speeds_read: list[str] = []
        """The interfaces whose speed the engine read, in order."""
        self.host = Host(self._interfaces, lambda: self._addresses, lambda: self, self._speed_bps)

    def open_source(self, iface: str, config: EngineConfig) -> MemorySource:
        """The engine's frame-source factory: a new source for each open and re-open."""
        source = MemorySource(iface)
        self.opened[iface].append(source)
        return source

    def source(self, iface: str) -> MemorySource:
        """The source the engine opened last on `iface`."""
        return self.opened[iface][-1]

    def count(self, iface: str, tx_bytes: int = 0, rx_bytes: int = 0) -> None:
        """Move the kernel's counters of `iface` on, as though it carried that much more (a packet each way)."""
        k = self.kernel[iface]
        self.kernel[iface] = KernelCounters(k.rx_bytes + rx_bytes, k.rx_packets + bool(rx_bytes),
                                            k.tx_bytes + tx_bytes, k.tx_packets + bool(tx_bytes))

    def _speed_bps(self, iface: str) -> float | None:
        """None: no link speed known, as a veth's driver says."""
        self.speeds_read.append(iface)
        return None

    def _interfaces(self) -> list[InterfaceInfo]:
        return [InterfaceInfo(name, True, False) for name in self.names]

    def read(self) -> dict[str, KernelCounters]:
        return dict(self.kernel)

    def close(self) -> None:
        """Nothing to release: the counters are the test's."""


def _packed(address: str) -> bytes:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.inet_pton(family, address)
