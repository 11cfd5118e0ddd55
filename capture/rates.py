"""Speeds from byte counts: the one place where bytes become bytes per second."""

from __future__ import annotations

from collections import deque


class RateWindow:
    """Upload/download speed over a sliding window of ticks.

    Each tick adds what moved during it (zero for a quiet tick), so a flow that
    goes silent reads 0 once the window has slid past its last bytes.
    """

    __slots__ = ("_ticks", "_window", "_span", "_sent", "_recv")

    def __init__(self, window: float) -> None:
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

    @property
    def upload(self) -> float:
        return self._sent / self._span if self._span > 0 else 0.0

    @property
    def download(self) -> float:
        return self._recv / self._span if self._span > 0 else 0.0

    @property
    def idle(self) -> bool:
        return self._sent == 0 and self._recv == 0
