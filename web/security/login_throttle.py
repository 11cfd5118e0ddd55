"""Failed logins per client address and per user name: a password is not to be guessed at line rate.

Basic auth answers every request, so without a limit a service reachable from
the internet (a VPS is what a traffic cap comes with) could be asked millions
of passwords an hour. After `AUTH_MAX_FAILURES` wrong user/password pairs (or
tokens) within `AUTH_LOCKOUT` seconds:

- from one address, that address gets 429 with Retry-After, whatever it
  sends, until its oldest failure is that old;
- at one user name, from any addresses, that name gets 429 from every address
  that has not logged in as it within the window, so guesses spread over many
  addresses stop too, while the owner's logged-in browser keeps working.

A correct login clears no count: failures only age out. If it cleared them,
anyone sharing an address (a NAT, a VPN exit) with a logged-in user, whose
browser logs in on every request, could guess without end. Requests without
credentials (a browser's first try) do not count. Every table is bounded: when
full, the entry that changed longest ago is forgotten.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_ENTRIES = 10_000
"""Addresses, user names and logged-in (address, user) pairs each kept at most."""
TOKEN_USER = "\0token"
"""The "user name" API tokens are counted under (no real name holds NUL)."""


class _Failures:
    """Recent failure times per key, at most `max_failures` each, in a bounded table."""

    def __init__(self, max_failures: int, window: float, max_entries: int) -> None:
        self._max_failures = max_failures
        self._window = window
        self._max_entries = max_entries
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds `key` must wait (0: it may try now)."""
        times = self._times.get(key)
        if times is None:
            return 0.0
        while times and now - times[0] >= self._window:
            times.popleft()
        if not times:
            del self._times[key]
            return 0.0
        if len(times) < self._max_failures:
            return 0.0
        return times[0] + self._window - now

    def add(self, key: str, now: float) -> None:
        times = self._times.pop(key, None)
        if times is None:
            times = deque(maxlen=self._max_failures)
        times.append(now)
        self._times[key] = times
        while len(self._times) > self._max_entries:
            self._times.popitem(last=False)


class LoginThrottle:
    """Failures per address and per user name; all calls come from the event loop."""

    def __init__(self, max_failures: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ENTRIES) -> None:
        self._window = window
        self._clock = clock
        self._max_entries = max_entries
        self._addresses = _Failures(max_failures, window, max_entries)
        self._users = _Failures(max_failures, window, max_entries)
        self._logged_in: OrderedDict[tuple[str, str], float] = OrderedDict()

    def retry_after(self, address: str, user: str | None = None) -> tuple[int, str]:
        """Whole seconds before `address` may try (as `user`, when the request names one; 0: now),
        and what is locked: "from <address>" or "at this user name"."""
        now = self._clock()
        wait, locked = self._addresses.wait(address, now), f"from {address}"
        if user is not None and not self._known(address, user, now):
            by_user = self._users.wait(user, now)
            if by_user > wait:
                wait, locked = by_user, "at this user name"
        return (max(1, math.ceil(wait)) if wait > 0 else 0), locked

    def failed(self, address: str, user: str) -> None:
        now = self._clock()
        self._addresses.add(address, now)
        self._users.add(user, now)

    def succeeded(self, address: str, user: str) -> None:
        """`address` logged in as `user`: a lock on the name does not keep it out within the window."""
        self._logged_in.pop((address, user), None)
        self._logged_in[(address, user)] = self._clock()
        while len(self._logged_in) > self._max_entries:
            self._logged_in.popitem(last=False)

    def _known(self, address: str, user: str, now: float) -> bool:
        since = self._logged_in.get((address, user))
        return since is not None and now - since < self._window
