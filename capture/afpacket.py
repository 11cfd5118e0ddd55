"""Live capture on Linux AF_PACKET sockets, opened through scapy's listen socket.

Both live frame sources (the mmap ring in `capture.ring` and the plain socket
here) share one opening sequence, so that every frame the kernel counts is a
frame the reader sees, filtered and truncated as configured:

1. scapy's `L2ListenSocket` opens and binds the socket (ETH_P_ALL, both
   directions, no promiscuous mode). It starts queueing frames at once, before
   any filter could be attached;
2. a drop-everything BPF program is attached, so nothing more is queued;
3. the source sets up its receive path (ring, or a large socket buffer);
4. whatever was queued before step 2 is flushed (a bounded loop: nothing new
   arrives), and the kernel's PACKET_STATISTICS are read, which zeroes them;
5. the real program replaces the drop-everything one in one system call.

The socket belongs to the network namespace of the thread that opens it and
stays there (see `capture.netns`).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct

from scapy.arch.linux import L2ListenSocket
from scapy.interfaces import NetworkInterface

from trafficmon.capture import bpf
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.parse import LINKTYPE_ETHERNET, LINKTYPE_RAW

SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33


_ETHERNET_HATYPES = frozenset({
    1,  # ARPHRD_ETHER: Ethernet, veth, bridges, bonds, VLAN devices
    772,  # ARPHRD_LOOPBACK: lo carries zeroed Ethernet headers
})
_RAW_IP_HATYPES = frozenset({
    0xFFFE,  # ARPHRD_NONE: tun, WireGuard
    519,  # ARPHRD_RAWIP: some mobile-broadband modems
    512,  # ARPHRD_PPP: ppp devices hand AF_PACKET the bare IP packet
    768,  # ARPHRD_TUNNEL: ipip
    769,  # ARPHRD_TUNNEL6: ip6tnl
    776,  # ARPHRD_SIT: sit (IPv6 in IPv4)
})

NEEDS_PRIVILEGE = "needs root or CAP_NET_RAW"


class _NoDissectorWarning(logging.Filter):
    """Hide scapy's "Unable to guess type" warning on opening a socket.

    It says which scapy class would dissect the frames; frames here are never
    dissected by scapy, so on a raw-IP device it is noise in the service log.
    scapy's own rate filter words a repeat within its threshold "more ...":
    that is the same warning (met when a capture is re-opened).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).removeprefix("more ").startswith("Unable to guess type")


logging.getLogger("scapy.runtime").addFilter(_NoDissectorWarning())


def linktype_of(hatype: int, iface: str) -> int:
    """The pcap link type of frames read with SOCK_RAW from a device of ARPHRD type `hatype`."""
    if hatype in _ETHERNET_HATYPES:
        return LINKTYPE_ETHERNET
    if hatype in _RAW_IP_HATYPES:
        return LINKTYPE_RAW
    raise CaptureError(f"interface {iface!r} has link-layer type ARPHRD {hatype}, which trafficmon cannot parse")


class CaptureLost(CaptureError, OSError):
    """A capture that was running stopped (interface down or removed): reopen it later.

    Also an OSError, because that is what a failing socket raises: a caller
    that handles socket failures as OSError handles this one too.
    """


def _down(iface: str) -> CaptureLost:
    return CaptureLost(f"interface {iface!r} is down or was removed")


def open_listen_socket(iface: str) -> L2ListenSocket:
    """scapy's Linux listen socket on `iface`, bound, not promiscuous, without a filter.

    The interface is handed to scapy as a ready-made `NetworkInterface`: given
    a name it does not know, scapy reloads its global interface list, which
    from a thread inside another network namespace would replace the host's
    list for every other thread of the process.
    """
    device = NetworkInterface(None, {"name": iface, "network_name": iface})  # type: ignore[arg-type]
    listen = L2ListenSocket.__new__(L2ListenSocket)
    try:
        listen.__init__(iface=device, promisc=False, nofilter=1)  # type: ignore[misc]
    except OSError as exc:
        ins = getattr(listen, "ins", None)
        if ins is not None:
            ins.close()
        if isinstance(exc, PermissionError):
            raise CaptureError(f"capturing on {iface!r} {NEEDS_PRIVILEGE}") from exc
        if exc.errno == errno.ENODEV:
            raise CaptureError(f"interface {iface!r} not found") from exc
        if exc.errno == errno.ENETDOWN:
            raise _down(iface) from exc
        raise CaptureError(f"cannot capture on {iface!r}: {exc.strerror or exc}") from exc
    return listen


class PacketSocketSource:
    """What the live sources share: opening, filter sequence, kernel statistics, closing.

    Subclasses say which program they want (`_program`) and set up their
    receive path (`_prepare`); `iface` and `linktype` are the FrameSource
    attributes.
    """

    _STATS = struct.Struct("=II")
    """struct tpacket_stats: tp_packets (drops included), tp_drops. With TPACKET_V3
    the kernel's struct tpacket_stats_v3 adds tp_freeze_q_cnt after these two;
    asking for 8 bytes gets the same two fields either way."""

    def __init__(self, iface: str, config: EngineConfig) -> None:
        self.iface = iface
        self._listen = open_listen_socket(iface)
        self._sock: socket.socket = self._listen.ins
        try:
            self.linktype = linktype_of(self._sock.getsockname()[3], iface)
            program = self._program(config)
            bpf.attach(self._sock, bpf.DROP_ALL)
            self._prepare(config)
            self._flush()
            self.stats()
            if program is None:
                bpf.detach(self._sock)
            else:
                bpf.attach(self._sock, program)
        except BaseException:
            self.close()
            raise

    def _program(self, config: EngineConfig) -> list[bpf.Insn] | None:
        """The BPF program frames pass once capture starts; None for no filter at all."""
        raise NotImplementedError

    def _prepare(self, config: EngineConfig) -> None:
        """Set up the receive path while the socket is held quiet."""
        raise NotImplementedError

    def _flush(self) -> None:
        """Discard frames queued before the filter; ends because nothing new is queued."""
        while True:
            try:
                self._sock.recv(1, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENETDOWN:
                    raise _down(self.iface) from exc
                raise

    def _raise_socket_error(self) -> None:
        """Turn a pending socket error (interface down or removed) into CaptureLost.

        A ring reader never calls recv, which is where the kernel reports such
        errors; without this check poll() would keep flagging the socket while
        read() found nothing, forever.
        """
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == errno.ENETDOWN:
            raise _down(self.iface)
        if err:
            raise CaptureLost(f"capture on {self.iface!r} failed: {os.strerror(err)}")

    def fileno(self) -> int:
        """The socket, for select/poll; -1 once closed."""
        return self._sock.fileno()

    def stats(self) -> tuple[int, int]:
        """Kernel (packets, drops) since the previous call.

        PACKET_STATISTICS zeroes the kernel's counters on every read, so what it
        returns is already the delta. `packets` counts every frame that passed
        the filter, dropped ones included.
        """
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, self._STATS.size)
        packets, drops = self._STATS.unpack_from(raw)
        return packets, drops

    def close(self) -> None:
        """Close the socket; idempotent."""
        self._listen.close()


class SocketSource(PacketSocketSource):
    """The fallback live source: one recvfrom_into system call per frame.

    No BPF truncation here: a filter's trim would also cut the length that
    MSG_TRUNC reports, and the wire length would be lost. Instead each frame's
    first `snaplen` bytes land in their own slot of one preallocated buffer and
    MSG_TRUNC returns the real length. A read() drains at most `batch` frames
    so one busy interface cannot starve the others sharing the thread.
    """

    def __init__(self, iface: str, config: EngineConfig, batch: int = 4096) -> None:
        self._snaplen = config.snaplen
        self._batch = batch
        self._failure: CaptureLost | None = None
        super().__init__(iface, config)

    def _program(self, config: EngineConfig) -> list[bpf.Insn] | None:
        if not config.capture_filter:
            return None
        return bpf.with_accept(bpf.compile_expression(config.capture_filter, self.linktype), bpf.WHOLE_FRAME)

    def _prepare(self, config: EngineConfig) -> None:
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, config.rcvbuf_bytes)
        except PermissionError:  # forcing past rmem_max needs CAP_NET_ADMIN
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, config.rcvbuf_bytes)
        self._sock.setblocking(False)
        snap = self._snaplen
        buffer = bytearray(snap * self._batch)
        whole = memoryview(buffer)
        self._slots = [whole[i * snap:(i + 1) * snap] for i in range(self._batch)]
        self._view = whole.toreadonly()

    def read(self) -> list[tuple[memoryview, int, int, int, int]]:
        """Drain what is queued, without blocking; frames stay valid until the next read()."""
        if self._failure is not None:
            raise self._failure
        recv = self._sock.recvfrom_into
        view = self._view
        snap = self._snaplen
        frames: list[tuple[memoryview, int, int, int, int]] = []
        append = frames.append
        try:
            for i, slot in enumerate(self._slots):
                wirelen, address = recv(slot, snap, socket.MSG_TRUNC)
                append((view, i * snap, wirelen if wirelen < snap else snap, wirelen, address[2]))  # noqa: FURB136 (no call per frame)
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno == errno.ENETDOWN:
                failure = _down(self.iface)
            else:
                failure = CaptureLost(f"capture on {self.iface!r} failed: {exc.strerror or exc}")
            failure.__cause__ = exc
            if not frames:
                raise failure from exc
            self._failure = failure  # recv consumed the error: report it on the next read()
        return frames
