"""Reverse-DNS names of remote addresses, looked up off the capture path.

A tick asks for the name of every listed connection's remote address; the
answer must never wait for DNS (a dead resolver takes seconds per query, and
a host can talk to thousands of addresses). So `name()` answers from a cache
only and queues what it does not know; a few worker threads resolve the queue
with the system resolver (`getnameinfo`, so /etc/hosts, nsswitch and
resolv.conf apply as they do for every other program, as in iftop and
bandwhich). Everything is bounded: the queue (addresses beyond it are asked
for again on a later tick), the cache (oldest used entry evicted), and the
rate at which a failing address is retried (failures are cached too).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.flows import format_ip

log = logging.getLogger(__name__)

_BOUNDS = EngineConfig()
"""The engine's settings own the bounds' defaults (`resolve_workers`, `resolve_queue`, `resolve_cache`)."""
NAME_TTL = 3600.0
"""Seconds a name is kept before it is looked up again (still shown meanwhile)."""
FAILURE_TTL = 300.0
"""Seconds before an address without a name is asked for again."""

Lookup = Callable[[str], str | None]


def system_lookup(address: str) -> str | None:
    """The name the system resolver gives `address`, or None (no name, or the resolver failed)."""
    try:
        host, _ = socket.getnameinfo((address, 0), socket.NI_NAMEREQD)
    except (OSError, UnicodeError):
        return None
    return None if host == address else host


@dataclass(frozen=True, slots=True)
class NameCounts:
    """How full the bounds are: names (and failures) cached, addresses queued, and asked (queued or in flight)."""

    cached: int
    queued: int
    asked: int


class Names:
    """A bounded cache of reverse-DNS names, filled by its own worker threads."""

    def __init__(
        self,
        lookup: Lookup = system_lookup,
        *,
        workers: int = _BOUNDS.resolve_workers,
        max_pending: int = _BOUNDS.resolve_queue,
        max_entries: int = _BOUNDS.resolve_cache,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._workers = workers
        self._max_pending = max_pending
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[str | None, float]] = OrderedDict()
        self._pending: deque[bytes] = deque()
        self._asked: set[bytes] = set()
        self._changed = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the workers, in the calling thread's network namespace (DNS goes from there)."""
        for i in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"trafficmon-names-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 0.5) -> None:
        """Stop the workers; one stuck in a lookup (which cannot be interrupted) is left to end alone."""
        with self._changed:
            self._stopping = True
            self._pending.clear()
            self._changed.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def name(self, ip: bytes) -> str | None:
        """The cached name of `ip` (4 or 16 bytes), or None; never waits.

        An address not known, or known for too long, is queued for a lookup;
        a name being refreshed is still returned meanwhile.
        """
        with self._changed:
            entry = self._cache.get(ip)
            if entry is not None:
                self._cache.move_to_end(ip)
                if entry[1] > self._clock():
                    return entry[0]
            if ip not in self._asked and len(self._pending) < self._max_pending and not self._stopping:
                self._asked.add(ip)
                self._pending.append(ip)
                self._changed.notify()
            return None if entry is None else entry[0]

    def knows(self, ip: bytes) -> bool:
        """Whether a look-up of `ip` has ended (a name or none is cached), however long ago."""
        with self._changed:
            return ip in self._cache

    def counts(self) -> NameCounts:
        """How much of each bound is in use now."""
        with self._changed:
            return NameCounts(len(self._cache), len(self._pending), len(self._asked))

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._stopping:
                    self._changed.wait()
                if self._stopping:
                    return
                ip = self._pending.popleft()
            try:
                found = self._lookup(format_ip(ip))
            except Exception:
                log.exception("reverse lookup of %s failed", format_ip(ip))
                found = None
            with self._changed:
                self._asked.discard(ip)
                ttl = NAME_TTL if found else FAILURE_TTL
                self._cache[ip] = (found, self._clock() + ttl)
                self._cache.move_to_end(ip)
                while len(self._cache) > self._max_entries:
                    self._cache.popitem(last=False)
