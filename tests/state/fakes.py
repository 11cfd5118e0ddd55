"""Seams for accounting tests: a settable clock and settable kernel counters.

Nothing here needs root or real time: the test moves the clock and the counters
and the accountant sees exactly those numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from trafficmon.state import CounterReading, InterfaceCounters

BOOT = "boot-1"


def at(text: str, zone: str = "UTC") -> float:
    """Epoch seconds of a local wall time in `zone` ("2024-01-31 23:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


@dataclass
class FakeClock:
    """Wall clock the test sets."""

    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeCounters:
    """Counters of one interface (or several) the test sets, on a boot clock tied to the wall clock.

    `uptime` follows the wall clock from `booted_at`, so elapsed time between
    readings is what the test advanced; `reboot()` starts a new boot.
    """

    clock: FakeClock
    booted_at: float
    sent: int = 0
    recv: int = 0
    boot_id: str = BOOT
    speed_bps: float | None = None
    extra: dict[str, InterfaceCounters] = field(default_factory=dict)
    calls: int = 0

    def __call__(self) -> CounterReading:
        self.calls += 1
        interfaces: Mapping[str, InterfaceCounters] = {
            "eth0": InterfaceCounters(self.sent, self.recv, self.speed_bps),
            **self.extra,
        }
        return CounterReading(interfaces, self.boot_id, self.clock.now - self.booted_at)

    def add(self, sent: int, recv: int = 0) -> None:
        self.sent += sent
        self.recv += recv

    def reboot(self, boot_id: str, booted_at: float) -> None:
        """A new boot at `booted_at`: counters restart at zero."""
        self.boot_id = boot_id
        self.booted_at = booted_at
        self.sent = self.recv = 0
