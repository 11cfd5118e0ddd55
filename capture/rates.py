"""Speeds from byte counts: the one place where bytes become bytes per second."""

from __future__ import annotations

from collections import deque


class RateWindow:
    """Upload/download speed: the bytes of the last `window` seconds of ticks, over `window`.

    Each tick adds what moved during it (zero for a quiet tick), so a flow that
    goes silent reads 0 once the window has slid past its last bytes. The
    ticks kept cover at least `window` seconds; the part of the oldest one that
    lies outside it counts in proportion, so the speed is always taken over
    exactly `window` seconds. Without that, a window the length of a tick holds
    one tick or two by the jitter of the tick thread, and reads a burst that
    crossed a tick boundary as double or nothing. Until `window` seconds have
    been seen (a flow that just appeared), the speed is over the time seen.
    """

    __slots__ = ("_ticks", "_window", "_span", "_sent", "_recv")

    def __init__(self, window: float) -> None:
        if not window > 0:
            raise ValueError(f"a speed window must be longer than 0 s, not {window}")
        self._ticks: deque[tuple[float, int, int]] = deque()
        self._window = window
        self._span = 0.0
        self._sent = 0
        self._recv = 0

    def add(self, dt: float, sent: int, received: int) -> None:
        self._ticks.append((dt, sent, received))
        self._span += dt
        self._sent += sent
        self._recv += received
        while len(self._ticks) > 1 and self._span - self._ticks[0][0] >= self._window - 1e-9:
            old_dt, old_s, old_r = self._ticks.popleft()
            self._span -= old_dt
            self._sent -= old_s
            self._recv -= old_r

    def _over_window(self, total: int, index: int) -> float:
        """`total` bytes of the kept ticks, less the oldest tick's share outside the window, per second."""
        if self._span <= 0:
            return 0.0
        outside = self._span - self._window
        if outside <= 0:
            return total / self._span
        old_dt = self._ticks[0][0]
        return (total - self._ticks[0][index] * outside / old_dt) / self._window

    @property
    def upload(self) -> float:
        return self._over_window(self._sent, 1)

    @property
    def download(self) -> float:
        return self._over_window(self._recv, 2)

    @property
    def idle(self) -> bool:
        return self._sent == 0 and self._recv == 0
