"""Coverage: the share of the kernel's interface bytes the capture saw, over a window of ticks."""

from __future__ import annotations

from collections import deque


class CoverageWindow:
    """Captured against kernel bytes over the last `ticks` ticks; `add` gives the share after each tick.

    A window rather than one tick, because a frame reaches the reader up to a
    ring block's retire time after the kernel counted it: over one tick that
    skew alone is several percent. When a tick leaves the window, its
    shortfall is carried into the next tick's kernel bytes as far as that tick
    captured more than its kernel counted, so a burst leaving the window does
    not leave its late frames behind unpaired; a shortfall no later surplus
    explains (a real loss) leaves with its tick.
    """

    def __init__(self, ticks: int) -> None:
        self._ticks: deque[tuple[int, int]] = deque(maxlen=max(1, ticks))

    def add(self, captured: int, kernel: int) -> float | None:
        """Add one tick's bytes; captured / kernel bytes over the window, None while the kernel moved none."""
        window = self._ticks
        if len(window) == window.maxlen:
            old_captured, old_kernel = window.popleft()
            if window:
                next_captured, next_kernel = window[0]
                carried = min(max(0, old_kernel - old_captured), max(0, next_captured - next_kernel))
                window[0] = (next_captured, next_kernel + carried)
        window.append((captured, kernel))
        moved = sum(k for _c, k in window)
        return sum(c for c, _k in window) / moved if moved > 0 else None
