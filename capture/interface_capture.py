"""One captured interface as the engine keeps it: its source, counters, rates and re-open state."""

from __future__ import annotations

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.kernel_bytes import KernelBytes
from trafficmon.capture.rates import RateWindow
from trafficmon.capture.slots import IFACE_SLOTS
from trafficmon.capture.sources import FrameSource
from trafficmon.capture.synwatch import SynWatch

REOPEN_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Re-open attempts of a failed capture; a link event for it cuts the wait short."""


class InterfaceCapture:
    """One monitored interface: its source (None while down) and the sniffer's counters.

    `kernel` adds up the kernel's counters tick by tick. `measured` says the
    source was open through the whole of the last tick, so that tick's
    captured and kernel bytes can be compared. `opening` is the (captured,
    kernel) bytes of the tick the source opened in, kept for the next tick
    only: frames the kernel counted then can reach the reader a ring block's
    retire time late, in the first measured tick, where they pair with that
    tick's shortfall (`coverage.late_frames`) rather than count as more than
    the kernel saw. `shown` says the current error was published at least
    once. `rate` is the interface's speed over the
    speed window, as a connection's; `average` over the average window, as a
    process's.
    """

    def __init__(self, name: str, config: EngineConfig, loopback: bool = False) -> None:
        self.name = name
        self.rate = RateWindow(config.speed_window)
        self.average = RateWindow(config.average_window)
        self.source: FrameSource | None = None
        self.syn: SynWatch | None = None
        self.counters = [0] * IFACE_SLOTS
        self.rate_prev = [0] * IFACE_SLOTS
        self.error: str | None = None
        self.shown = False
        self.failures = 0
        self.retry_at = 0.0
        self.measured = False
        self.opening: tuple[int, int] | None = None
        self.kernel = KernelBytes(loopback=loopback)

    def failed(self, message: str, mono: float) -> None:
        """Say why capture stopped; the next re-open is due after a back-off that grows with each failure.

        Set before the source goes: the tick thread decides a re-open by these.
        """
        self.error = message
        self.shown = False
        self.retry_at = mono + REOPEN_BACKOFF[min(self.failures, len(REOPEN_BACKOFF) - 1)]
        self.failures += 1

    def reopened(self) -> None:
        """The source is open again: no error, the back-off starts over, and this tick is not compared."""
        self.error = None
        self.failures = 0
        self.measured = False
