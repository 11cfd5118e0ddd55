"""One captured interface's kernel byte counters, added up reading by reading.

Capture health holds the bytes captured against the bytes the kernel counted
(coverage), and the interface figures show the kernel's own totals since the
capture began. Those are added up from deltas rather than subtracted from a
base, because an interface re-created under the same name counts from zero
again.
"""

from __future__ import annotations

import math

from trafficmon.capture.counter_step import interface_steps, platform_counter_bits, plausible_bytes
from trafficmon.capture.netdev import KernelCounters

_NO_COUNTERS = KernelCounters(0, 0, 0, 0)
_ETHERNET_HEADER = 14
_PLATFORM_BITS = platform_counter_bits()


class KernelBytes:
    """The kernel's bytes of one interface since the first reading: `sent` and `received`.

    `loopback`: the device's kernel counters leave out the 14-byte Ethernet
    header its frames are captured with. `bits` is the counters' width
    (the platform's by default; None: not known, so no wraps). `speed_bps` is
    the link speed (None: the driver does not say), which bounds a plausible
    32-bit wrap; the engine sets it when it opens the capture.
    """

    def __init__(self, *, loopback: bool = False, bits: int | None = _PLATFORM_BITS) -> None:
        self.loopback = loopback
        self.bits = bits
        self.speed_bps: float | None = None
        self.sent = 0
        self.received = 0
        self._last: KernelCounters | None = None

    def add(self, reading: KernelCounters | None, elapsed: float) -> int | None:
        """Add the bytes since the last reading (`elapsed` seconds ago); None when there is no last reading.

        `reading` is None while the interface is missing. A counter below its
        last reading, or one that reappears after the interface was missing,
        is taken as counting from zero, but for a 32-bit wrap, told by the
        accounting's rule (`capture.counter_step`). A step larger than the
        link could carry is counted all the same: these bytes are only held
        against the captured ones. The return value is in captured-frame
        bytes, loopback's missing link headers added back.
        """
        last = self._last
        if reading is None:
            self._last = _NO_COUNTERS if last is not None else None
            return None
        self._last = reading
        if last is None:
            return None
        limit = plausible_bytes(self.speed_bps, elapsed) if self.speed_bps else math.inf
        tx, rx, tx_packets, rx_packets = (
            step.moved
            for step in interface_steps(
                (last.tx_bytes, last.rx_bytes, last.tx_packets, last.rx_packets),
                (reading.tx_bytes, reading.rx_bytes, reading.tx_packets, reading.rx_packets),
                bits=self.bits,
                limit=limit,
            )
        )
        self.sent += tx
        self.received += rx
        if self.loopback:
            return tx + rx + _ETHERNET_HEADER * (tx_packets + rx_packets)
        return tx + rx
