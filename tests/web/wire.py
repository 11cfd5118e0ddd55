"""What a TCP socket has delivered, from the kernel's own count (for measuring compressed WebSocket traffic)."""

from __future__ import annotations

import socket
import struct

TCP_INFO_BYTES_ACKED = 120
"""Offset of `tcpi_bytes_acked` (u64, Linux >= 4.1) in `struct tcp_info` (linux/tcp.h)."""


def bytes_acked(sock: socket.socket) -> int:
    """Bytes this socket sent that the peer's kernel acknowledged: what went over the wire, headers aside."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("=Q", info, TCP_INFO_BYTES_ACKED)[0])
