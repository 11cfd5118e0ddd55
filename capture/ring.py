"""The default live source: a TPACKET_V3 receive ring shared with the kernel through mmap.

Python has no recvmmsg, and one system call per frame costs more than all the
parsing after it (see PERFORMANCE.md). With PACKET_RX_RING the kernel writes
frames straight into memory mapped into this process, grouped in blocks; a
block is handed to user space when it is full or when its retire timer
expires. Reading is then a walk over memory with `struct`: no system call per
frame, none per block either.

Layouts, from the kernel's include/uapi/linux/if_packet.h (native byte order):

    struct tpacket_block_desc       (at the start of every block)
      0  u32 version
      4  u32 offset_to_priv
      8  u32 block_status          TP_STATUS_KERNEL 0 / TP_STATUS_USER 1 (+ flags)
     12  u32 num_pkts
     16  u32 offset_to_first_pkt   from the block start
     20  u32 blk_len  ...          (sequence number and timestamps follow)

    struct tpacket3_hdr             (at the start of every frame, 48 bytes)
      0  u32 tp_next_offset        from this frame to the next in the block
      4  u32 tp_sec, 8 u32 tp_nsec
     12  u32 tp_snaplen            bytes captured
     16  u32 tp_len                the frame's length on the wire
     20  u32 tp_status
     24  u16 tp_mac                from the frame start to the link-layer header
     26  u16 tp_net, 28..47 VLAN fields and padding

    struct sockaddr_ll              at TPACKET_ALIGN(48) = 48 from the frame start
     10  u8 sll_pkttype            so at 58 from the frame start
"""

from __future__ import annotations

import mmap
import struct

from trafficmon.capture import bpf
from trafficmon.capture.afpacket import SOL_PACKET, CaptureLost, PacketSocketSource
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.errors import CaptureError

PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1

BLOCK_SIZE = 1 << 20
"""1 MiB holds ~5,000 frames truncated to 128 bytes: one block per ~50 ms at 100k frames/s."""

FRAME_SIZE = 2048
"""Only checked by the kernel's arithmetic (frames per block); V3 packs frames by their real size."""

RETIRE_MS = 50
"""A partly filled block reaches the reader after at most this long: frames are never late by a tick."""

MIN_BLOCKS = 4
MAX_BLOCKS = 1024

_BLOCK = struct.Struct("=8xIII")  # block_status, num_pkts, offset_to_first_pkt
_FRAME = struct.Struct("=I8xII4xH32xB")  # tp_next_offset, tp_snaplen, tp_len, tp_mac, sll_pkttype
_STATUS = struct.Struct("=I")
_STATUS_OFFSET = 8
_REQ3 = struct.Struct("=7I")  # struct tpacket_req3


class RingUnavailable(CaptureError):
    """This kernel or machine could not give the socket a ring; a plain socket still works."""


class RingSource(PacketSocketSource):
    """Frames from a TPACKET_V3 mmap ring, truncated in the kernel by a BPF program.

    The ring's size comes from `config.rcvbuf_bytes` (whole 1 MiB blocks, at
    least 4): the same memory bound as the plain socket's receive buffer.
    `read()` returns a read-only memoryview of the whole ring with offsets; the
    blocks it read are handed back to the kernel at the start of the next
    read(), which is how long those frames stay valid. One read() takes at
    most a quarter of the ring, so other interfaces in the same thread get
    their turn while this one is busy.
    """

    def __init__(self, iface: str, config: EngineConfig) -> None:
        self._blocks = max(MIN_BLOCKS, min(MAX_BLOCKS, config.rcvbuf_bytes // BLOCK_SIZE))
        self._max_blocks_per_read = max(1, self._blocks // 4)
        self._next = 0
        self._held: list[int] = []
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None
        super().__init__(iface, config)

    def _program(self, config: EngineConfig) -> list[bpf.Insn]:
        if config.capture_filter:
            return bpf.with_accept(bpf.compile_expression(config.capture_filter, self.linktype), config.snaplen)
        return bpf.snaplen_program(config.snaplen)

    def _prepare(self, config: EngineConfig) -> None:
        size = BLOCK_SIZE * self._blocks
        request = _REQ3.pack(BLOCK_SIZE, self._blocks, FRAME_SIZE, size // FRAME_SIZE, RETIRE_MS, 0, 0)
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            self._sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
            self._map = mmap.mmap(self._sock.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as exc:
            raise RingUnavailable(f"no TPACKET_V3 ring on {self.iface!r}: {exc.strerror or exc}") from exc
        self._view = memoryview(self._map).toreadonly()

    def read(self) -> list[tuple[memoryview, int, int, int, int]]:
        """Frames of every block the kernel has retired, up to a quarter of the ring; never blocks."""
        ring = self._map
        view = self._view
        if ring is None or view is None:
            raise CaptureLost(f"capture on {self.iface!r} is closed")
        release = _STATUS.pack_into
        for block in self._held:
            release(ring, block + _STATUS_OFFSET, TP_STATUS_KERNEL)
        held: list[int] = []
        self._held = held
        frames: list[tuple[memoryview, int, int, int, int]] = []
        append = frames.append
        block_header = _BLOCK.unpack_from
        frame_header = _FRAME.unpack_from
        index = self._next
        for _ in range(self._max_blocks_per_read):
            block = index * BLOCK_SIZE
            status, count, first = block_header(ring, block)
            if not status & TP_STATUS_USER:
                break
            held.append(block)
            at = block + first
            for _ in range(count):
                step, caplen, wirelen, mac, pkttype = frame_header(ring, at)
                append((view, at + mac, caplen, wirelen, pkttype))
                at += step
            index = (index + 1) % self._blocks
        self._next = index
        if not held:
            self._raise_socket_error()
        return frames

    def close(self) -> None:
        """Unmap the ring and close the socket; idempotent.

        A caller still holding a slice of the last batch keeps the mapping
        alive: it is then unmapped when the last such slice is released.
        """
        self._held = []
        try:
            if self._view is not None:
                self._view.release()
            if self._map is not None:
                self._map.close()
        except BufferError:
            pass
        self._view = None
        self._map = None
        super().close()
