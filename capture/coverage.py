"""Coverage: the share of the kernel's interface bytes the capture saw, over a window of ticks."""

from __future__ import annotations

from collections import deque


def late_frames(earlier: tuple[int, int], later: tuple[int, int]) -> int:
    """Of a later tick's captured surplus, what an earlier tick's shortfall explains; (captured, kernel) bytes each.

    A frame the kernel counted in one tick can reach the reader in the next:
    the earlier tick then captured less than its kernel counted, the later one
    more. Those bytes pair up; a surplus beyond the shortfall, or a shortfall
    no surplus follows, does not.
    """
    return min(max(0, earlier[1] - earlier[0]), max(0, later[0] - later[1]))


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
                window[0] = (next_captured, next_kernel + late_frames((old_captured, old_kernel), window[0]))
        window.append((captured, kernel))
        moved = sum(k for _c, k in window)
        return sum(c for c, _k in window) / moved if moved > 0 else None
