"""Classic BPF programs for AF_PACKET sockets, attached with SO_ATTACH_FILTER.

The kernel runs a socket's filter on every frame before it queues it; the
filter's return value is how many bytes of the frame to keep (0 drops it). So a
one-instruction program `ret #snaplen` truncates frames in the kernel without
libpcap, and a user's tcpdump-syntax filter (compiled by libpcap through scapy)
can be made to truncate too by rewriting its accept returns. The layouts below
are the kernel's `struct sock_filter` and `struct sock_fprog`
(include/uapi/linux/filter.h).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from dataclasses import dataclass

from scapy.arch.common import compile_filter, free_filter
from scapy.error import Scapy_Exception

from trafficmon.capture.errors import CaptureError

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27

BPF_JMP_JA = 0x05  # BPF_JMP | BPF_JA: pc += k
BPF_JMP_JGT_K = 0x25  # BPF_JMP | BPF_JGT | BPF_K: A > k ? jt : jf
BPF_RET_K = 0x06  # BPF_RET | BPF_K: return k
BPF_RET_A = 0x16  # BPF_RET | BPF_A: return the accumulator
BPF_MAXINSNS = 4096

WHOLE_FRAME = 0xFFFFFFFF
"""An accept value larger than any frame: keep it whole."""

LIBPCAP_MISSING = "CAPTURE_FILTER needs libpcap (Debian package libpcap0.8), which is not installed"

_INSN = struct.Struct("=HBBI")  # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
_FPROG = struct.Struct("@HP")  # struct sock_fprog { unsigned short len; struct sock_filter *filter; }


@dataclass(frozen=True, slots=True)
class Insn:
    """One classic BPF instruction."""

    code: int
    jt: int
    jf: int
    k: int


def snaplen_program(snaplen: int) -> list[Insn]:
    """Accept every frame, keeping its first `snaplen` bytes."""
    return [Insn(BPF_RET_K, 0, 0, snaplen)]


DROP_ALL: list[Insn] = [Insn(BPF_RET_K, 0, 0, 0)]
"""Queue nothing: holds a socket quiet while it is being set up."""


def compile_expression(expression: str, linktype: int) -> list[Insn]:
    """Compile a tcpdump-syntax filter for `linktype` frames with libpcap (through scapy).

    Raises CaptureError naming the missing library when libpcap is absent, or
    libpcap's own complaint when the expression does not compile.
    """
    try:
        program = compile_filter(expression, linktype=linktype)
    except ImportError as exc:
        raise CaptureError(LIBPCAP_MISSING) from exc
    except Scapy_Exception as exc:
        raise CaptureError(f"CAPTURE_FILTER {expression!r} does not compile: {exc}") from exc
    try:
        return [
            Insn(i.code, i.jt, i.jf, i.k)
            for i in (program.bf_insns[n] for n in range(program.bf_len))
        ]
    finally:
        free_filter(program)


def with_accept(program: list[Insn], accept: int) -> list[Insn]:
    """The same program, but every frame it accepts is kept to `accept` bytes.

    libpcap's programs accept with `ret #<its own snaplen>` (262144 or 65535):
    for a ring that would copy whole frames, and for a plain socket 65535 would
    trim a large GSO frame and lose its real length. Every non-zero `ret #k`
    becomes `ret #accept`. A `ret a` (valid, though libpcap does not emit it)
    jumps to a tail that returns min(A, accept), keeping the cap exact.
    """
    out: list[Insn] = []
    tail = len(program)
    needs_tail = False
    for pc, insn in enumerate(program):
        if insn.code == BPF_RET_K and insn.k != 0:
            out.append(Insn(BPF_RET_K, 0, 0, accept))
        elif insn.code == BPF_RET_A and accept != WHOLE_FRAME:
            out.append(Insn(BPF_JMP_JA, 0, 0, tail - pc - 1))
            needs_tail = True
        else:
            out.append(insn)
    if needs_tail:
        out += [
            Insn(BPF_JMP_JGT_K, 0, 1, accept),
            Insn(BPF_RET_K, 0, 0, accept),
            Insn(BPF_RET_A, 0, 0, 0),
        ]
    if len(out) > BPF_MAXINSNS:
        raise CaptureError(f"capture filter too long: {len(out)} BPF instructions (kernel limit {BPF_MAXINSNS})")
    return out


def attach(sock: socket.socket, program: list[Insn]) -> None:
    """Attach `program` to `sock`, atomically replacing any filter it had."""
    code = b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in program)
    insns = ctypes.create_string_buffer(code, len(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, _FPROG.pack(len(program), ctypes.addressof(insns)))


def detach(sock: socket.socket) -> None:
    """Remove `sock`'s filter: every frame is queued whole again."""
    sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
