"""Tells the attribution thread about new TCP connections the instant their SYN passes.

The mmap ring hands frames over in blocks, milliseconds after they passed;
a short download over a fast link opens, moves 200 kB and closes in about a
millisecond, so by the time its first frame comes out of the ring its socket
may be gone and no process can be found for it any more. This second,
ring-less packet socket carries nothing but SYN segments (a BPF program drops
everything else in the kernel), so it wakes the attribution thread at once for each new
connection, at a cost of one small frame per connection. It counts no bytes:
the ring does that.
"""

from __future__ import annotations

import socket

from trafficmon.capture import bpf
from trafficmon.capture.afpacket import open_listen_socket
from trafficmon.capture.bpf import Insn
from trafficmon.capture.parse import LINKTYPE_ETHERNET, Parser

_LDH_ABS, _LDB_ABS, _LDXB_MSH, _LDB_IND = 0x28, 0x30, 0xB1, 0x50
_JA, _JEQ, _JSET, _AND, _RET = 0x05, 0x15, 0x45, 0x54, 0x06
_KEEP = 128
_BATCH = 256

Line = tuple[int, int | str, int | str, int] | str


def _assemble(lines: list[Line]) -> list[Insn]:
    """Resolve jump labels (strings) to the relative offsets classic BPF uses."""
    labels: dict[str, int] = {}
    body: list[tuple[int, int | str, int | str, int]] = []
    for line in lines:
        if isinstance(line, str):
            labels[line] = len(body)
        else:
            body.append(line)
    out: list[Insn] = []
    for pc, (code, jt, jf, k) in enumerate(body):
        rel = [labels[j] - pc - 1 if isinstance(j, str) else j for j in (jt, jf)]
        if code == _JA:
            out.append(Insn(code, 0, 0, rel[0]))
        else:
            out.append(Insn(code, rel[0], rel[1], k))
    return out


def syn_program(linktype: int) -> list[Insn]:
    """Keep TCP segments with SYN set and ACK clear (IPv4, and IPv6 without extension headers)."""
    h = 14 if linktype == LINKTYPE_ETHERNET else 0
    if h:
        head: list[Line] = [(_LDH_ABS, 0, 0, 12), (_JEQ, 0, "v6", 0x0800)]
        v6_test: list[Line] = [(_JEQ, 0, "drop", 0x86DD)]
    else:
        head = [(_LDB_ABS, 0, 0, 0), (_AND, 0, 0, 0xF0), (_JEQ, 0, "v6", 0x40)]
        v6_test = [(_JEQ, 0, "drop", 0x60)]
    return _assemble([
        *head,
        (_LDB_ABS, 0, 0, h + 9), (_JEQ, 0, "drop", socket.IPPROTO_TCP),
        (_LDH_ABS, 0, 0, h + 6), (_JSET, "drop", 0, 0x1FFF),
        (_LDXB_MSH, 0, 0, h),
        (_LDB_IND, 0, 0, h + 13),
        (_JA, "flags", 0, 0),
        "v6", *v6_test,
        (_LDB_ABS, 0, 0, h + 6), (_JEQ, 0, "drop", socket.IPPROTO_TCP),
        (_LDB_ABS, 0, 0, h + 40 + 13),
        "flags", (_AND, 0, 0, 0x12), (_JEQ, "keep", "drop", 0x02),
        "keep", (_RET, 0, 0, _KEEP),
        "drop", (_RET, 0, 0, 0),
    ])


class SynWatch:
    """A SYN-only packet socket on one interface, read without blocking."""

    def __init__(self, iface: str, linktype: int) -> None:
        self.iface = iface
        self.linktype = linktype
        self._listen = open_listen_socket(iface)
        self._sock: socket.socket = self._listen.ins
        bpf.attach(self._sock, syn_program(linktype))
        self._sock.setblocking(False)
        while True:  # frames queued before the filter was attached are not SYNs necessarily
            try:
                self._sock.recv(1)
            except BlockingIOError:
                break
        self._buf = bytearray(_KEEP)
        self._parser = Parser()

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> list[tuple[int, bytes, int, bytes, int]]:
        """Flow keys (local side first, by the kernel's packet type) of each SYN waiting."""
        out: list[tuple[int, bytes, int, bytes, int]] = []
        buf = self._buf
        for _ in range(_BATCH):
            try:
                n, addr = self._sock.recvfrom_into(buf, _KEEP)
            except BlockingIOError:
                break
            key = self._parser.parse(buf, 0, n, self.linktype)
            if key is None:
                continue
            proto, src, sport, dst, dport = key
            out.append(key if addr[2] == socket.PACKET_OUTGOING else (proto, dst, dport, src, sport))
        return out

    def close(self) -> None:
        self._listen.close()
