"""What the engine opens and reads besides its own threads: the seams a test without root fills in.

Frames come from a `SourceFactory`, called for each interface whenever the
engine opens or re-opens its capture (live: `capture.sources.open_source`).
The rest the engine reads from the kernel of the namespace it captures is a
`Host`: the interfaces there are (a named one must exist), the host's own
addresses (which tell a frame's direction), a reader of the kernel's
interface counters (which coverage holds the captured bytes against) and
each interface's link speed (which bounds how far a counter can plausibly
move in a tick).
`Engine` uses the live ones (`capture.interfaces`) when given none, so a test
hands in frames and counters from memory and runs the engine unprivileged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from trafficmon.capture.config import EngineConfig
    from trafficmon.capture.interfaces import InterfaceInfo
    from trafficmon.capture.netdev import KernelCounters
    from trafficmon.capture.sources import FrameSource


class CounterSource(Protocol):
    """The kernel's per-interface counters, re-read on every call (opened in the namespace captured)."""

    def read(self) -> Mapping[str, KernelCounters]: ...

    def close(self) -> None: ...


SourceFactory = Callable[[str, "EngineConfig"], "FrameSource"]
"""(interface name, config) -> an open frame source; raises CaptureError saying why it cannot."""


@dataclass(frozen=True, slots=True)
class Host:
    """The kernel facts of the captured namespace the engine reads, each a call made there."""

    interfaces: Callable[[], list[InterfaceInfo]]
    addresses: Callable[[], frozenset[bytes]]
    counters: Callable[[], CounterSource]
    speed_bps: Callable[[str], float | None]
