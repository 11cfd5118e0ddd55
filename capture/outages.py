"""Which captures are down, since when and why, and the gaps of those that came back.

Health publishes the gaps (`CaptureGap`); the log says an outage once when it
starts and once when it ends, however many re-opens and rescans happen in
between. Kept by name: a default interface that vanished and came back is a
new capture, but one gap.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Container

from trafficmon.capture.model import CaptureGap

log = logging.getLogger(__name__)

GAPS_KEPT = 20
DOWN_KEPT = 1000
"""Interfaces remembered as down (one that vanished for good stays until others push it out)."""


class Outages:
    """The outage bookkeeping of the tick thread (which alone calls it)."""

    def __init__(self) -> None:
        self._logged: set[str] = set()  # interfaces whose loss was logged and that have not come back
        self._gaps: deque[CaptureGap] = deque(maxlen=GAPS_KEPT)
        self._down: dict[str, tuple[float, str]] = {}

    def failed(self, name: str, message: str, now: float) -> None:
        """Capture on `name` stopped (or failed to re-open) at `now` for `message`."""
        if name not in self._logged:
            self._logged.add(name)
            log.warning("%s; capture resumes when it is back", message)
        if name not in self._down:
            self._down[name] = (now, message)
            while len(self._down) > DOWN_KEPT:
                del self._down[next(iter(self._down))]

    def resumed(self, name: str, now: float) -> None:
        """Capture on `name` is open again: its gap is kept, and its return logged once."""
        down = self._down.pop(name, None)
        if down is None:
            return
        self._gaps.append(CaptureGap(name, down[0], now, down[1]))
        if name in self._logged:
            self._logged.discard(name)
            log.info("capture on %s resumed after %.1f s", name, now - down[0])

    def gaps(self, watched: Container[str]) -> tuple[CaptureGap, ...]:
        """The kept gaps, and those still open of the interfaces `watched`, newest last."""
        ongoing = [
            CaptureGap(name, since, None, reason)
            for name, (since, reason) in self._down.items() if name in watched
        ]
        return (*self._gaps, *sorted(ongoing, key=lambda gap: gap.start))
