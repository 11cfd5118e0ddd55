"""Floods of flows for the flood and memory tests, and what a process holds in memory."""

from __future__ import annotations

from pathlib import Path

FLOOD = """
import socket, sys
v4, v6, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for family, address in ((socket.AF_INET, v4), (socket.AF_INET6, v6)):
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for port in range(first, last):
            while True:
                try:
                    s.sendto(b"flood", (address, port))
                    break
                except BlockingIOError:
                    pass
print("sent", flush=True)
"""
"""One datagram per destination, bounded by the port range; it stops by itself."""


def resident(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
