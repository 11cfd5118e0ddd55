"""Failed logins per client address: a password is not to be guessed at line rate.

Basic auth answers every request, so without a limit a service reachable from
the internet (a VPS is what a traffic cap comes with) could be asked millions
of passwords an hour. After `AUTH_MAX_FAILURES` wrong user/password pairs from
one address within `AUTH_LOCKOUT` seconds, that address gets 429 with
Retry-After, whatever it sends, until its oldest failure is that old; a
correct login clears its count. Requests without credentials (a browser's
first try) do not count. The table of addresses is bounded: when full, the
address that failed longest ago is forgotten.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_ADDRESSES = 10_000


class LoginThrottle:
    """Recent failure times per address; all calls come from the event loop."""

    def __init__(self, max_failures: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = MAX_ADDRESSES) -> None:
        self._max_failures = max_failures
        self._window = window
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int:
        """Whole seconds `address` must wait before trying again (0: it may try now)."""
        times = self._failures.get(address)
        if times is None:
            return 0
        now = self._clock()
        while times and now - times[0] >= self._window:
            times.popleft()
        if not times:
            del self._failures[address]
            return 0
        if len(times) < self._max_failures:
            return 0
        return max(1, math.ceil(times[0] + self._window - now))

    def failed(self, address: str) -> None:
        times = self._failures.pop(address, None)
        if times is None:
            times = deque(maxlen=self._max_failures)
        times.append(self._clock())
        self._failures[address] = times
        while len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
