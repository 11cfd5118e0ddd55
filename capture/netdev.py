"""The kernel's per-interface counters, as /proc/net/dev shows them to one network namespace.

psutil reads /proc/net/dev by path, which answers for the namespace of the
process. A /proc/thread-self/net/dev file opened by a thread inside another
namespace stays bound to that namespace for good, so both the capture engine
(its threads in the namespace) and the accounting (the file opened inside it
once) read an open file here, from its start each time.
"""

from __future__ import annotations

from typing import BinaryIO, NamedTuple

NET_DEV = "/proc/thread-self/net/dev"
"""The calling thread's namespace's counters (/proc/net/dev is the process's)."""

_HEADER_LINES = 2
# Columns after "name:": received bytes and packets, then transmitted bytes and packets from the ninth.
_RX_BYTES, _RX_PACKETS, _TX_BYTES, _TX_PACKETS = 0, 1, 8, 9


class KernelCounters(NamedTuple):
    """One interface's counters since it was created (or since boot), as wide as the kernel keeps them."""

    rx_bytes: int
    rx_packets: int
    tx_bytes: int
    tx_packets: int


def read_net_dev(file: BinaryIO) -> dict[str, KernelCounters]:
    """Every interface's counters in `file` (an open /proc/.../net/dev), re-read from its start."""
    file.seek(0)
    out: dict[str, KernelCounters] = {}
    for line in file.read().decode().splitlines()[_HEADER_LINES:]:
        name, _, rest = line.partition(":")
        columns = rest.split()
        if len(columns) > _TX_PACKETS:
            out[name.strip()] = KernelCounters(
                int(columns[_RX_BYTES]), int(columns[_RX_PACKETS]), int(columns[_TX_BYTES]), int(columns[_TX_PACKETS])
            )
    return out


class CounterReader:
    """The calling thread's namespace's counters: `NET_DEV` opened once, then read on every call."""

    def __init__(self) -> None:
        self._file = open(NET_DEV, "rb")

    def read(self) -> dict[str, KernelCounters]:
        return read_net_dev(self._file)

    def close(self) -> None:
        self._file.close()
