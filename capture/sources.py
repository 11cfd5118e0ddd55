"""Frame sources: the seam between where frames come from and the engine that counts them.

The engine only knows `FrameSource`. Live capture on Linux is `RingSource`
(TPACKET_V3 mmap ring, the default) or `SocketSource` (one system call per
frame, the fallback); `PcapSource` replays files; `ListSource` feeds frames
from memory so most tests need no root. A capture source for another platform
(BPF devices on BSD/macOS) would be one more class with the same five members.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from typing import Any, Protocol

from trafficmon.capture.afpacket import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    NEEDS_PRIVILEGE,
    CaptureLost,
    SocketSource,
)
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.netns import entered
from trafficmon.capture.pcapfile import PKTTYPE_UNKNOWN, PcapSource
from trafficmon.capture.ring import RingSource, RingUnavailable

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "NEEDS_PRIVILEGE",
    "PACKET_BROADCAST",
    "PACKET_HOST",
    "PACKET_MULTICAST",
    "PACKET_OTHERHOST",
    "PACKET_OUTGOING",
    "PKTTYPE_UNKNOWN",
    "CaptureError",
    "CaptureLost",
    "Frame",
    "FrameSource",
    "ListSource",
    "PcapSource",
    "RingSource",
    "RingUnavailable",
    "SocketSource",
    "open_source",
]

log = logging.getLogger(__name__)

PACKET_HOST = socket.PACKET_HOST  # 0: to this host
PACKET_BROADCAST = socket.PACKET_BROADCAST  # 1
PACKET_MULTICAST = socket.PACKET_MULTICAST  # 2
PACKET_OTHERHOST = socket.PACKET_OTHERHOST  # 3: to another host, seen here (forwarded, bridged)
PACKET_OUTGOING = socket.PACKET_OUTGOING  # 4: sent by this host

Frame = tuple[Any, int, int, int, int]
"""(buf, offset, caplen, wirelen, pkttype): the frame is buf[offset:offset + caplen].

`wirelen` is the frame's original length on the wire, `pkttype` the kernel's
sll_pkttype (PACKET_*) or -1 when unknown. `buf` may be a memoryview into a
ring: it stays valid until the source's next read() or close().
"""


class FrameSource(Protocol):
    """Where frames come from; what the engine reads, whichever kind it is."""

    iface: str
    linktype: int
    """pcap LINKTYPE_* of the frames (for a pcapng file: of the latest read())."""

    def fileno(self) -> int:
        """A descriptor for select/poll; -1 for a source that is always ready."""
        ...

    def read(self) -> list[Frame]:
        """Drain what is ready without blocking; may be []."""
        ...

    def stats(self) -> tuple[int, int]:
        """(packets, drops) since the previous call; packets include the drops."""
        ...

    def close(self) -> None:
        """Release the socket, ring or file; idempotent."""
        ...


def open_source(iface: str, config: EngineConfig) -> FrameSource:
    """The best live source for `iface`: the mmap ring, else a plain socket.

    Opened inside `config.netns` when it names one (the socket stays there).
    Raises CaptureError saying why capture cannot run: missing privilege
    ("needs root or CAP_NET_RAW"), interface missing or down, an unparseable
    link type, or a CAPTURE_FILTER without libpcap.
    """
    with entered(config.netns):
        try:
            return RingSource(iface, config)
        except RingUnavailable as exc:
            log.warning("%s; capturing with one system call per frame instead", exc)
        return SocketSource(iface, config)


class ListSource:
    """Frames from memory, for tests and tools: no root, no kernel.

    Each frame is bytes (wirelen = its length, pkttype -1), or a tuple
    (bytes, wirelen) or (bytes, wirelen, pkttype). `read()` hands out up to
    `batch` frames (all when None) per call, then [] with `exhausted` set.
    """

    def __init__(
        self,
        frames: Iterable[bytes | tuple[bytes, int] | tuple[bytes, int, int]],
        linktype: int = LINKTYPE_ETHERNET,
        iface: str = "list",
        batch: int | None = None,
    ) -> None:
        self.iface = iface
        self.linktype = linktype
        self.exhausted = False
        self._frames = [self._frame(f) for f in frames]
        self._batch = batch if batch is not None else max(1, len(self._frames))
        self._at = 0
        self._delivered = 0

    @staticmethod
    def _frame(item: bytes | tuple[bytes, int] | tuple[bytes, int, int]) -> Frame:
        if isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
            return data, 0, len(data), len(data), PKTTYPE_UNKNOWN
        data = bytes(item[0])
        wirelen = item[1]
        pkttype = item[2] if len(item) > 2 else PKTTYPE_UNKNOWN  # type: ignore[misc]
        return data, 0, len(data), wirelen, pkttype

    def fileno(self) -> int:
        """-1: frames in memory are always ready."""
        return -1

    def read(self) -> list[Frame]:
        """The next batch; [] once every frame was handed out."""
        batch = self._frames[self._at:self._at + self._batch]
        self._at += len(batch)
        self._delivered += len(batch)
        if self._at >= len(self._frames):
            self.exhausted = True
        return batch

    def stats(self) -> tuple[int, int]:
        """(frames handed out, 0) since the previous call."""
        delivered, self._delivered = self._delivered, 0
        return delivered, 0

    def close(self) -> None:
        """Nothing to release; further reads return []."""
        self._at = len(self._frames)
        self.exhausted = True
